"""The run's walk-forward: every classifier, the ensemble and the baselines per fold.

Per purged walk-forward fold (:class:`~perpml.evaluation.splits.PurgedWalkForward`
on every row with complete features, ``label_end`` purging plus the run's embargo):

1. features are **selected on the fold's training rows** with the run's own
   selection settings (so no selection fitted on later rows flatters the fold);
2. the scaler is fitted on the fold's training rows;
3. each classifier (XGBoost, LightGBM, CatBoost unless skipped) is trained on the
   training rows, early-stopping on their purged tail, and predicts the test block;
4. the ensemble is the **average** of the fold's classifier probabilities (the
   combiner the stacking ensemble falls back to when its meta-model does not win;
   a per-fold stacking would cost its own inner walk-forward per fold);
5. the baselines (majority class of the fold's training labels, always NEUTRAL,
   previous-return sign) predict the same rows; on the simulator the oracle's
   accuracy is scored on them too.

Scores are **pooled** over folds: every metric of the pooled row is computed on the
concatenated out-of-fold rows (never a mean over folds, never a mean of row counts),
with the overlap-aware intervals of :mod:`perpml.evaluation.intervals` and each
model's paired difference with the best pooled baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from perpml.exceptions import InsufficientDataError

__all__ = [
    "WalkForwardZoo",
    "run_walk_forward",
    "walk_forward_rows",
    "walk_forward_zoo",
]

#: Share of each training fold (its purged tail) used for early stopping.
EARLY_STOPPING_FRACTION = 0.15
ENSEMBLE_NAME = "ensemble_classifier"
_PROBA_NAMES = ("p_short", "p_neutral", "p_long")
_PROBA = ("p_short", "p_neutral", "p_long")

Selector = Callable[[pd.DataFrame, pd.DataFrame], list[str]]
ModelFactory = Callable[[], Any]


@dataclass(frozen=True)
class WalkForwardZoo:
    """Walk-forward results of the whole zoo.

    Attributes
    ----------
    folds : DataFrame
        One row per (fold, model): ``fold, model, kind`` (classifier / ensemble /
        baseline / oracle), ``train_start, train_end, test_start, test_end,
        n_train, n_test, n_purged, n_features, select_seconds`` (feature selection
        of the fold), ``fit_seconds`` (training + prediction of that model) and the
        classification metrics.
    pooled : DataFrame
        One row per model: ``fold = "pooled"``, the metrics on all out-of-fold rows,
        their intervals (``accuracy_ci_low``, ``accuracy_ci_high``, ``accuracy_se``,
        ``n_eff``, ...), and for models ``diff_vs_baseline``, ``diff_ci_low``,
        ``diff_ci_high`` against ``baseline`` (the best pooled baseline).
    predictions : DataFrame
        Out-of-fold rows indexed by bar open time: ``fold``, ``y_true`` and one
        column of predicted classes per model and baseline.
    metrics : dict
        ``{model: metrics dict with interval keys}`` of the pooled rows (the form of
        ``metrics.json["walk_forward"]["pooled"]``).
    """

    folds: pd.DataFrame
    pooled: pd.DataFrame
    predictions: pd.DataFrame
    metrics: dict[str, dict[str, Any]]
    #: ``{model: DataFrame (p_short, p_neutral, p_long)}`` on the out-of-fold rows,
    #: for the backtest of the out-of-sample period.
    probabilities: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Per-fold rows followed by the pooled rows (``walk_forward.csv``)."""
        return pd.concat(
            [self.folds.astype({"fold": object}), self.pooled], ignore_index=True
        )


