"""Return regressors: predict the forward log return of each bar.

:class:`XGBoostPricePredictor` (squared error, early stopping on the validation set
passed to ``train`` — the purged tail of the training period, never the test
period). ``evaluate`` reports MSE, RMSE, MAE, R², directional accuracy and the
Pearson / Spearman information coefficients via
:func:`perpml.evaluation.metrics.regression_metrics`. ``NeuralNetRegressor`` (the
PyTorch MLP, defined in :mod:`perpml.models.neural_net`) is re-exported here and
imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from perpml.models.base import FitResult
from perpml.models.classifiers import _XGB_DEFAULTS, _XGBoostModel

if TYPE_CHECKING:
    from perpml.models.neural_net import NeuralNetRegressor

__all__ = ["NeuralNetRegressor", "XGBoostPricePredictor"]


def __getattr__(name: str) -> Any:
    # NeuralNetRegressor lives in neural_net.py; import it (and torch) on first use
    # only, so tree-model users never pay for the torch import.
    if name == "NeuralNetRegressor":
        from perpml.models.neural_net import NeuralNetRegressor

        return NeuralNetRegressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class XGBoostPricePredictor(_XGBoostModel):
    """XGBoost return regressor (``reg:squarederror``, histogram trees).

    Parameters
    ----------
    params : mapping, optional
        Keys (defaults): ``n_estimators`` (500), ``learning_rate`` (0.05),
        ``max_depth`` (5), ``min_child_weight`` (1.0), ``subsample`` (0.8),
        ``colsample_bytree`` (0.8), ``reg_lambda`` (1.0), ``reg_alpha`` (0.0),
        ``gamma`` (0.0), ``max_bin`` (64), ``early_stopping_rounds`` (50; None
        disables it).
    random_state : int, default 42
    n_jobs : int, default 2

    Notes
    -----
    Targets are used as given. ``gamma`` is in units of the squared target, so with
    forward log returns (~1e-3) keep it at 0 or scale it accordingly.
    ``native_model_`` is an ``xgboost.Booster``; saved as ``model.ubj``.
    """

    task: ClassVar[Literal["classification", "regression"]] = "regression"
    default_params: ClassVar[Mapping[str, Any]] = dict(_XGB_DEFAULTS)

    def _objective(self, n_outputs: int) -> dict[str, Any]:
        return {"objective": "reg:squarederror", "eval_metric": "rmse"}

    def _fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
    ) -> FitResult:
        return self._train_booster(X, y, X_val, y_val, 1, None)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(
            self.native_model_.predict(self._dmatrix(X)), dtype=np.float64
        ).reshape(-1)
