"""LSTM forecaster of the forward price return and open-interest change.

A 2-layer LSTM (64 hidden units, dropout 0.2 between layers) reads the last
``lookback`` rows of the feature matrix and a linear head forecasts every target
column at once (default pair: ``target_return`` and ``target_oi_change``).

Sequences and time
------------------
The sequence for row ``t`` is rows ``t - lookback + 1 … t`` of the ``X`` passed to
*that* call, so its forecast uses information known at the close of bar ``t`` only.
A sequence never crosses a split boundary: ``predict(X)`` returns NaN for the first
``lookback - 1`` rows of ``X``, and the validation set gives sequences from its own
rows only. A sequence also never spans a hole in the time index (a missing bar), so
rows right after a gap are NaN too. To forecast the first rows of a period, pass
``context=`` — the rows immediately preceding ``X`` (e.g. the end of the training set
for the validation set); they are used as inputs only, after checking that
``context`` ends exactly one bar before ``X`` starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from perpml.exceptions import (
    ArtifactError,
    DataContractError,
    InsufficientDataError,
    LeakageError,
    ModelParamsError,
)
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

__all__ = ["DEFAULT_TARGETS", "LSTMForecaster", "LSTMNet"]

#: Target columns the pipeline passes (``make_targets`` + open-interest change).
DEFAULT_TARGETS: tuple[str, str] = ("target_return", "target_oi_change")

_NATIVE_FILE = "model.pt"


class LSTMNet(nn.Module):
    """Stacked LSTM whose last hidden state feeds a linear head.

    Parameters
    ----------
    n_inputs, hidden_size, num_layers : int
    dropout : float
        Between LSTM layers (ignored by torch for a single layer).
    n_outputs : int
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        n_outputs: int,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_inputs,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape (batch, lookback, n_inputs) to (batch, n_outputs)."""
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def _times(index: pd.Index, where: str) -> np.ndarray:
    """Bar open times as int64 ns; the index must be a sorted unique DatetimeIndex."""
    if not isinstance(index, pd.DatetimeIndex):
        raise DataContractError(
            f"LSTMForecaster: `{where}` must be indexed by bar open time (a "
            f"DatetimeIndex), got {type(index).__name__}. Sequences are built from "
            "consecutive bars, so the model needs the timestamps."
        )
    ns = index.as_unit("ns").asi8
    bad = np.flatnonzero(np.diff(ns) <= 0)
    if bad.size:
        raise LeakageError(
            f"LSTMForecaster: `{where}` must be sorted by time with unique timestamps; "
            f"the order breaks at {index[bad[0] + 1]} (after {index[bad[0]]}). Sort "
            "with .sort_index() and drop duplicates first."
        )
    return ns


def window_ends(times: np.ndarray, lookback: int, step_ns: int) -> np.ndarray:
    """Positions ``t`` whose window ``t - lookback + 1 … t`` holds consecutive bars.

    Parameters
    ----------
    times : ndarray of int64, shape (n,)
        Sorted open times (ns).
    lookback : int
    step_ns : int
        Bar length in ns; any larger spacing is a hole that no window may span.

    Returns
    -------
    ndarray of int64
        Ascending positions (all ``>= lookback - 1``).
    """
    n = len(times)
    if n < lookback:
        return np.empty(0, dtype=np.int64)
    breaks = np.concatenate([[0], (np.diff(times) != step_ns).astype(np.int64)])
    segment = np.cumsum(breaks)
    ends = np.arange(lookback - 1, n)
    return ends[segment[ends] == segment[ends - lookback + 1]].astype(np.int64)


class LSTMForecaster(BaseModel):
    """Sequence model forecasting the forward return and open-interest change.

    Parameters
    ----------
    params : mapping, optional
        Keys (defaults in :attr:`default_params`): ``lookback`` (50 bars),
        ``hidden_size`` (64), ``num_layers`` (2), ``dropout`` (0.2),
        ``learning_rate`` (1e-3), ``weight_decay`` (0.0), ``batch_size`` (256),
        ``max_epochs`` (25), ``early_stopping_rounds`` (10), ``lr_patience`` (3),
        ``lr_factor`` (0.5), ``grad_clip`` (1.0, global gradient-norm clip),
        ``stride`` (1: every training window; 2 keeps every other one),
        ``sequences_per_epoch`` (2048: each epoch trains on a fresh random subset of
        this many windows — bounds the cost of an epoch; every window is seen across
        epochs; ``None`` = all).
    random_state : int, default 42
    n_jobs : int, default 2
        Torch threads, capped (see :data:`perpml.models._torch_utils.MAX_TORCH_THREADS`).

    Notes
    -----
    * ``y`` may be a DataFrame (one output per column, e.g. ``target_return`` and
      ``target_oi_change``) or a Series / one-column frame (a single output).
      :meth:`predict` then returns shape ``(n, n_outputs)`` or ``(n,)``.
    * Each target column is standardised with its training mean/std (returns are
      ~1e-3; OI changes have a different scale), and each feature column likewise.
    * Without ``X_val`` there is no early stopping (``max_epochs`` epochs).
    * :meth:`feature_importance` is a proxy: the mean absolute input-to-gate weight
      of the first LSTM layer per (standardised) feature.

    Attributes
    ----------
    target_names_ : list of str
        One per output, in output order.
    interval_ : Timedelta
        Bar length inferred from the training index; windows never span a larger gap.
    history_ : TrainingHistory
        Per-epoch losses (not persisted).
    n_sequences_ : int
        Training windows available (after ``stride``).
    """

    task: ClassVar = "regression"
    native_library: ClassVar[str] = "torch"
    default_params: ClassVar[Mapping[str, Any]] = {
        "lookback": 50,
        "hidden_size": 64,
        "num_layers": 2,
        "dropout": 0.2,
        "learning_rate": 1e-3,
        "weight_decay": 0.0,
        "batch_size": 256,
        "max_epochs": 25,
        "early_stopping_rounds": 10,
        "lr_patience": 3,
        "lr_factor": 0.5,
        "grad_clip": 1.0,
        "stride": 1,
        "sequences_per_epoch": 2048,
    }

    def _validate_params(self, params: Mapping[str, Any]) -> None:
        for key in ("lookback", "hidden_size", "num_layers", "max_epochs", "stride"):
            check_positive_int(params, key)
        check_positive_int(params, "batch_size", minimum=2)
        check_positive_int(params, "lr_patience", minimum=0)
        if params["early_stopping_rounds"] is None:
            raise ModelParamsError(
                "LSTMForecaster: params['early_stopping_rounds'] must be a positive "
                "int, got None. Pass e.g. 10."
            )
        if params["sequences_per_epoch"] is not None:
            check_positive_int(params, "sequences_per_epoch", minimum=2)
        if params["grad_clip"] is not None:
            check_positive_float(params, "grad_clip")
        check_fraction(params, "dropout")
        check_fraction(params, "lr_factor", low=1e-6)
        check_positive_float(params, "weight_decay", allow_zero=True)

    # ------------------------------------------------------------- public API
    def fit(
        self,
        X: pd.DataFrame,
        y: pd.Series | pd.DataFrame,
        X_val: pd.DataFrame | None = None,
        y_val: pd.Series | pd.DataFrame | None = None,
    ) -> LSTMForecaster:
        """Fit on sequences of ``X``; validation sequences come from ``X_val`` only.

        Parameters
        ----------
        X : DataFrame of shape (n_bars, n_features), indexed by bar open time (UTC)
            Sorted, unique timestamps; at least ``lookback`` consecutive bars.
        y : Series of shape (n_bars,) or DataFrame of shape (n_bars, n_outputs)
            Targets aligned to ``X``; row ``t`` is the forecast target of the
            window ending at ``t``.
        X_val, y_val : optional
            Early-stopping period (the purged tail of the training period, never
            the test period); needs at least ``lookback`` consecutive bars.

        Returns
        -------
        self
        """
        names = _target_names(y, "y")
        if y_val is not None:
            val_names = _target_names(y_val, "y_val")
            if val_names != names and isinstance(y_val, pd.DataFrame):
                raise DataContractError(
                    f"LSTMForecaster.fit: `y_val` must have the training target "
                    f"columns {names}, got {val_names}. Select them: y_val[{names}]."
                )
        super().fit(X, y, X_val, y_val)
        self.target_names_ = names
        return self

    def train(
        self,
        X_train: pd.DataFrame,
        y_train: pd.Series | pd.DataFrame,
        X_val: pd.DataFrame | None = None,
        y_val: pd.Series | pd.DataFrame | None = None,
    ) -> LSTMForecaster:
        """The seed's name for :meth:`fit`."""
        return self.fit(X_train, y_train, X_val, y_val)

    def predict(
        self, X: pd.DataFrame, context: pd.DataFrame | None = None
    ) -> np.ndarray:
        """Forecast every target for each row of ``X`` with a full window.

        Parameters
        ----------
        X : DataFrame of shape (n_bars, n_features), indexed by bar open time (UTC)
        context : DataFrame, optional
            Rows **immediately preceding** ``X`` (same columns), used as inputs for
            the windows of ``X``'s first rows. Its last bar must open exactly one
            interval before ``X``'s first bar; otherwise DataContractError. Only the
            last ``lookback - 1`` rows are used.

        Returns
        -------
        ndarray of shape (n_bars,) or (n_bars, n_outputs), float64
            NaN for rows without ``lookback`` consecutive bars ending at them (the
            first ``lookback - 1`` rows of ``X`` without ``context``).
        """
        Xc = self._check_predict_X(X)
        out = self._forecast(Xc, context)
        return out[:, 0] if out.shape[1] == 1 else out

    def evaluate(
        self,
        X: pd.DataFrame,
        y: pd.Series | pd.DataFrame,
        context: pd.DataFrame | None = None,
    ) -> dict[str, float]:
        """Regression metrics per output on rows that have a forecast.

        Keys are those of :func:`~perpml.evaluation.metrics.regression_metrics`
        (``mse, rmse, mae, r2, directional_accuracy, pearson_ic, spearman_ic, n``)
        for the first output, and the same prefixed with ``<column>_`` for the
        others (e.g. ``target_oi_change_rmse``) — the convention of the pipeline's
        metrics tables. ``n`` counts the rows scored (warm-up rows are skipped).
        """
        from perpml.evaluation.metrics import regression_metrics

        Xc = self._check_predict_X(X)
        truth = self._truth(y, Xc)
        pred = self._forecast(Xc, context)
        metrics: dict[str, float] = {}
        for j, name in enumerate(self.target_names_):
            ok = ~np.isnan(pred[:, j])
            if not ok.any():
                raise InsufficientDataError(
                    f"LSTMForecaster.evaluate: no row of X has {self.params_['lookback']} "
                    f"consecutive bars ending at it ({len(Xc)} rows). Pass more rows "
                    "or `context=`."
                )
            scores = regression_metrics(truth[ok, j], pred[ok, j])
            prefix = "" if j == 0 else f"{name}_"
            metrics.update({f"{prefix}{k}": v for k, v in scores.items()})
        return metrics

    def score(self, X: pd.DataFrame, y: pd.Series | pd.DataFrame) -> float:
        """R² of the first output on rows that have a forecast."""
        return float(self.evaluate(X, y)["r2"])

    # ------------------------------------------------------------------ hooks
    def _check_y(self, y: Any, X: pd.DataFrame, where: str) -> np.ndarray:
        if isinstance(y, pd.DataFrame):
            if y.shape[1] == 0 or len(set(y.columns)) != y.shape[1]:
                raise DataContractError(
                    f"LSTMForecaster: `{where}` must have at least one, uniquely named "
                    f"target column, got {list(y.columns)}."
                )
            check = (
                super()._check_y
            )  # zero-arg super() does not work in a comprehension
            cols = [check(y[c], X, f"{where}[{c!r}]") for c in y.columns]
            return np.column_stack(cols)
        return super()._check_y(y, X, where).reshape(-1, 1)

    def _build(self, n_outputs: int) -> LSTMNet:
        p = self.params_
        return LSTMNet(
            self.n_features_in_,
            int(p["hidden_size"]),
            int(p["num_layers"]),
            float(p["dropout"]),
            n_outputs,
        )

    def _fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
    ) -> FitResult:
        p = self.params_
        lookback = int(p["lookback"])
        times = _times(X.index, "X")
        step = int(pd.Series(np.diff(times)).mode().iloc[0]) if len(times) > 1 else 0
        self.interval_ = pd.Timedelta(step, unit="ns")
        ends = window_ends(times, lookback, step)[::-1][:: int(p["stride"])][::-1]
        if len(ends) < 2:
            raise InsufficientDataError(
                f"LSTMForecaster.fit: X has {len(ends)} window(s) of {lookback} "
                f"consecutive bars ({len(X)} rows); need >= 2. Pass more rows or a "
                "smaller params['lookback']."
            )
        self.n_sequences_ = len(ends)
        self.x_scaler_ = Standardizer.fit(X.to_numpy())
        self.y_scaler_ = Standardizer.fit(y)
        xt = torch.from_numpy(self.x_scaler_.transform(X.to_numpy()))
        yt = torch.from_numpy(self.y_scaler_.transform(y, clip=None))
        offsets = torch.arange(-lookback + 1, 1)
        ends_t = torch.from_numpy(ends)

        def train_batch(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            rows = ends_t[idx]
            return xt[rows[:, None] + offsets], yt[rows]

        val_batch = None
        n_val = 0
        if X_val is not None and y_val is not None:
            vends = window_ends(_times(X_val.index, "X_val"), lookback, step)
            if len(vends) == 0:
                raise InsufficientDataError(
                    f"LSTMForecaster.fit: X_val has no window of {lookback} "
                    f"consecutive bars ({len(X_val)} rows). Pass a longer validation "
                    "period or a smaller params['lookback']."
                )
            xv = torch.from_numpy(self.x_scaler_.transform(X_val.to_numpy()))
            yv = torch.from_numpy(self.y_scaler_.transform(y_val, clip=None))
            vends_t = torch.from_numpy(vends)

            def val_batch(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                rows = vends_t[idx]
                return xv[rows[:, None] + offsets], yv[rows]

            n_val = len(vends)

        with torch_threads(self.n_jobs), seeded(int(self.random_state)) as gen:
            net = self._build(y.shape[1])
            history = train_module(
                net,
                train_batch=train_batch,
                n_train=len(ends),
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
                samples_per_epoch=p["sequences_per_epoch"],
                grad_clip=None if p["grad_clip"] is None else float(p["grad_clip"]),
            )
        self.history_: TrainingHistory = history
        return FitResult(
            native_model=net,
            n_iterations=history.n_epochs,
            best_iteration=history.best_epoch,
        )

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._forecast(X, None)

    def _forecast(self, X: pd.DataFrame, context: pd.DataFrame | None) -> np.ndarray:
        """(n, n_outputs) forecasts for validated ``X``; NaN without a full window."""
        lookback = int(self.params_["lookback"])
        n_out = len(self.target_names_)
        out = np.full((len(X), n_out), np.nan)
        if len(X) == 0:
            return out
        frame = X
        n_context = 0
        if context is not None:
            ctx = self._check_context(context, X)
            n_context = min(len(ctx), lookback - 1)
            if n_context:
                frame = pd.concat([ctx.iloc[len(ctx) - n_context :], X])
        times = _times(frame.index, "X" if context is None else "context + X")
        ends = window_ends(times, lookback, int(self.interval_.value))
        ends = ends[ends >= n_context]
        if len(ends) == 0:
            return out
        xt = torch.from_numpy(self.x_scaler_.transform(frame.to_numpy()))
        offsets = torch.arange(-lookback + 1, 1)
        ends_t = torch.from_numpy(ends)
        with torch_threads(self.n_jobs):
            raw = predict_batches(
                self.native_model_,
                lambda idx: xt[ends_t[idx][:, None] + offsets],
                len(ends),
                batch_size=1024,
            )
        out[ends - n_context] = self.y_scaler_.inverse(raw.reshape(len(ends), n_out))
        return out

    def _check_context(self, context: Any, X: pd.DataFrame) -> pd.DataFrame:
        ctx = self._check_X(
            context, "context", fitting=False, columns=self.feature_names_in_
        )
        if len(ctx) == 0:
            return ctx
        ctx_times = _times(ctx.index, "context")
        x_first = _times(X.index, "X")[0]
        gap = pd.Timedelta(int(x_first - ctx_times[-1]), unit="ns")
        if gap != self.interval_:
            raise DataContractError(
                f"LSTMForecaster.predict: `context` must be the rows immediately "
                f"preceding X (its last bar one interval, {self.interval_}, before X's "
                f"first bar); got context ending at {ctx.index[-1]} and X starting at "
                f"{X.index[0]} ({gap} apart). Pass the contiguous preceding rows, or "
                "context=None (the first lookback - 1 rows of X are then NaN)."
            )
        return ctx

    def _truth(self, y: Any, X: pd.DataFrame) -> np.ndarray:
        names = self.target_names_
        if isinstance(y, pd.DataFrame):
            missing = [c for c in names if c not in y.columns]
            if missing:
                raise DataContractError(
                    f"LSTMForecaster.evaluate: `y` lacks the target column(s) {missing}"
                    f" the model was trained on ({names}). Pass y[{names}]."
                )
            y = y[names]
        elif len(names) != 1:
            raise DataContractError(
                f"LSTMForecaster.evaluate: the model forecasts {names}; pass `y` as a "
                f"DataFrame with these columns, got a {type(y).__name__}."
            )
        return self._check_y(y, X, "y")

    def _feature_importance(self) -> np.ndarray:
        weight = self.native_model_.lstm.weight_ih_l0.detach()  # (4 * hidden, n_inputs)
        return weight.abs().mean(dim=0).numpy().astype(np.float64)

    # ------------------------------------------------------------ persistence
    def _sidecar_state(self) -> dict[str, Any]:
        state = super()._sidecar_state()
        state["lstm"] = {
            "target_names": list(self.target_names_),
            "interval_ns": int(self.interval_.value),
            "n_sequences": int(self.n_sequences_),
        }
        return state

    def _restore_state(self, state: Mapping[str, Any]) -> None:
        super()._restore_state(state)
        extra = state.get("lstm")
        if not isinstance(extra, Mapping):
            raise ArtifactError(
                "The sidecar lacks the 'lstm' section (target names, interval); it "
                "was not written by LSTMForecaster.save. Save the model again."
            )
        self.target_names_ = [str(n) for n in extra["target_names"]]
        self.interval_ = pd.Timedelta(int(extra["interval_ns"]), unit="ns")
        self.n_sequences_ = int(extra["n_sequences"])

    def _save_native(self, directory: Path) -> None:
        save_net(
            directory / _NATIVE_FILE, self.native_model_, self.x_scaler_, self.y_scaler_
        )

    def _load_native(self, directory: Path) -> None:
        self.native_model_, self.x_scaler_, self.y_scaler_ = load_net(
            directory / _NATIVE_FILE, self._build(len(self.target_names_))
        )


def _target_names(y: Any, where: str) -> list[str]:
    """Output names: the DataFrame's columns, else the Series name (or 'target')."""
    if isinstance(y, pd.DataFrame):
        return [str(c) for c in y.columns]
    name = getattr(y, "name", None)
    return [str(name) if name is not None else "target"]
