"""Phase 3 scoring of a run: intervals on every entry, baselines per row, the verdict.

* :func:`preceding_rows` gives the LSTM the feature rows just before a period (its
  window history), so it is scored on the same rows as every other model;
* :func:`add_intervals` puts the overlap-aware interval keys
  (:mod:`perpml.evaluation.intervals`) on every model's ``test`` and ``val``
  metrics, computing validation predictions where training did not keep them (the
  ensemble gets validation scores this way, so it can be chosen);
* :func:`baseline_predictions` / :func:`add_baseline_intervals` do the same for the
  naive baselines, per row, so paired differences are possible;
* :func:`run_verdict` chooses the best classifier **on the validation period** and
  compares it with the best baseline on the test rows
  (:func:`perpml.evaluation.verdict.decide`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from perpml.evaluation.verdict import Verdict

__all__ = [
    "add_baseline_intervals",
    "add_intervals",
    "baseline_predictions",
    "feature_range_flags",
    "lstm_contexts",
    "oracle_calls",
    "preceding_rows",
    "run_verdict",
]

#: Feature rows handed to the LSTM before each period (it uses its lookback - 1).
CONTEXT_ROWS = 256

Parts = Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]


def preceding_rows(
    features: pd.DataFrame, start: pd.Timestamp, interval: pd.Timedelta, n: int
) -> pd.DataFrame | None:
    """Up to ``n`` complete feature rows of consecutive bars ending just before ``start``.

    Parameters
    ----------
    features : DataFrame indexed by bar open time (UTC)
        The run's feature frame (selected columns), every bar.
    start : Timestamp
        First bar of the period that needs history.
    interval : Timedelta
        Bar length.
    n : int
        Most rows returned.

    Returns
    -------
    DataFrame or None
        Rows ``start - k·interval`` for ``k = m … 1`` (features only, known at each
        bar's close — before ``start``), or None when the bar before ``start`` is
        missing or incomplete.
    """
    before = features.loc[features.index < start].tail(n)
    if before.empty or before.index[-1] != start - interval:
        return None
    complete = before.notna().all(axis=1).to_numpy()
    steps = (before.index[1:] - before.index[:-1]) == interval
    # keep the contiguous, complete run that ends at the last row
    ok = complete.copy()
    ok[:-1] &= steps
    if not ok[-1]:
        return None
    breaks = np.flatnonzero(~ok)
    first = int(breaks[-1]) + 1 if len(breaks) else 0
    out = before.iloc[first:]
    return out if len(out) else None


def lstm_contexts(
    features: pd.DataFrame, parts: Parts, interval: pd.Timedelta
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(validation context, test context) for the LSTM (see :func:`preceding_rows`)."""
    columns = list(parts["train"][0].columns)
    frame = features[columns]
    return (
        preceding_rows(frame, parts["val"][0].index[0], interval, CONTEXT_ROWS),
        preceding_rows(frame, parts["test"][0].index[0], interval, CONTEXT_ROWS),
    )


def _interval_keys(
    task: str, truth: pd.Series, pred: np.ndarray, horizon: int
) -> dict[str, Any]:
    from perpml.evaluation.intervals import with_intervals

    if task == "classification":
        return with_intervals({}, task, truth.to_numpy(np.int64), pred, horizon=horizon)
    ok = ~np.isnan(pred) & truth.notna().to_numpy()
    if not ok.any():
        return {}
    return with_intervals(
        {}, task, truth.to_numpy(np.float64)[ok], pred[ok], horizon=horizon
    )


def _val_prediction(
    name: str, pipeline: Any, X_val: pd.DataFrame, context: pd.DataFrame | None
) -> np.ndarray | None:
    """Validation-period predictions (classes, or the first forecast column)."""
    X = pipeline.scaler.transform(X_val)
    if name == "ensemble_classifier":
        return np.asarray(pipeline.ensemble.predict_proba(X)).argmax(axis=1)
    if name == "ensemble_regressor":
        return np.asarray(pipeline.ensemble.predict_return(X), dtype=np.float64)
    model = pipeline.models.get(name)
    if model is None:
        return None
    if model.task == "classification":
        return np.asarray(model.predict_proba(X)).argmax(axis=1)
    if name == "lstm" and context is not None:
        out = model.predict(X, context=pipeline.scaler.transform(context))
    else:
        out = model.predict(X)
    out = np.asarray(out, dtype=np.float64)
    return out[:, 0] if out.ndim == 2 else out


def add_intervals(
    results: Mapping[str, Any],
    pipeline: Any,
    parts: Parts,
    horizon: int,
    *,
    val_context: pd.DataFrame | None = None,
) -> dict[str, pd.Series]:
    """Add interval keys to every result's ``test`` and ``val`` metrics (in place).

    Models without validation metrics (the ensemble) get them computed here from
    the validation period, which the final models were early-stopped on but never
    trained on.

    Returns
    -------
    dict of str to Series
        Validation-period class predictions of every classifier (for the choice).
    """
    from perpml.evaluation.metrics import classification_metrics, regression_metrics

    X_val, t_val = parts["val"]
    val_classes: dict[str, pd.Series] = {}
    for name, result in results.items():
        pred_test = result.predictions["y_pred"].to_numpy(np.float64)
        truth_test = result.predictions["y_true"]
        result.test.update(_interval_keys(result.task, truth_test, pred_test, horizon))
        pred_val = _val_prediction(name, pipeline, X_val, val_context)
        if pred_val is None:
            continue
        if result.task == "classification":
            truth = t_val["target_class"].astype("int64")
            if not result.val:
                result.val.update(classification_metrics(truth, pred_val))
            val_classes[name] = pd.Series(pred_val, index=X_val.index)
        else:
            truth = t_val["target_return"]
            if not result.val:
                ok = ~np.isnan(pred_val)
                result.val.update(
                    regression_metrics(truth.to_numpy()[ok], pred_val[ok])
                )
        result.val.update(_interval_keys(result.task, truth, pred_val, horizon))
    return val_classes


def baseline_predictions(
    market: pd.DataFrame, parts: Parts, horizon: int, period: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-row predictions of the baselines on one period.

    Returns
    -------
    (classes, forecasts)
        ``classes``: majority_class, always_neutral, previous_return_sign;
        ``forecasts``: zero_forecast, previous_return_forecast (log returns).
    """
    from perpml.evaluation.baselines import (
        classification_baseline_predictions,
        past_return_from_close,
    )

    past = past_return_from_close(market["close"], horizon)
    _, t_train = parts["train"]
    X, t = parts[period]
    classes = classification_baseline_predictions(
        t_train["target_class"].astype("int64"),
        X.index,
        past_return=past.reindex(X.index),
        threshold=t["threshold"],
    )
    forecasts = pd.DataFrame(
        {
            "zero_forecast": np.zeros(len(X)),
            "previous_return_forecast": np.nan_to_num(
                past.reindex(X.index).to_numpy(np.float64), nan=0.0
            ),
        },
        index=X.index,
    )
    return classes, forecasts


def add_baseline_intervals(
    baselines: dict[str, dict[str, Any]],
    classes: pd.DataFrame,
    forecasts: pd.DataFrame,
    targets: pd.DataFrame,
    horizon: int,
) -> None:
    """Add interval keys to each baseline's metrics (in place)."""
    truth_cls = targets["target_class"].astype("int64")
    for name in classes:
        if name in baselines:
            baselines[name].update(
                _interval_keys(
                    "classification", truth_cls, classes[name].to_numpy(), horizon
                )
            )
    for name in forecasts:
        if name in baselines:
            baselines[name].update(
                _interval_keys(
                    "regression",
                    targets["target_return"],
                    forecasts[name].to_numpy(np.float64),
                    horizon,
                )
            )


def run_verdict(
    results: Mapping[str, Any],
    val_classes: Mapping[str, pd.Series],
    baseline_classes: pd.DataFrame,
    parts: Parts,
    horizon: int,
    oracle_accuracy: float | None,
) -> Verdict:
    """Choose the classifier on validation accuracy and judge it on the test rows."""
    from perpml.evaluation.verdict import decide

    _, t_val = parts["val"]
    _, t_test = parts["test"]
    truth_val = t_val["target_class"].astype("int64").to_numpy()
    scores = {
        name: float((pred.to_numpy() == truth_val).mean())
        for name, pred in val_classes.items()
    }
    classifiers = {
        name: r.predictions for name, r in results.items() if name in val_classes
    }
    return decide(
        t_test["target_class"].astype("int64"),
        classifiers,
        baseline_classes,
        scores,
        horizon=horizon,
        chosen_on="validation",
        oracle_accuracy=oracle_accuracy,
    )


def oracle_calls(
    market: pd.DataFrame, targets: pd.DataFrame, index: pd.Index
) -> pd.Series | None:
    """The simulator oracle's class on the rows ``index`` (None off the simulator).

    One Monte-Carlo pass over every row any table needs (test period and
    walk-forward folds overlap), so no row is simulated twice.
    """
    if market.attrs.get("source") != "synthetic":
        return None
    from perpml.data.sources.synthetic import market_from_attrs

    sim = market_from_attrs(market)
    return sim.oracle_predictions(targets.loc[targets.index.isin(index)])


def feature_range_flags(parts: Parts) -> list[dict[str, Any]]:
    """Selected features with > 5 % of test rows outside their training range."""
    from perpml.evaluation.ranges import out_of_range_features

    table = out_of_range_features(parts["train"][0], parts["test"][0])
    return [
        {k: (float(v) if k != "feature" else str(v)) for k, v in row.items()}
        for row in table.to_dict("records")
    ]