def walk_forward_zoo(
    X: pd.DataFrame,
    targets: pd.DataFrame,
    classifiers: Mapping[str, ModelFactory],
    *,
    horizon: int,
    n_splits: int,
    embargo: pd.Timedelta,
    window: str = "expanding",
    scaler: str = "standard",
    select: Selector | None = None,
    past_return: pd.Series | None = None,
    oracle: pd.Series | None = None,
    on_fold: Callable[[str], None] | None = None,
) -> WalkForwardZoo:
    """Run the zoo's purged walk-forward (see the module docstring).

    Parameters
    ----------
    X : DataFrame of shape (n_bars, n_features), indexed by bar open time (UTC)
        Every built feature on rows with complete features and labels.
    targets : DataFrame indexed like X
        ``make_targets`` output: ``target_class``, ``label_end``, ``threshold``.
    classifiers : mapping {name: factory}
        Zero-argument callables returning a fresh, unfitted classifier.
    horizon : int
        Label horizon in bars (interval lags).
    n_splits : int
        Test folds.
    embargo : Timedelta
        Gap after each training label (the run's embargo).
    window, scaler : str
        As in :class:`~perpml.evaluation.walk_forward.WalkForwardValidator`.
    select : callable, optional
        ``select(X_train, targets_train) -> feature names``, fitted per fold on its
        training rows. None: every column.
    past_return : Series, optional
        Past ``horizon``-bar log return per bar (enables the previous-return-sign
        baseline).
    oracle : Series of int, optional
        The simulator oracle's class per row (``SyntheticMarket.oracle_predictions``)
        covering the out-of-fold rows; scored like a model in every fold.
    on_fold : callable, optional
        Called with a short progress text per fold.

    Returns
    -------
    WalkForwardZoo
    """
    from perpml.evaluation.baselines import classification_baseline_predictions
    from perpml.evaluation.preprocessing import make_scaler
    from perpml.evaluation.splits import PurgedWalkForward, purged_tail_split

    y = targets["target_class"].astype("int64")
    label_end = targets["label_end"]
    splitter = PurgedWalkForward(
        n_splits,
        label_end=label_end,
        embargo=embargo,
        window=window,  # type: ignore[arg-type]
    )
    make_scaler(scaler)  # fail before the first fit on a bad name
    rows: list[dict[str, Any]] = []
    oof: list[pd.DataFrame] = []
    oof_proba: dict[str, list[pd.DataFrame]] = {}
    for fold, (train, test) in enumerate(splitter.split(X)):
        if on_fold is not None:
            on_fold(f"walk-forward fold {fold + 1}/{n_splits}")
        info = dict(splitter.last_split_info_[fold])
        X_train, t_train = X.iloc[train], targets.iloc[train]
        clock = time.perf_counter()
        columns = list(X.columns) if select is None else select(X_train, t_train)
        info["n_features"] = len(columns)
        info["select_seconds"] = time.perf_counter() - clock
        fitted = make_scaler(scaler).fit(X_train[columns])
        try:
            fit_idx, stop_idx = purged_tail_split(
                train, label_end, fraction=EARLY_STOPPING_FRACTION, embargo=embargo
            )
        except InsufficientDataError as exc:
            raise InsufficientDataError(
                f"Walk-forward fold {fold}: cannot carve an early-stopping tail from "
                f"{len(train)} training rows ({exc}). Use more --days or fewer "
                "[split] walk_forward_splits."
            ) from None
        X_fit = fitted.transform(X.iloc[fit_idx][columns])
        X_stop = fitted.transform(X.iloc[stop_idx][columns])
        X_test = fitted.transform(X.iloc[test][columns])
        y_test = y.iloc[test]
        frame = pd.DataFrame(
            {"fold": fold, "y_true": y_test.to_numpy()}, index=X_test.index
        )
        probas: dict[str, np.ndarray] = {}
        seconds: dict[str, float] = {}
        for name, factory in classifiers.items():
            clock = time.perf_counter()
            model = factory()
            model.train(X_fit, y.iloc[fit_idx], X_val=X_stop, y_val=y.iloc[stop_idx])
            probas[name] = np.asarray(model.predict_proba(X_test), dtype=np.float64)
            seconds[name] = time.perf_counter() - clock
        if probas:
            probas[ENSEMBLE_NAME] = np.mean(list(probas.values()), axis=0)
        for name, proba in probas.items():
            oof_proba.setdefault(name, []).append(
                pd.DataFrame(proba, index=X_test.index, columns=list(_PROBA_NAMES))
            )
            frame[name] = proba.argmax(axis=1)
            row = _fold_row(fold, name, info, y_test, frame[name], proba)
            row["fit_seconds"] = seconds.get(name, 0.0)
            rows.append(row)
        baselines = classification_baseline_predictions(
            y.iloc[train],
            X_test.index,
            past_return=None if past_return is None else past_return,
            threshold=None if past_return is None else targets["threshold"],
        )
        for name in baselines:
            frame[name] = baselines[name].to_numpy()
            rows.append(_fold_row(fold, name, info, y_test, frame[name], None))
        if oracle is not None:
            calls = oracle.reindex(X_test.index)
            if calls.isna().any():
                raise InsufficientDataError(
                    f"Walk-forward fold {fold}: the oracle has no call for "
                    f"{int(calls.isna().sum())} test rows; pass oracle predictions "
                    "for every out-of-fold row."
                )
            frame["oracle"] = calls.to_numpy(np.int64)
            rows.append(_fold_row(fold, "oracle", info, y_test, frame["oracle"], None))
        oof.append(frame)
    if not oof:
        raise InsufficientDataError(
            "Walk-forward produced no fold; use more --days or fewer "
            "[split] walk_forward_splits."
        )
    folds = pd.DataFrame(rows)
    predictions = pd.concat(oof)
    pooled, metrics = _pool(folds, predictions, horizon)
    if oracle is not None:
        folds = _with_oracle_ratio(folds)
        pooled = _with_oracle_ratio(pooled)
    probabilities = {name: pd.concat(parts) for name, parts in oof_proba.items()}
    return WalkForwardZoo(folds, pooled, predictions, metrics, probabilities)


