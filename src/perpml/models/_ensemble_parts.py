"""Self-contained parts of :class:`~perpml.models.ensemble.EnsembleModel` (internal).

The fold provenance record (:class:`OOFFold`), the default base models, the checks
that turn ``base_*`` / ``fitted_bases`` arguments into ``{name: model}`` mappings,
and the per-fold helpers (clone-and-fit, base-model outputs as meta-features). The
walk-forward/refit orchestration and persistence stay in ``ensemble.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from perpml.exceptions import (
    ConfigError,
    DataContractError,
    InsufficientDataError,
    NotFittedError,
)
from perpml.models._stacking import Kind
from perpml.models.base import CLASS_LABELS, BaseModel

__all__ = [
    "OOFFold",
    "base_output",
    "check_fitted_bases",
    "default_classifiers",
    "default_regressors",
    "fit_clone",
    "meta_slot",
    "named_models",
]


@dataclass(frozen=True)
class OOFFold:
    """Provenance of one base model's out-of-fold predictions (for audits/tests).

    Attributes
    ----------
    fold : int
    model : str
        Base-model name.
    fit_index, early_stop_index, test_index : DatetimeIndex
        Bars the fold's clone was fitted on, early-stopped on, and predicted.
    max_label_end : Timestamp
        Latest ``label_end`` among the fit and early-stopping rows; always earlier
        than ``test_index[0]`` (the purge rule).
    """

    fold: int
    model: str
    fit_index: pd.DatetimeIndex
    early_stop_index: pd.DatetimeIndex
    test_index: pd.DatetimeIndex
    max_label_end: pd.Timestamp


def default_classifiers(random_state: int) -> dict[str, BaseModel]:
    """Unfitted XGBoost, LightGBM and CatBoost entry predictors, by name."""
    from perpml.models.classifiers import (
        CatBoostEntryPredictor,
        LightGBMEntryPredictor,
        XGBoostEntryPredictor,
    )

    return {
        "xgb_classifier": XGBoostEntryPredictor(random_state=random_state),
        "lgb_classifier": LightGBMEntryPredictor(random_state=random_state),
        "cat_classifier": CatBoostEntryPredictor(random_state=random_state),
    }


def default_regressors(random_state: int) -> dict[str, BaseModel]:
    """Unfitted XGBoost price predictor and neural-net regressor, by name."""
    from perpml.models.neural_net import NeuralNetRegressor
    from perpml.models.regressors import XGBoostPricePredictor

    return {
        "xgb_regressor": XGBoostPricePredictor(random_state=random_state),
        "nn_regressor": NeuralNetRegressor(random_state=random_state),
    }


def named_models(models: Any, kind: Kind) -> dict[str, BaseModel]:
    """Normalise a mapping / sequence of base models to ``{name: model}``."""
    task = "classification" if kind == "classifier" else "regression"
    arg = f"base_{kind}s"
    if isinstance(models, Mapping):
        items = [(str(k), v) for k, v in models.items()]
    elif isinstance(models, Sequence) and not isinstance(models, str | bytes):
        items = []
        seen: dict[str, int] = {}
        for model in models:
            base = type(model).__name__.lower()
            seen[base] = seen.get(base, 0) + 1
            items.append((base if seen[base] == 1 else f"{base}_{seen[base]}", model))
    else:
        raise ConfigError(
            f"EnsembleModel: `{arg}` must be a mapping {{name: model}}, a sequence of "
            f"models or None, got {type(models).__name__}."
        )
    if not items:
        raise ConfigError(
            f"EnsembleModel: `{arg}` is empty. Pass at least one model, or None for "
            "the defaults."
        )
    for name, model in items:
        if not isinstance(model, BaseModel) or model.task != task:
            raise ConfigError(
                f"EnsembleModel: `{arg}[{name!r}]` must be a perpml {task} model "
                f"(a BaseModel with task={task!r}), got {type(model).__name__}."
            )
        if not name or name != Path(name).name or name.startswith("."):
            raise ConfigError(
                f"EnsembleModel: base-model name {name!r} must be a plain, non-empty "
                "file name (it names the model's save directory)."
            )
    return dict(items)


def check_fitted_bases(
    kind: Kind,
    fitted_bases: Mapping[str, BaseModel] | None,
    bases: Mapping[str, BaseModel],
    X: pd.DataFrame,
) -> dict[str, BaseModel]:
    """Validate ``fitted_bases`` against the base models and ``X``'s columns."""
    if fitted_bases is None:
        return {}
    where = f"EnsembleModel.train_{kind}"
    if not isinstance(fitted_bases, Mapping):
        raise ConfigError(
            f"{where}: `fitted_bases` must be a mapping {{name: fitted model}} or "
            f"None, got {type(fitted_bases).__name__}."
        )
    columns = [str(c) for c in X.columns]
    out: dict[str, BaseModel] = {}
    for name, model in fitted_bases.items():
        if name not in bases:
            raise ConfigError(
                f"{where}: `fitted_bases` has {name!r}, which is not a base "
                f"{kind} ({sorted(bases)}). Use the base-model names as keys."
            )
        if type(model) is not type(bases[name]):
            raise ConfigError(
                f"{where}: `fitted_bases[{name!r}]` is a {type(model).__name__}, "
                f"but the base model {name!r} is a {type(bases[name]).__name__}. "
                "Pass the trained instance of that same model."
            )
        if not model.__sklearn_is_fitted__():
            raise NotFittedError(
                f"{where}: `fitted_bases[{name!r}]` is not fitted. Train it first "
                "or leave it out to have the ensemble refit it."
            )
        if list(model.feature_names_in_) != columns:
            raise DataContractError(
                f"{where}: `fitted_bases[{name!r}]` was trained on "
                f"{len(model.feature_names_in_)} columns that differ from "
                f"X_train's {len(columns)} (names or order). Pass models trained "
                "on this very feature frame."
            )
        out[name] = model
    return out


def fit_clone(
    base: BaseModel,
    X: pd.DataFrame,
    y: pd.Series,
    fit_idx: np.ndarray,
    es_idx: np.ndarray,
    name: str,
    fold: int | None,
) -> BaseModel:
    """Fit a clone of ``base`` on ``fit_idx``, early-stopping on ``es_idx``."""
    model = clone(base)
    try:
        model.fit(X.iloc[fit_idx], y.iloc[fit_idx], X.iloc[es_idx], y.iloc[es_idx])
    except InsufficientDataError as exc:
        where = "the final refit" if fold is None else f"walk-forward fold {fold}"
        raise InsufficientDataError(
            f"EnsembleModel: base model {name!r} could not be trained in {where} "
            f"({len(fit_idx)} fit rows, {len(es_idx)} early-stopping rows): {exc}"
        ) from exc
    return model


def meta_slot(kind: Kind, j: int) -> slice:
    """Meta-feature columns of base model ``j`` (2 per classifier, 1 per regressor)."""
    return slice(2 * j, 2 * j + 2) if kind == "classifier" else slice(j, j + 1)


def base_output(kind: Kind, model: BaseModel, X: pd.DataFrame) -> np.ndarray:
    """One base model's meta-features: (n, 2) ``p_short, p_long`` or (n, 1)."""
    if kind == "classifier":
        proba = model.predict_proba(X)
        return proba[:, [CLASS_LABELS[0], CLASS_LABELS[2]]]
    return np.asarray(model.predict(X), dtype=np.float64).reshape(-1, 1)
