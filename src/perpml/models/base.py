"""The base class every perpml model subclasses.

:class:`BaseModel` holds the whole public interface once — ``train``/``fit``,
``predict``, ``predict_proba``, ``evaluate``, ``score``, ``feature_importance``,
``save``/``load`` — and validates inputs once. A concrete model declares three class
attributes and implements private hooks only:

==========================  ===========================================================
``task``                    ``"classification"`` or ``"regression"``
``default_params``          every valid ``params=`` key with its default value
``native_library``          import name of the library that owns the native file
``_fit(X, y, X_val, y_val)``  train; return a :class:`FitResult` (called by ``fit``)
``_predict_proba(X)``       classifiers: ``(n, n_trained_classes)`` probabilities
``_predict(X)``             regressors: ``(n,)`` predictions
``_feature_importance()``   ``(n_features,)`` non-negative importances
``_save_native(directory)``  write the native file(s) into ``directory``
``_load_native(directory)``  read them back and set ``self.native_model_``
==========================  ===========================================================

Time semantics
--------------
``X`` is a DataFrame of shape ``(n_bars, n_features)`` indexed by bar open time (UTC);
row ``t`` holds values known at the close of bar ``t`` (see
:mod:`perpml.data.schema`). ``y`` is aligned to the same index. The validation set
given to ``train``/``fit`` is used for early stopping, so it is part of *training*:
pass the purged tail of the training period, **never the test period**.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if

from perpml.exceptions import (
    InsufficientDataError,
    ModelError,
    ModelParamsError,
    NotFittedError,
)
from perpml.models._validation import (
    CLASS_LABELS,
    check_X,
    check_y,
    encode_classes,
    resolve_params,
)
from perpml.models.registry import register_model, registered_models

__all__ = [
    "CLASS_LABELS",
    "CLASS_NAMES",
    "BaseModel",
    "FitResult",
    "registered_models",
]

#: Names of :data:`CLASS_LABELS`.
CLASS_NAMES: tuple[str, str, str] = ("SHORT", "NEUTRAL", "LONG")


@dataclass(frozen=True)
class FitResult:
    """What a model's ``_fit`` hook returns.

    Attributes
    ----------
    native_model : object
        The trained library object (``xgboost.Booster``, ``lightgbm.Booster``,
        ``catboost.CatBoostClassifier``, ``torch.nn.Module``...). It must already be
        truncated to the best iteration when early stopping was used, so that every
        consumer (``predict``, SHAP) sees the same model.
    n_iterations : int
        Boosting rounds / epochs in the final model.
    best_iteration : int or None
        0-based index of the best round/epoch on the validation set, or ``None``
        when no validation set was passed (no early stopping).
    """

    native_model: Any
    n_iterations: int
    best_iteration: int | None = None


def _is_classifier(model: BaseModel) -> bool:
    return model.task == "classification"


class BaseModel(BaseEstimator):
    """Base class of every perpml model (a scikit-learn estimator).

    Parameters
    ----------
    params : mapping, optional
        Hyper-parameters merged over the class's :attr:`default_params`; the mapping
        is never mutated. Unknown keys raise :class:`~perpml.exceptions.ModelParamsError`
        listing the valid ones.
    random_state : int, default 42
        Seed of every random choice in training; same seed and data give identical
        predictions.
    n_jobs : int, default 2
        Threads the underlying library may use.

    Attributes
    ----------
    task : {"classification", "regression"}
        Class attribute.
    default_params : mapping
        Class attribute: every valid ``params`` key and its default.
    native_library : str
        Class attribute: import name of the library writing the native file; its
        version is recorded on save and checked on load.
    allow_nan : bool
        Class attribute, default False: NaN in ``X`` is rejected (perpml trains on
        complete rows; drop the feature warm-up rows first). A subclass may opt in.
    params_ : dict
        Resolved hyper-parameters (defaults updated with ``params``).
    feature_names_in_ : list of str
        Columns seen in training; ``predict`` requires the same columns, same order.
    n_features_in_ : int
    classes_ : ndarray of shape (3,)
        Classifiers only: always ``[0, 1, 2]`` (SHORT, NEUTRAL, LONG). A class absent
        from ``y_train`` still gets its ``predict_proba`` column, holding exactly 0.
    trained_classes_ : ndarray
        Classifiers only: the classes present in ``y_train`` (the native model's
        outputs, in this order).
    native_model_ : object
        The underlying library object (for SHAP and inspection).
    n_iterations_, best_iteration_ : int, int or None
        See :class:`FitResult`.
    n_train_, n_val_ : int
        Rows used for training and for early stopping.
    """

    task: ClassVar[Literal["classification", "regression"]]
    default_params: ClassVar[Mapping[str, Any]] = {}
    native_library: ClassVar[str] = ""
    allow_nan: ClassVar[bool] = False

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        random_state: int = 42,
        n_jobs: int = 2,
    ) -> None:
        self.params = params
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        task = getattr(cls, "task", None)
        if task is None:
            return  # an abstract intermediate class; nothing to register
        if task not in ("classification", "regression"):
            raise TypeError(
                f"{cls.__name__}.task must be 'classification' or 'regression', "
                f"got {task!r}."
            )
        # Keyed by class name (what the sidecar stores); a later class with the
        # same name replaces the earlier one.
        register_model(cls)

    # ------------------------------------------------------------------ training
    def train(
        self,
        X_train: pd.DataFrame,
        y_train: pd.Series,
        X_val: pd.DataFrame | None = None,
        y_val: pd.Series | None = None,
    ) -> BaseModel:
        """Train the model (the seed's API; identical to :meth:`fit`).

        Parameters
        ----------
        X_train : DataFrame of shape (n_bars, n_features), indexed by bar open time
        y_train : Series of shape (n_bars,), aligned to ``X_train``
            Classifiers: labels in {0 SHORT, 1 NEUTRAL, 2 LONG}; regressors: finite
            floats (e.g. the forward log return).
        X_val, y_val : optional
            Early-stopping set. It must come from the training period (its purged
            tail) and **never be the test period**, or the reported test metrics
            are optimistic. Without it the model trains for the full number of
            rounds.

        Returns
        -------
        self
        """
        return self.fit(X_train, y_train, X_val, y_val)

    def fit(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        X_val: pd.DataFrame | None = None,
        y_val: pd.Series | None = None,
    ) -> BaseModel:
        """Fit the model; forgets any earlier fit. See :meth:`train`."""
        self._reset()
        params = self._resolve_params()
        if (X_val is None) != (y_val is None):
            raise ModelParamsError(
                f"{type(self).__name__}.fit: pass both X_val and y_val or neither; got "
                f"X_val={'None' if X_val is None else 'a frame'} and "
                f"y_val={'None' if y_val is None else 'a series'}."
            )
        Xt = self._check_X(X, "X", fitting=True)
        yt = self._check_y(y, Xt, "y")
        Xv = yv = None
        if X_val is not None:
            Xv = self._check_X(X_val, "X_val", fitting=True, columns=list(Xt.columns))
            yv = self._check_y(y_val, Xv, "y_val")
        if len(Xt) < 2:
            raise InsufficientDataError(
                f"{type(self).__name__}.fit needs at least 2 training rows, got "
                f"{len(Xt)}. Pass a longer training period."
            )
        self.params_ = params
        self.feature_names_in_ = [str(c) for c in Xt.columns]
        self.n_features_in_ = len(self.feature_names_in_)
        if self.task == "classification":
            yt, yv = self._encode_classes(yt, yv)
        result = self._fit(Xt, yt, Xv, yv)
        if not isinstance(result, FitResult):
            raise ModelError(
                f"{type(self).__name__}._fit must return a FitResult, got "
                f"{type(result).__name__}. Fix the model class."
            )
        self.native_model_ = result.native_model
        self.n_iterations_ = int(result.n_iterations)
        self.best_iteration_ = (
            None if result.best_iteration is None else int(result.best_iteration)
        )
        self.n_train_ = len(Xt)
        self.n_val_ = 0 if Xv is None else len(Xv)
        return self

    # ---------------------------------------------------------------- inference
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict one value per bar.

        Parameters
        ----------
        X : DataFrame of shape (n_bars, n_features), indexed by bar open time
            Same columns, in the same order, as in training.

        Returns
        -------
        ndarray of shape (n_bars,)
            Classifiers: int64 labels in {0, 1, 2} (argmax of :meth:`predict_proba`,
            ties to the lower label); regressors: float64 predictions.
        """
        if self.task == "classification":
            proba = self.predict_proba(X)
            return self.classes_[np.argmax(proba, axis=1)].astype(np.int64)
        Xc = self._check_predict_X(X)
        if len(Xc) == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self._predict(Xc), dtype=np.float64).reshape(-1)

    @available_if(_is_classifier)
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities per bar (classifiers only).

        Returns
        -------
        ndarray of shape (n_bars, 3), float64
            Columns SHORT, NEUTRAL, LONG (``classes_`` order); rows sum to 1. A
            class absent from the training labels has probability exactly 0.
        """
        Xc = self._check_predict_X(X)
        out = np.zeros((len(Xc), len(CLASS_LABELS)), dtype=np.float64)
        if len(Xc) == 0:
            return out
        proba = np.asarray(self._predict_proba(Xc), dtype=np.float64)
        out[:, self.trained_classes_] = proba.reshape(len(Xc), -1)
        return out

    def evaluate(self, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
        """Metrics on ``(X, y)`` via :mod:`perpml.evaluation.metrics`.

        Classifiers return :func:`~perpml.evaluation.metrics.classification_metrics`
        (accuracy, directional accuracy and coverage, log loss, ...), regressors
        :func:`~perpml.evaluation.metrics.regression_metrics` (mse, rmse, mae, r2,
        directional accuracy, ICs). Evaluate on data the model never saw in
        training *or* early stopping.
        """
        from perpml.evaluation.metrics import (
            classification_metrics,
            regression_metrics,
        )

        Xc = self._check_predict_X(X)
        y_true = self._check_y(y, Xc, "y")
        if self.task == "classification":
            proba = self.predict_proba(Xc)
            y_pred = self.classes_[np.argmax(proba, axis=1)]
            return classification_metrics(y_true, y_pred, proba)
        return regression_metrics(y_true, self.predict(Xc))

    def score(self, X: pd.DataFrame, y: pd.Series) -> float:
        """scikit-learn score: accuracy (classifiers) or R² (regressors)."""
        from sklearn.metrics import accuracy_score, r2_score

        Xc = self._check_predict_X(X)
        y_true = self._check_y(y, Xc, "y")
        if self.task == "classification":
            return float(accuracy_score(y_true, self.predict(Xc)))
        return float(r2_score(y_true, self.predict(Xc)))

    def feature_importance(self) -> pd.DataFrame:
        """Feature importances, largest first.

        Returns
        -------
        DataFrame with columns ``feature`` (str) and ``importance`` (float, >= 0,
        summing to 1 unless the model uses no feature at all); tree models report
        each feature's share of the total split gain.
        """
        self._check_fitted()
        raw = np.asarray(self._feature_importance(), dtype=np.float64).reshape(-1)
        if raw.shape != (self.n_features_in_,):
            raise ModelError(
                f"{type(self).__name__}._feature_importance returned shape "
                f"{raw.shape}, expected ({self.n_features_in_},). Fix the model class."
            )
        raw = np.clip(np.nan_to_num(raw, nan=0.0), 0.0, None)
        total = raw.sum()
        importance = raw / total if total > 0 else raw
        frame = pd.DataFrame(
            {"feature": self.feature_names_in_, "importance": importance}
        )
        return frame.sort_values(
            "importance", ascending=False, kind="mergesort"
        ).reset_index(drop=True)

    # --------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Save to directory ``path`` (native file + ``model.json`` sidecar).

        The write is atomic; an existing saved model at ``path`` is replaced.
        See :func:`perpml.models.persistence.save_model`.
        """
        from perpml.models.persistence import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> BaseModel:
        """Load a model saved with :meth:`save`, verifying checksums and versions."""
        from perpml.models.persistence import load_model

        return load_model(path, expected=cls)

    # -------------------------------------------------------------- sklearn glue
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.allow_nan
        tags.target_tags.required = True
        if self.task == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=True)
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "native_model_")

    # --------------------------------------------------------------- hooks
    def _fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None,
        y_val: np.ndarray | None,
    ) -> FitResult:
        """Train the native model (hook called once per ``fit``).

        Parameters
        ----------
        X, X_val : DataFrame (n, n_features), float64, validated, same columns
        y, y_val : ndarray (n,)
            Classifiers: int64 *codes* ``0..len(self.trained_classes_)-1`` (code
            ``i`` is class ``self.trained_classes_[i]``); regressors: float64.

        ``self.params_``, ``self.random_state``, ``self.n_jobs`` and
        ``self.feature_names_in_`` are set when this runs. With ``X_val`` present,
        early-stop on it and return the model truncated to the best iteration.
        """
        raise ModelError(f"{type(self).__name__} does not implement _fit.")

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Classifiers: probabilities of shape (n, len(trained_classes_))."""
        raise ModelError(f"{type(self).__name__} does not implement _predict_proba.")

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        """Regressors: predictions of shape (n,)."""
        raise ModelError(f"{type(self).__name__} does not implement _predict.")

    def _feature_importance(self) -> np.ndarray:
        """Non-negative importance per feature, shape (n_features,)."""
        raise ModelError(
            f"{type(self).__name__} does not implement feature importance."
        )

    def _save_native(self, directory: Path) -> None:
        """Write the native model file(s) (flat files only) into ``directory``."""
        raise ModelError(f"{type(self).__name__} does not implement saving.")

    def _load_native(self, directory: Path) -> None:
        """Read the files written by ``_save_native`` and set ``native_model_``.

        Called after the sidecar state (``params_``, ``feature_names_in_``,
        ``trained_classes_``, ...) has been restored.
        """
        raise ModelError(f"{type(self).__name__} does not implement loading.")

    def _validate_params(self, params: Mapping[str, Any]) -> None:
        """Optional hook: raise ModelParamsError for invalid values of own keys."""

    # ------------------------------------------------------------- internals
    def _reset(self) -> None:
        for name in [
            k for k in vars(self) if k.endswith("_") and not k.startswith("_")
        ]:
            delattr(self, name)

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call .train(X_train, "
                "y_train) or .fit(X, y) first, or load a saved model with .load(path)."
            )

    def _resolve_params(self) -> dict[str, Any]:
        params = resolve_params(
            type(self).__name__,
            self.params,
            self.default_params,
            self.random_state,
            self.n_jobs,
        )
        self._validate_params(params)
        return params

    @classmethod
    def _decode_params(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Undo JSON's key stringification for params read from a sidecar."""
        params = dict(raw)
        cw = params.get("class_weight")
        if isinstance(cw, Mapping):
            params["class_weight"] = {int(k): v for k, v in cw.items()}
        return params

    def _class_sample_weight(self, y_codes: np.ndarray) -> np.ndarray | None:
        """Per-row weights from ``params_['class_weight']`` (None = unweighted)."""
        cw = self.params_.get("class_weight")
        if cw is None:
            return None
        labels = self.trained_classes_[y_codes]
        if cw == "balanced":
            counts = np.bincount(y_codes, minlength=len(self.trained_classes_))
            per_code = len(y_codes) / (len(self.trained_classes_) * counts)
            return per_code[y_codes].astype(np.float64)
        weights = {int(k): float(v) for k, v in cw.items()}
        return np.array([weights.get(int(c), 1.0) for c in labels], dtype=np.float64)

    def _encode_classes(
        self, y: np.ndarray, y_val: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        self.classes_ = np.array(CLASS_LABELS, dtype=np.int64)
        self.trained_classes_, y_codes, y_val_codes = encode_classes(
            type(self).__name__, y, y_val
        )
        return y_codes, y_val_codes

    def _check_predict_X(self, X: Any) -> pd.DataFrame:
        self._check_fitted()
        return self._check_X(X, "X", fitting=False, columns=self.feature_names_in_)

    def _check_X(
        self,
        X: Any,
        where: str,
        *,
        fitting: bool,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        return check_X(
            X,
            where,
            model=type(self).__name__,
            fitting=fitting,
            allow_nan=self.allow_nan,
            columns=columns,
        )

    def _check_y(self, y: Any, X: pd.DataFrame, where: str) -> np.ndarray:
        # A method (not a bare call) so subclasses can extend it (LSTMForecaster
        # accepts a multi-target DataFrame).
        return check_y(y, X, where, model=type(self).__name__, task=self.task)

    # ------------------------------------------------- sidecar (persistence)
    def _sidecar_state(self) -> dict[str, Any]:
        """Learned state written into ``model.json`` (JSON-compatible)."""
        self._check_fitted()
        classes = getattr(self, "trained_classes_", None)
        return {
            "feature_names": list(self.feature_names_in_),
            "classes": None
            if self.task == "regression"
            else [int(c) for c in self.classes_],
            "trained_classes": None if classes is None else [int(c) for c in classes],
            "training": {
                "n_train": int(self.n_train_),
                "n_val": int(self.n_val_),
                "n_iterations": int(self.n_iterations_),
                "best_iteration": self.best_iteration_,
            },
        }

    def _restore_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`_sidecar_state`, before ``_load_native`` runs."""
        self._reset()
        self.params_ = self._resolve_params()
        self.feature_names_in_ = [str(c) for c in state["feature_names"]]
        self.n_features_in_ = len(self.feature_names_in_)
        if self.task == "classification":
            self.classes_ = np.array(CLASS_LABELS, dtype=np.int64)
            self.trained_classes_ = np.array(state["trained_classes"], dtype=np.int64)
        training = state["training"]
        self.n_train_ = int(training["n_train"])
        self.n_val_ = int(training["n_val"])
        self.n_iterations_ = int(training["n_iterations"])
        best = training["best_iteration"]
        self.best_iteration_ = None if best is None else int(best)