def _kind(name: str) -> str:
    if name == ENSEMBLE_NAME:
        return "ensemble"
    if name == "oracle":
        return "oracle"
    if name in ("majority_class", "always_neutral", "previous_return_sign"):
        return "baseline"
    return "classifier"


def _fold_row(
    fold: int,
    name: str,
    info: Mapping[str, Any],
    y_true: pd.Series,
    y_pred: pd.Series,
    proba: np.ndarray | None,
) -> dict[str, Any]:
    from perpml.evaluation.metrics import classification_metrics

    scores = classification_metrics(y_true, y_pred.to_numpy(np.int64), proba)
    return {"fold": fold, "model": name, "kind": _kind(name), **info, **scores}


def _pool(
    folds: pd.DataFrame,
    predictions: pd.DataFrame,
    horizon: int,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    from perpml.evaluation.intervals import classification_intervals, paired_difference
    from perpml.evaluation.metrics import classification_metrics

    truth = predictions["y_true"].to_numpy(np.int64)
    names = [c for c in predictions.columns if c not in ("fold", "y_true")]
    baselines = [n for n in names if _kind(n) == "baseline"]
    accuracy = {n: float((predictions[n].to_numpy() == truth).mean()) for n in names}
    best_baseline = max(baselines, key=lambda n: accuracy[n]) if baselines else None
    span = {
        "train_start": folds["train_start"].min(),
        "train_end": folds["train_end"].max(),
        "test_start": folds["test_start"].min(),
        "test_end": folds["test_end"].max(),
        "n_test": len(predictions),
    }
    rows: list[dict[str, Any]] = []
    metrics: dict[str, dict[str, Any]] = {}
    for name in names:
        pred = predictions[name].to_numpy(np.int64)
        scores: dict[str, Any] = classification_metrics(truth, pred)
        # log loss / AUC need probabilities, which are not pooled; drop them here
        for key in ("log_loss", "roc_auc_ovr"):
            scores.pop(key, None)
        scores.update(classification_intervals(truth, pred, horizon=horizon))
        row: dict[str, Any] = {"fold": "pooled", "model": name, "kind": _kind(name)}
        row.update(span)
        row.update(_flat(scores))
        if best_baseline is not None and _kind(name) in ("classifier", "ensemble"):
            diff = paired_difference(
                truth, pred, predictions[best_baseline].to_numpy(np.int64),
                horizon=horizon,
            )  # fmt: skip
            row.update(
                baseline=best_baseline,
                diff_vs_baseline=diff.estimate,
                diff_ci_low=diff.low,
                diff_ci_high=diff.high,
            )
            scores["paired_difference"] = {
                "baseline": best_baseline,
                "difference": diff.estimate,
                "ci": diff.ci,
                "n_eff": diff.n_eff,
            }
        rows.append(row)
        metrics[name] = scores
    return pd.DataFrame(rows), metrics


def _flat(scores: Mapping[str, Any]) -> dict[str, Any]:
    """``x_ci: [lo, hi]`` → ``x_ci_low``, ``x_ci_high`` (CSV columns)."""
    out: dict[str, Any] = {}
    for key, value in scores.items():
        if key.endswith("_ci") and isinstance(value, list | tuple):
            out[f"{key}_low"], out[f"{key}_high"] = value
        else:
            out[key] = value
    return out


def _with_oracle_ratio(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``oracle_accuracy`` and ``oracle_ratio`` per fold (and pooled)."""
    oracle = table.loc[table["model"] == "oracle", ["fold", "accuracy"]]
    lookup = dict(zip(oracle["fold"], oracle["accuracy"], strict=True))
    out = table.copy()
    out["oracle_accuracy"] = out["fold"].map(lookup)
    out["oracle_ratio"] = out["accuracy"] / out["oracle_accuracy"]
    return out


def run_walk_forward(
    config: Any,
    X_all: pd.DataFrame,
    y_all: pd.DataFrame,
    market: pd.DataFrame,
    *,
    horizon: int,
    embargo: pd.Timedelta,
    oracle: pd.Series | None = None,
    on_fold: Callable[[str], None] | None = None,
) -> WalkForwardZoo:
    """:func:`walk_forward_zoo` with a run's settings (``RunConfig``).

    Classifiers: XGBoost, LightGBM and CatBoost (unless ``[models] skip_catboost``);
    per-fold selection with ``[features]`` settings; ``[split]`` folds, window and
    embargo; ``[models]`` scaler, seed and threads.
    """
    from perpml import models as zoo
    from perpml.evaluation.baselines import past_return_from_close
    from perpml.evaluation.selection import select_features

    models = config.models
    classes: dict[str, Any] = {
        "xgb_classifier": zoo.XGBoostEntryPredictor,
        "lgb_classifier": zoo.LightGBMEntryPredictor,
    }
    if not models.skip_catboost:
        classes["cat_classifier"] = zoo.CatBoostEntryPredictor

    def factory(cls: Any) -> ModelFactory:
        return lambda: cls(random_state=models.random_state, n_jobs=models.n_jobs)

    feats = config.features

    def select(X_train: pd.DataFrame, t_train: pd.DataFrame) -> list[str]:
        return list(
            select_features(
                X_train,
                t_train["target_class"].astype("int64"),
                n_features=min(feats.n_features, X_train.shape[1]),
                method=feats.selection,
                correlation_threshold=feats.correlation_threshold,
                label_end=t_train["label_end"],
                n_jobs=models.n_jobs,
            )
        )

    return walk_forward_zoo(
        X_all,
        y_all,
        {name: factory(cls) for name, cls in classes.items()},
        horizon=horizon,
        n_splits=config.split.walk_forward_splits,
        embargo=embargo,
        window=config.split.window,
        scaler=config.models.scaler if config.models.apply_scaling else "none",
        select=select,
        past_return=past_return_from_close(market["close"], horizon),
        oracle=oracle,
        on_fold=on_fold,
    )


def walk_forward_rows(
    config: Any, X_all: pd.DataFrame, y_all: pd.DataFrame, embargo: pd.Timedelta
) -> pd.Index:
    """Bar open times of every out-of-fold row :func:`run_walk_forward` will score.

    Cheap (splits only, no fit): lets the simulator's oracle be computed once for
    the test period and the folds together.
    """
    from perpml.evaluation.splits import PurgedWalkForward

    splitter = PurgedWalkForward(
        config.split.walk_forward_splits,
        label_end=y_all["label_end"],
        embargo=embargo,
        window=config.split.window,
    )
    tests = [test for _, test in splitter.split(X_all)]
    if not tests:
        return pd.Index([])
    return X_all.index[np.unique(np.concatenate(tests))]
