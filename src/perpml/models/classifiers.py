"""Gradient-boosted entry classifiers: SHORT (0) / NEUTRAL (1) / LONG (2).

:class:`XGBoostEntryPredictor`, :class:`LightGBMEntryPredictor` and
:class:`CatBoostEntryPredictor` share the :class:`~perpml.models.base.BaseModel`
interface and these behaviours:

* multi-class soft-max objective over the classes present in ``y_train``
  (``predict_proba`` always has the 3 columns; an absent class gets exactly 0);
* early stopping after ``early_stopping_rounds`` (default 50) rounds without
  improvement of the multi-class log loss **on the validation set passed to
  ``train``** — the purged tail of the training period, never the test period; the
  returned model is truncated to the best round. Without a validation set all
  ``n_estimators`` rounds are trained;
* ``class_weight`` is off by default; ``"balanced"`` or ``{label: weight}`` weights
  the training rows (the validation loss stays unweighted);
* threads capped at ``n_jobs`` and results deterministic for a ``random_state``;
* ``feature_importance()``: each feature's share of the total split gain (CatBoost:
  of ``PredictionValuesChange``, its gain-like default).

The native models are trained on a plain float64 matrix, so they carry generic
feature names (``f0``... / ``Column_0``...); ``feature_names_in_`` maps positions to
names. Defaults target ~10k rows x 50 features on 2 cores (seconds per fit).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from perpml.exceptions import ModelError, ModelParamsError
from perpml.models.base import BaseModel, FitResult

__all__ = [
    "CatBoostEntryPredictor",
    "LightGBMEntryPredictor",
    "XGBoostEntryPredictor",
]


def _library_failure(model: BaseModel, library: str, exc: Exception) -> Exception:
    # Library errors during training are nearly always a bad param value; say so
    # with the params that were used instead of a bare C++ message.
    return ModelParamsError(
        f"{library} failed to train {type(model).__name__} with params "
        f"{model.params_}: {exc}. Check the param values."
    )


# ----------------------------------------------------------------------- XGBoost
class _XGBoostModel(BaseModel):
    """Shared XGBoost plumbing (native ``xgboost.train`` on a ``DMatrix``)."""

    native_library: ClassVar[str] = "xgboost"
    _NATIVE_FILE: ClassVar[str] = "model.ubj"

    def _objective(self, n_outputs: int) -> dict[str, Any]:
        raise ModelError(
            f"{type(self).__name__} must define _objective(n_outputs)."
        )  # pragma: no cover - every concrete subclass defines it

    def _booster_params(self, n_outputs: int) -> dict[str, Any]:
        p = self.params_
        return {
            **self._objective(n_outputs),
            "tree_method": "hist",
            "eta": float(p["learning_rate"]),
            "max_depth": int(p["max_depth"]),
            "min_child_weight": float(p["min_child_weight"]),
            "subsample": float(p["subsample"]),
            "colsample_bytree": float(p["colsample_bytree"]),
            "lambda": float(p["reg_lambda"]),
            "alpha": float(p["reg_alpha"]),
            "gamma": float(p["gamma"]),
            "max_bin": int(p["max_bin"]),
            "nthread": int(self.n_jobs),
            "seed": int(self.random_state),
            "verbosity": 0,
        }

    def _train_booster(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
        n_outputs: int,
        weight: np.ndarray | None,
    ) -> FitResult:
        import xgboost as xgb

        p = self.params_
        try:
            dtrain = xgb.DMatrix(
                X.to_numpy(), label=y, weight=weight, nthread=self.n_jobs
            )
            evals = []
            if X_val is not None:
                evals = [(xgb.DMatrix(X_val.to_numpy(), label=y_val), "val")]
            booster = xgb.train(
                self._booster_params(n_outputs),
                dtrain,
                num_boost_round=int(p["n_estimators"]),
                evals=evals,
                early_stopping_rounds=(
                    int(p["early_stopping_rounds"])
                    if evals and p["early_stopping_rounds"] is not None
                    else None
                ),
                verbose_eval=False,
            )
        except xgb.core.XGBoostError as exc:
            raise _library_failure(self, "xgboost", exc) from exc
        if not evals or p["early_stopping_rounds"] is None:
            return FitResult(booster, booster.num_boosted_rounds(), None)
        best = int(booster.best_iteration)
        # Keep only the best rounds so predict, save and SHAP all see one model.
        return FitResult(booster[: best + 1], best + 1, best)

    def _dmatrix(self, X: pd.DataFrame) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(X.to_numpy(), nthread=self.n_jobs)

    def _feature_importance(self) -> np.ndarray:
        scores = self.native_model_.get_score(importance_type="total_gain")
        out = np.zeros(self.n_features_in_, dtype=np.float64)
        for key, value in scores.items():
            out[int(key.lstrip("f"))] = value
        return out

    def _save_native(self, directory: Path) -> None:
        self.native_model_.save_model(str(directory / self._NATIVE_FILE))

    def _load_native(self, directory: Path) -> None:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(directory / self._NATIVE_FILE))
        booster.set_param({"nthread": int(self.n_jobs)})
        self.native_model_ = booster


_XGB_DEFAULTS: dict[str, Any] = {
    "n_estimators": 500,
    "learning_rate": 0.05,
    "max_depth": 5,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "reg_alpha": 0.0,
    "gamma": 0.0,
    # 64 bins: half the fit time of 256 on ~10k rows x 50-250 features, with no
    # accuracy loss measured on the simulator (weak signals do not need finer splits).
    "max_bin": 64,
    "early_stopping_rounds": 50,
}


class XGBoostEntryPredictor(_XGBoostModel):
    """XGBoost entry classifier (``multi:softprob``, histogram trees).

    Parameters
    ----------
    params : mapping, optional
        Keys (defaults): ``n_estimators`` (500), ``learning_rate`` (0.05),
        ``max_depth`` (5), ``min_child_weight`` (1.0), ``subsample`` (0.8),
        ``colsample_bytree`` (0.8), ``reg_lambda`` (1.0), ``reg_alpha`` (0.0),
        ``gamma`` (0.0), ``max_bin`` (64), ``early_stopping_rounds`` (50; None
        disables it), ``class_weight`` (None, ``"balanced"`` or ``{label: w}``).
    random_state : int, default 42
    n_jobs : int, default 2

    Notes
    -----
    ``native_model_`` is an ``xgboost.Booster``; saved as ``model.ubj``.
    See :mod:`perpml.models.classifiers` for the shared behaviour.
    """

    task: ClassVar[Literal["classification", "regression"]] = "classification"
    default_params: ClassVar[Mapping[str, Any]] = {
        **_XGB_DEFAULTS,
        "class_weight": None,
    }

    def _objective(self, n_outputs: int) -> dict[str, Any]:
        return {
            "objective": "multi:softprob",
            "num_class": n_outputs,
            "eval_metric": "mlogloss",
        }

    def _fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
    ) -> FitResult:
        return self._train_booster(
            X,
            y,
            X_val,
            y_val,
            len(self.trained_classes_),
            self._class_sample_weight(y),
        )

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self.native_model_.predict(self._dmatrix(X))
        return np.asarray(proba, dtype=np.float64).reshape(len(X), -1)


# ---------------------------------------------------------------------- LightGBM
class LightGBMEntryPredictor(BaseModel):
    """LightGBM entry classifier (GBDT, ``multiclass`` log loss).

    Parameters
    ----------
    params : mapping, optional
        Keys (defaults): ``n_estimators`` (500), ``learning_rate`` (0.05),
        ``num_leaves`` (31), ``max_depth`` (-1, unlimited), ``min_child_samples``
        (20), ``subsample`` (0.8), ``subsample_freq`` (1), ``colsample_bytree``
        (0.8), ``reg_lambda`` (1.0), ``reg_alpha`` (0.0), ``min_split_gain`` (0.0),
        ``max_bin`` (63), ``early_stopping_rounds`` (50; None disables it),
        ``class_weight`` (None, ``"balanced"`` or ``{label: w}``).
    random_state : int, default 42
    n_jobs : int, default 2

    Notes
    -----
    ``native_model_`` is a ``lightgbm.Booster``; saved as text ``model.txt``.
    LightGBM runs with ``deterministic=True`` and row-wise histograms so a seed
    reproduces the model exactly.
    """

    task: ClassVar[Literal["classification", "regression"]] = "classification"
    native_library: ClassVar[str] = "lightgbm"
    default_params: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 500,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "max_depth": -1,
        "min_child_samples": 20,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "reg_alpha": 0.0,
        "min_split_gain": 0.0,
        "max_bin": 63,
        "early_stopping_rounds": 50,
        "class_weight": None,
    }
    _NATIVE_FILE: ClassVar[str] = "model.txt"

    def _fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
    ) -> FitResult:
        import lightgbm as lgb

        p = self.params_
        params = {
            "objective": "multiclass",
            "num_class": len(self.trained_classes_),
            "metric": "multi_logloss",
            "learning_rate": float(p["learning_rate"]),
            "num_leaves": int(p["num_leaves"]),
            "max_depth": int(p["max_depth"]),
            "min_data_in_leaf": int(p["min_child_samples"]),
            "bagging_fraction": float(p["subsample"]),
            "bagging_freq": int(p["subsample_freq"]),
            "feature_fraction": float(p["colsample_bytree"]),
            "lambda_l2": float(p["reg_lambda"]),
            "lambda_l1": float(p["reg_alpha"]),
            "min_gain_to_split": float(p["min_split_gain"]),
            "max_bin": int(p["max_bin"]),
            "num_threads": int(self.n_jobs),
            "seed": int(self.random_state),
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        early = X_val is not None and p["early_stopping_rounds"] is not None
        try:
            dtrain = lgb.Dataset(
                X.to_numpy(), label=y, weight=self._class_sample_weight(y)
            )
            valid_sets, callbacks = [], []
            if X_val is not None:
                valid_sets = [
                    lgb.Dataset(X_val.to_numpy(), label=y_val, reference=dtrain)
                ]
            if early:
                callbacks = [
                    lgb.early_stopping(int(p["early_stopping_rounds"]), verbose=False)
                ]
            booster = lgb.train(
                params,
                dtrain,
                num_boost_round=int(p["n_estimators"]),
                valid_sets=valid_sets,
                valid_names=["val"] if valid_sets else None,
                callbacks=callbacks,  # type: ignore[arg-type]
            )
        except lgb.basic.LightGBMError as exc:
            raise _library_failure(self, "lightgbm", exc) from exc
        if not early:
            return FitResult(booster, booster.current_iteration(), None)
        n_best = int(booster.best_iteration)  # LightGBM counts from 1
        # Re-create the booster holding the best rounds only (one model everywhere).
        best = lgb.Booster(model_str=booster.model_to_string(num_iteration=n_best))
        return FitResult(best, n_best, n_best - 1)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self.native_model_.predict(X.to_numpy(), num_threads=self.n_jobs)
        return np.asarray(proba, dtype=np.float64).reshape(len(X), -1)

    def _feature_importance(self) -> np.ndarray:
        return self.native_model_.feature_importance(importance_type="gain")

    def _save_native(self, directory: Path) -> None:
        self.native_model_.save_model(str(directory / self._NATIVE_FILE))

    def _load_native(self, directory: Path) -> None:
        import lightgbm as lgb

        self.native_model_ = lgb.Booster(model_file=str(directory / self._NATIVE_FILE))


# ---------------------------------------------------------------------- CatBoost
class CatBoostEntryPredictor(BaseModel):
    """CatBoost entry classifier (``MultiClass`` loss, symmetric trees).

    Parameters
    ----------
    params : mapping, optional
        Keys (defaults): ``n_estimators`` (500; CatBoost's ``iterations``),
        ``learning_rate`` (0.05), ``depth`` (6), ``l2_leaf_reg`` (3.0),
        ``border_count`` (128: half the fit time of CatBoost's 254, no measured
        accuracy cost), ``random_strength`` (1.0), ``bagging_temperature`` (1.0),
        ``early_stopping_rounds`` (50; None disables it), ``class_weight`` (None,
        ``"balanced"`` or ``{label: w}``).
    random_state : int, default 42
    n_jobs : int, default 2

    Notes
    -----
    ``native_model_`` is a ``catboost.CatBoostClassifier``; saved as ``model.cbm``.
    CatBoost never writes its training logs to disk here.
    """

    task: ClassVar[Literal["classification", "regression"]] = "classification"
    native_library: ClassVar[str] = "catboost"
    default_params: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 500,
        "learning_rate": 0.05,
        "depth": 6,
        "l2_leaf_reg": 3.0,
        "border_count": 128,
        "random_strength": 1.0,
        "bagging_temperature": 1.0,
        "early_stopping_rounds": 50,
        "class_weight": None,
    }
    _NATIVE_FILE: ClassVar[str] = "model.cbm"

    def _fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
    ) -> FitResult:
        from catboost import CatBoostClassifier, CatBoostError, Pool

        p = self.params_
        early = X_val is not None and p["early_stopping_rounds"] is not None
        try:
            model = CatBoostClassifier(
                loss_function="MultiClass",
                iterations=int(p["n_estimators"]),
                learning_rate=float(p["learning_rate"]),
                depth=int(p["depth"]),
                l2_leaf_reg=float(p["l2_leaf_reg"]),
                border_count=int(p["border_count"]),
                random_strength=float(p["random_strength"]),
                bagging_temperature=float(p["bagging_temperature"]),
                random_seed=int(self.random_state),
                thread_count=int(self.n_jobs),
                early_stopping_rounds=int(p["early_stopping_rounds"])
                if early
                else None,
                use_best_model=early,
                verbose=False,
                allow_writing_files=False,
            )
            train = Pool(X.to_numpy(), label=y, weight=self._class_sample_weight(y))
            eval_set = None
            if X_val is not None:
                eval_set = Pool(X_val.to_numpy(), label=y_val)
            model.fit(train, eval_set=eval_set)
        except CatBoostError as exc:
            raise _library_failure(self, "catboost", exc) from exc
        if not early:
            return FitResult(model, int(model.tree_count_), None)
        # use_best_model=True already shrank the model to the best iteration.
        return FitResult(model, int(model.tree_count_), int(model.get_best_iteration()))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self.native_model_.predict_proba(X.to_numpy(), thread_count=self.n_jobs)
        return np.asarray(proba, dtype=np.float64).reshape(len(X), -1)

    def _feature_importance(self) -> np.ndarray:
        return np.asarray(
            self.native_model_.get_feature_importance(type="PredictionValuesChange"),
            dtype=np.float64,
        )

    def _save_native(self, directory: Path) -> None:
        self.native_model_.save_model(str(directory / self._NATIVE_FILE), format="cbm")

    def _load_native(self, directory: Path) -> None:
        from catboost import CatBoostClassifier

        model = CatBoostClassifier()
        model.load_model(str(directory / self._NATIVE_FILE), format="cbm")
        self.native_model_ = model
