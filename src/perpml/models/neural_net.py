"""PyTorch MLP regressor for the forward return (the seed's ``NeuralNetRegressor``).

Architecture: ``hidden_dims`` blocks of ``Linear → BatchNorm1d → ReLU → Dropout``
(default ``[128, 64, 32]``, dropout 0.3) and a linear output. Trained with Adam on the
MSE of the **standardised target** — forward returns are ~1e-3, and an MSE that small
gives Adam almost no signal and makes "predict 0" a local optimum. ReduceLROnPlateau
and early stopping (patience ``early_stopping_rounds``, best weights restored) both
watch the validation loss. CPU only, deterministic for a given ``random_state``.

Time semantics: row ``t`` of ``X`` holds features known at the close of bar ``t``; the
prediction for row ``t`` uses that row only. Feature and target scalers are fitted on
the training rows only and stored with the model.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from perpml.exceptions import ModelParamsError
from perpml.models._torch_utils import (
    Standardizer,
    TrainingHistory,
    check_fraction,
    check_positive_float,
    check_positive_int,
    load_net,
    predict_batches,
    save_net,
    seeded,
    torch_threads,
    train_module,
)
from perpml.models.base import BaseModel, FitResult

__all__ = ["MLPNet", "NeuralNetRegressor"]

_NATIVE_FILE = "model.pt"


class MLPNet(nn.Module):
    """``Linear → BatchNorm1d → ReLU → Dropout`` blocks and a linear head.

    Parameters
    ----------
    n_inputs : int
    hidden_dims : sequence of int
    dropout : float
    n_outputs : int, default 1
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_dims: Sequence[int],
        dropout: float,
        n_outputs: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for units in hidden_dims:
            layers += [
                nn.Linear(width, units),
                nn.BatchNorm1d(units),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
            width = units
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape (batch, n_inputs) to (batch, n_outputs)."""
        return self.head(self.body(x))


class NeuralNetRegressor(BaseModel):
    """MLP regressor of the forward return (PyTorch, CPU).

    Parameters
    ----------
    params : mapping, optional
        Keys (defaults in :attr:`default_params`):

        ``hidden_dims`` (list of int, ``[128, 64, 32]``), ``dropout`` (0.3),
        ``learning_rate`` (1e-3), ``weight_decay`` (1e-5, Adam L2),
        ``batch_size`` (256), ``max_epochs`` (200), ``early_stopping_rounds``
        (20 epochs without validation improvement), ``lr_patience`` (5 epochs
        before ReduceLROnPlateau halves the learning rate), ``lr_factor`` (0.5).
    random_state : int, default 42
        Seeds initialisation, dropout and shuffling (the global torch RNG is left
        untouched).
    n_jobs : int, default 2
        Torch intra-op threads, capped at 2; restored after every fit/predict.

    Notes
    -----
    * ``X`` should already be scaled (the pipeline fits its scaler on the training
      period). The model still standardises each column with training-row mean/std
      and clips to ±10σ, so unscaled input does not break training.
    * Without ``X_val`` the model trains for ``max_epochs`` epochs (the LR schedule
      then watches the training loss) — pass the purged tail of the training period
      as ``X_val`` to get early stopping.
    * :meth:`feature_importance` is a cheap proxy: the mean over first-layer units
      ``i`` of ``|γ_i / σ_i · W_ij|`` — the first ``Linear`` weight of (standardised)
      input ``j`` after the BatchNorm rescaling that follows it in eval mode. It says
      how strongly each input feeds the network, not how much it matters for the
      output (later layers can cancel it); use :mod:`perpml.explain` (SHAP) or
      permutation importance for that. It is identical before and after save/load.

    Attributes
    ----------
    native_model_ : MLPNet
        The trained ``torch.nn.Module`` in eval mode.
    history_ : TrainingHistory
        Per-epoch losses and learning rates (not persisted by :meth:`save`).
    """

    task: ClassVar = "regression"
    native_library: ClassVar[str] = "torch"
    default_params: ClassVar[Mapping[str, Any]] = {
        "hidden_dims": (128, 64, 32),
        "dropout": 0.3,
        "learning_rate": 1e-3,
        "weight_decay": 1e-5,
        "batch_size": 256,
        "max_epochs": 200,
        "early_stopping_rounds": 20,
        "lr_patience": 5,
        "lr_factor": 0.5,
    }

    def _validate_params(self, params: Mapping[str, Any]) -> None:
        dims = params["hidden_dims"]
        if (
            isinstance(dims, str | bytes)
            or not isinstance(dims, Sequence)
            or len(dims) == 0
            or any(
                isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1
                for d in dims
            )
        ):
            raise ModelParamsError(
                f"{type(self).__name__}: params['hidden_dims'] must be a non-empty "
                f"list of positive ints, got {dims!r}. Pass e.g. [128, 64, 32]."
            )
        check_fraction(params, "dropout")
        check_positive_float(params, "weight_decay", allow_zero=True)
        check_positive_int(params, "batch_size", minimum=2)
        check_positive_int(params, "max_epochs")
        if params["early_stopping_rounds"] is None:
            raise ModelParamsError(
                f"{type(self).__name__}: params['early_stopping_rounds'] must be a "
                "positive int, got None. Pass e.g. 20."
            )
        check_positive_int(params, "lr_patience", minimum=0)
        check_fraction(params, "lr_factor", low=1e-6)

    # ------------------------------------------------------------------ hooks
    def _build(self) -> MLPNet:
        return MLPNet(
            self.n_features_in_,
            [int(d) for d in self.params_["hidden_dims"]],
            float(self.params_["dropout"]),
        )

    def _fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
    ) -> FitResult:
        p = self.params_
        self.x_scaler_ = Standardizer.fit(X.to_numpy())
        self.y_scaler_ = Standardizer.fit(y.reshape(-1, 1))
        xt = torch.from_numpy(self.x_scaler_.transform(X.to_numpy()))
        yt = torch.from_numpy(self.y_scaler_.transform(y.reshape(-1, 1), clip=None))
        val_batch = None
        n_val = 0
        if X_val is not None and y_val is not None:
            xv = torch.from_numpy(self.x_scaler_.transform(X_val.to_numpy()))
            yv = torch.from_numpy(
                self.y_scaler_.transform(y_val.reshape(-1, 1), clip=None)
            )
            n_val = len(xv)

            def val_batch(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return xv[idx], yv[idx]

        with torch_threads(self.n_jobs), seeded(int(self.random_state)) as gen:
            net = self._build()
            history = train_module(
                net,
                train_batch=lambda idx: (xt[idx], yt[idx]),
                n_train=len(xt),
                val_batch=val_batch,
                n_val=n_val,
                generator=gen,
                learning_rate=float(p["learning_rate"]),
                weight_decay=float(p["weight_decay"]),
                batch_size=int(p["batch_size"]),
                max_epochs=int(p["max_epochs"]),
                patience=int(p["early_stopping_rounds"]),
                lr_patience=int(p["lr_patience"]),
                lr_factor=float(p["lr_factor"]),
            )
        self.history_: TrainingHistory = history
        return FitResult(
            native_model=net,
            n_iterations=history.n_epochs,
            best_iteration=history.best_epoch,
        )

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        xt = torch.from_numpy(self.x_scaler_.transform(X.to_numpy()))
        with torch_threads(self.n_jobs):
            out = predict_batches(
                self.native_model_, lambda idx: xt[idx], len(xt), batch_size=8192
            )
        return self.y_scaler_.inverse(out.reshape(-1, 1)).reshape(-1)

    def _feature_importance(self) -> np.ndarray:
        net = self.native_model_
        linear, norm = net.body[0], net.body[1]
        with torch.no_grad():
            # Eval-mode BatchNorm multiplies unit i by gamma_i / sqrt(var_i + eps).
            gain = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            effective = (gain[:, None] * linear.weight).abs().mean(dim=0)
        return effective.numpy().astype(np.float64)

    def _save_native(self, directory: Path) -> None:
        save_net(
            directory / _NATIVE_FILE, self.native_model_, self.x_scaler_, self.y_scaler_
        )

    def _load_native(self, directory: Path) -> None:
        self.native_model_, self.x_scaler_, self.y_scaler_ = load_net(
            directory / _NATIVE_FILE, self._build()
        )
