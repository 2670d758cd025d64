"""The seed's tuning functions: ``optimize_<model>(X_train, y_train, X_val, y_val)``.

Each returns the seed's dict with at least ``best_params`` (plugs into the model
class: ``XGBoostEntryPredictor(params=result["best_params"])``), ``best_score`` and
``study`` (the ``optuna.Study``), plus ``n_trials`` / ``n_complete`` / ``n_pruned`` /
``n_failed`` read from the study.

Only the rows passed in are used, and they must be the training (and validation)
periods — never the test period. With ``X_val`` the score is measured on it (the
purged validation period; ``cv="holdout"``), otherwise (or with
``cv="walk_forward"``) on purged walk-forward folds of the rows given. See
:mod:`perpml.tuning.objective` for the scores and the fold plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from perpml.exceptions import ConfigError
from perpml.tuning.objective import (
    CvName,
    PurgedObjective,
    holdout_folds,
    walk_forward_folds,
)
from perpml.tuning.spaces import MODEL_SPECS, get_spec
from perpml.tuning.study import TrialCallback, TuningResult, run_study

__all__ = [
    "TuningOptions",
    "build_objective",
    "optimize_all_models",
    "optimize_catboost_classifier",
    "optimize_lightgbm_classifier",
    "optimize_neural_network",
    "optimize_xgboost_classifier",
    "optimize_xgboost_regressor",
    "tune_model",
]


@dataclass(frozen=True)
class TuningOptions:
    """How trials are scored and searched (``perpml tune`` options, same names).

    Attributes
    ----------
    cv : {"walk_forward", "holdout"} or None
        Fold plan; ``None``: ``"holdout"`` when validation rows are given, else
        ``"walk_forward"``.
    n_splits : int, default 3
        Walk-forward folds.
    score : str, default "combined"
        See :mod:`perpml.tuning.objective`.
    accuracy_weight : float, default 0.7
        Weight of accuracy in the classifiers' combined score.
    scaler : str, default "standard"
        Feature scaler fitted on each fold's fit rows (the run's ``[models] scaler``).
    horizon : int, default 12
        Label horizon in bars; gives ``label_end`` when it is not passed and the
        default embargo.
    embargo : Timedelta, optional
        Default ``horizon`` bars (the run's default).
    seed : int, default 42
        TPE seed.
    pruner : {"median", "halving", "none"}, default "median"
    random_state, n_jobs : int
        Passed to every model.
    heartbeat_interval, grace_period : int
        Heartbeat of database storages (seconds).
    """

    cv: CvName | None = None
    n_splits: int = 3
    score: str = "combined"
    accuracy_weight: float = 0.7
    scaler: str = "standard"
    horizon: int = 12
    embargo: pd.Timedelta | None = None
    seed: int = 42
    pruner: str = "median"
    random_state: int = 42
    n_jobs: int = 2
    heartbeat_interval: int = 60
    grace_period: int | None = None


def _as_series(y: Any, index: pd.Index, name: str) -> pd.Series:
    if isinstance(y, pd.Series):
        if not y.index.equals(index):
            raise ConfigError(
                f"{name} is not aligned with its X (different index). Pass y indexed "
                "like X."
            )
        return y
    values = np.asarray(y)
    if values.ndim != 1 or len(values) != len(index):
        raise ConfigError(
            f"{name} must be 1-D with one value per row of X ({len(index)}), got "
            f"shape {values.shape}."
        )
    return pd.Series(values, index=index, name=name)


def build_objective(
    model: str,
    X_train: pd.DataFrame,
    y_train: Any,
    X_val: pd.DataFrame | None = None,
    y_val: Any = None,
    *,
    label_end: pd.Series | None = None,
    options: TuningOptions | None = None,
    test_start: pd.Timestamp | None = None,
) -> PurgedObjective:
    """The purged objective of ``model`` on the rows given (see :func:`tune_model`)."""
    from perpml.evaluation.splits import label_end_from_index

    spec = get_spec(model)
    opts = options or TuningOptions()
    if not isinstance(X_train, pd.DataFrame) or not isinstance(
        X_train.index, pd.DatetimeIndex
    ):
        raise ConfigError(
            "X_train must be a DataFrame indexed by bar open time (DatetimeIndex)."
        )
    if (X_val is None) != (y_val is None):
        raise ConfigError("Pass both X_val and y_val, or neither.")
    parts_X = [X_train] if X_val is None else [X_train, X_val]
    parts_y = [_as_series(y_train, X_train.index, "y_train")]
    if X_val is not None:
        if list(X_val.columns) != list(X_train.columns):
            raise ConfigError("X_val must have the columns of X_train, in order.")
        parts_y.append(_as_series(y_val, X_val.index, "y_val"))
    X = pd.concat(parts_X) if len(parts_X) > 1 else X_train
    y = pd.concat(parts_y) if len(parts_y) > 1 else parts_y[0]
    if not X.index.is_monotonic_increasing or not X.index.is_unique:
        raise ConfigError(
            "Tuning rows must be in time order with unique timestamps, X_val after "
            "X_train. Pass the chronological train/validation split."
        )
    if label_end is None:
        label_end = label_end_from_index(X.index, opts.horizon)
    else:
        label_end = label_end.reindex(X.index)
    cv = opts.cv or ("walk_forward" if X_val is None else "holdout")
    if opts.embargo is not None:
        embargo = pd.Timedelta(opts.embargo)
    else:
        step = pd.Series(X.index[1:] - X.index[:-1]).mode().iloc[0]
        embargo = step * opts.horizon
    if cv == "holdout":
        if X_val is None:
            raise ConfigError(
                "cv='holdout' scores on the validation period: pass X_val and y_val, "
                "or use cv='walk_forward' (--cv walk_forward)."
            )
        folds = holdout_folds(label_end, len(X_train), embargo=embargo)
    elif cv == "walk_forward":
        folds = walk_forward_folds(label_end, n_splits=opts.n_splits, embargo=embargo)
    else:
        raise ConfigError(
            f"Unknown cv {cv!r}; valid: ['walk_forward', 'holdout']. Fix --cv."
        )
    return PurgedObjective(
        spec,
        X,
        y,
        folds,
        score=opts.score,
        accuracy_weight=opts.accuracy_weight,
        scaler=opts.scaler,
        random_state=opts.random_state,
        n_jobs=opts.n_jobs,
        test_start=test_start,
    )


def tune_model(
    model: str,
    X_train: pd.DataFrame,
    y_train: Any,
    X_val: pd.DataFrame | None = None,
    y_val: Any = None,
    n_trials: int = 100,
    *,
    label_end: pd.Series | None = None,
    storage: str | Path | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    options: TuningOptions | None = None,
    callbacks: Sequence[TrialCallback] = (),
    test_start: pd.Timestamp | None = None,
) -> TuningResult:
    """Tune one model by pipeline name (``xgb_classifier``, ... ``nn_regressor``).

    Parameters
    ----------
    model : str
        Pipeline model name or alias (``lgbm_classifier``, ``neural_network``...).
    X_train : DataFrame of shape (n_rows, n_features), indexed by bar open time
        Training rows (unscaled; a scaler is fitted inside each fold).
    y_train : Series of shape (n_rows,)
        Class codes 0/1/2 (classifiers) or forward returns (regressors).
    X_val, y_val : optional
        The purged validation period after ``X_train`` (never the test period).
    n_trials : int, default 100
        Target number of scored trials in the study (all workers together).
    label_end : Series, optional
        When each row's label is known (``make_targets``' column), for purging;
        default: derived from the index and ``options.horizon``.
    storage, study_name, timeout
        See :func:`perpml.tuning.study.run_study`.
    options : TuningOptions, optional
    callbacks : sequence of callable
        ``callback(study, frozen_trial)`` after each trial.
    test_start : Timestamp, optional
        Start of the test period: any fold row at or after it raises LeakageError.

    Returns
    -------
    TuningResult
    """
    opts = options or TuningOptions()
    objective = build_objective(
        model,
        X_train,
        y_train,
        X_val,
        y_val,
        label_end=label_end,
        options=opts,
        test_start=test_start,
    )
    return run_study(
        objective,
        objective.spec,
        n_trials=n_trials,
        storage=storage,
        study_name=study_name,
        timeout=timeout,
        seed=opts.seed,
        pruner=opts.pruner,
        heartbeat_interval=opts.heartbeat_interval,
        grace_period=opts.grace_period,
        callbacks=callbacks,
    )


_SEED_DOC = """Tune {what} (the seed's ``{func}``).

    Parameters
    ----------
    X_train, y_train : training rows, indexed by bar open time (unscaled)
    X_val, y_val : optional
        The purged validation period (scored with ``cv="holdout"``); never the test
        period. Without it the score is the mean over purged walk-forward folds of
        ``X_train``.
    n_trials : int, default 100
        Target number of scored trials in the study.
    label_end, storage, study_name, timeout, options
        See :func:`perpml.tuning.api.tune_model`.

    Returns
    -------
    dict
        ``best_params`` (``{cls}(params=...)``), ``best_score``, ``study``,
        ``n_trials``, ``n_complete``, ``n_pruned``, ``n_failed``.
    """


class SeedOptimizer(Protocol):
    """The signature of the seed's ``optimize_<model>`` functions."""

    def __call__(
        self,
        X_train: pd.DataFrame,
        y_train: Any,
        X_val: pd.DataFrame | None = None,
        y_val: Any = None,
        n_trials: int = 100,
        *,
        label_end: pd.Series | None = None,
        storage: str | Path | None = None,
        study_name: str | None = None,
        timeout: float | None = None,
        options: TuningOptions | None = None,
    ) -> dict[str, Any]: ...


def _seed_optimizer(model: str, func: str, what: str, cls: str) -> SeedOptimizer:
    """One of the seed's ``optimize_<model>`` functions: :func:`tune_model` as a dict."""

    def optimize(
        X_train: pd.DataFrame,
        y_train: Any,
        X_val: pd.DataFrame | None = None,
        y_val: Any = None,
        n_trials: int = 100,
        *,
        label_end: pd.Series | None = None,
        storage: str | Path | None = None,
        study_name: str | None = None,
        timeout: float | None = None,
        options: TuningOptions | None = None,
    ) -> dict[str, Any]:
        return tune_model(
            model,
            X_train,
            y_train,
            X_val,
            y_val,
            n_trials,
            label_end=label_end,
            storage=storage,
            study_name=study_name,
            timeout=timeout,
            options=options,
        ).as_dict()

    optimize.__name__ = optimize.__qualname__ = func
    optimize.__doc__ = _SEED_DOC.format(what=what, func=func, cls=cls)
    return optimize


optimize_xgboost_classifier = _seed_optimizer(
    "xgb_classifier",
    "optimize_xgboost_classifier",
    "the XGBoost entry classifier",
    "XGBoostEntryPredictor",
)
optimize_lightgbm_classifier = _seed_optimizer(
    "lgb_classifier",
    "optimize_lightgbm_classifier",
    "the LightGBM entry classifier",
    "LightGBMEntryPredictor",
)
optimize_catboost_classifier = _seed_optimizer(
    "cat_classifier",
    "optimize_catboost_classifier",
    "the CatBoost entry classifier",
    "CatBoostEntryPredictor",
)
optimize_xgboost_regressor = _seed_optimizer(
    "xgb_regressor",
    "optimize_xgboost_regressor",
    "the XGBoost return regressor",
    "XGBoostPricePredictor",
)
optimize_neural_network = _seed_optimizer(
    "nn_regressor",
    "optimize_neural_network",
    "the MLP return regressor's architecture (2-4 layers of 32-256 units, "
    "dropout 0.1-0.5, learning rate)",
    "NeuralNetRegressor",
)


def optimize_all_models(
    X_train: pd.DataFrame,
    y_train_class: Any,
    y_train_reg: Any,
    X_val: pd.DataFrame | None = None,
    y_val_class: Any = None,
    y_val_reg: Any = None,
    n_trials: int = 100,
    *,
    models: Sequence[str] | None = None,
    label_end: pd.Series | None = None,
    storage: str | Path | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    options: TuningOptions | None = None,
) -> dict[str, dict[str, Any]]:
    """Tune every model (the seed's ``optimize_all_models``).

    Parameters
    ----------
    X_train, y_train_class, y_train_reg : training rows and both targets
    X_val, y_val_class, y_val_reg : optional, the purged validation period
    n_trials : int, default 100
        Per model.
    models : sequence of str, optional
        Subset of the pipeline names (default all five).
    study_name : str, optional
        Prefix: each model's study is ``<study_name>-<model>`` (default
        ``perpml-<model>``).
    label_end, storage, timeout, options
        See :func:`tune_model` (``timeout`` is per model).

    Returns
    -------
    dict of str to dict
        ``{model_name: {"best_params", "best_score", "study", ...}}`` keyed by the
        pipeline names (``xgb_classifier``...), ready for ``MLTrainingPipeline(
        model_params={name: r["best_params"] for name, r in results.items()})``.
    """
    names = [get_spec(m).name for m in (models or list(MODEL_SPECS))]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = MODEL_SPECS[name]
        classification = spec.task == "classification"
        out[name] = tune_model(
            name,
            X_train,
            y_train_class if classification else y_train_reg,
            X_val,
            (y_val_class if classification else y_val_reg)
            if X_val is not None
            else None,
            n_trials,
            label_end=label_end,
            storage=storage,
            study_name=f"{study_name}-{name}" if study_name else None,
            timeout=timeout,
            options=options,
        ).as_dict()
    return out
