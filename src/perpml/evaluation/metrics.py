"""Evaluation metrics for the 3-class direction task and the return regression.

Every function returns plain Python floats (JSON-serialisable; ``nan`` where a metric is
undefined, e.g. ROC AUC with a single class in the truth) so results can go straight
into ``metrics.json``. Definitions of every metric live in ``docs/metrics.md``.

Time semantics: metrics compare a prediction made at bar ``t`` with the label of bar
``t``; they do not look at timestamps. Callers must pass rows from a period the model
never trained on (see :mod:`perpml.evaluation.splits`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
)

from perpml.exceptions import ConfigError, InsufficientDataError

__all__ = [
    "CLASS_NAMES",
    "CLASS_LABELS",
    "classification_metrics",
    "confusion_frame",
    "directional_accuracy",
    "directional_coverage",
    "regression_directional_accuracy",
    "regression_metrics",
]

#: Integer class codes used by ``make_targets``: 0 SHORT, 1 NEUTRAL, 2 LONG.
CLASS_LABELS: tuple[int, int, int] = (0, 1, 2)
#: Display names of :data:`CLASS_LABELS`, in the same order.
CLASS_NAMES: tuple[str, str, str] = ("SHORT", "NEUTRAL", "LONG")

_SHORT, _NEUTRAL, _LONG = CLASS_LABELS


def _as_1d(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D array, refusing 2-D input with a clear message."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ConfigError(
            f"`{name}` must be 1-D (one value per bar), got shape {arr.shape}. "
            "Pass a Series or a 1-D array."
        )
    return arr


def _check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate that truth and prediction are aligned 1-D vectors without NaN."""
    if (
        isinstance(y_true, pd.Series)
        and isinstance(y_pred, pd.Series)
        and not y_true.index.equals(y_pred.index)
    ):
        # Two Series with different indexes almost always means predictions for other
        # bars than the labels; comparing them positionally would be silently wrong.
        raise ConfigError(
            "`y_true` and `y_pred` are Series with different indexes. Align them first "
            "(e.g. `y_pred = y_pred.reindex(y_true.index)`) or pass arrays."
        )
    t = _as_1d(y_true, "y_true")
    p = _as_1d(y_pred, "y_pred")
    if len(t) != len(p):
        raise ConfigError(
            f"`y_true` and `y_pred` must have the same length, got {len(t)} and "
            f"{len(p)}. Predict exactly the rows you evaluate."
        )
    if len(t) == 0:
        raise InsufficientDataError(
            "Cannot compute metrics on 0 rows. Pass at least one labelled row."
        )
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ConfigError(
                f"`{name}` holds {int(np.isnan(arr).sum())} NaN value(s); metrics need "
                "known labels. Drop unlabelled rows first "
                "(perpml.evaluation.drop_incomplete_rows)."
            )
    return t, p


def _as_labels(arr: np.ndarray, name: str, labels: Sequence[int]) -> np.ndarray:
    """Cast class codes (possibly float, as in ``make_targets``) to int and check them."""
    if arr.dtype.kind == "f":
        if not np.all(np.mod(arr, 1) == 0):
            raise ConfigError(
                f"`{name}` must hold integer class codes {tuple(labels)}, got "
                "non-integer values. For return forecasts use regression_metrics."
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iub":
        raise ConfigError(
            f"`{name}` must hold integer class codes {tuple(labels)}, got dtype "
            f"{arr.dtype}. Encode classes as 0 SHORT, 1 NEUTRAL, 2 LONG."
        )
    unknown = np.setdiff1d(np.unique(arr), np.asarray(labels))
    if unknown.size:
        raise ConfigError(
            f"`{name}` holds class codes {unknown.tolist()} outside labels "
            f"{tuple(labels)}. Pass matching `labels=`."
        )
    return arr.astype(np.int64)


def directional_accuracy(y_true: Any, y_pred: Any, *, neutral: int = _NEUTRAL) -> float:
    """Share of directional calls that got the direction right (classification).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_bars,)
        Class codes (0 SHORT, 1 NEUTRAL, 2 LONG) of the same bars.
    neutral : int, default 1
        Code of the NEUTRAL class.

    Returns
    -------
    float
        Among rows where **neither** the truth nor the prediction is NEUTRAL, the share
        whose direction agrees; ``nan`` when there is no such row. Read it together
        with :func:`directional_coverage`: a model that rarely leaves NEUTRAL can score
        high on few rows.
    """
    t, p = _check_pair(y_true, y_pred)
    mask = (t != neutral) & (p != neutral)
    if not mask.any():
        return math.nan
    return float(np.mean(t[mask] == p[mask]))


def directional_coverage(y_true: Any, y_pred: Any, *, neutral: int = _NEUTRAL) -> float:
    """Share of rows entering :func:`directional_accuracy` (both sides non-NEUTRAL)."""
    t, p = _check_pair(y_true, y_pred)
    return float(np.mean((t != neutral) & (p != neutral)))


def regression_directional_accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of rows with non-zero true return whose predicted sign is right.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_bars,)
        Realised forward log returns and their forecasts for the same bars.

    Returns
    -------
    float
        ``mean(sign(y_pred) == sign(y_true))`` over rows with ``y_true != 0``; a zero
        forecast counts as wrong. ``nan`` when every true return is zero.
    """
    t, p = _check_pair(y_true, y_pred)
    t = t.astype(np.float64)
    p = p.astype(np.float64)
    mask = t != 0
    if not mask.any():
        return math.nan
    return float(np.mean(np.sign(p[mask]) == np.sign(t[mask])))


def _check_proba(y_proba: Any, n: int, labels: Sequence[int]) -> np.ndarray:
    proba = np.asarray(y_proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (n, len(labels)):
        raise ConfigError(
            f"`y_proba` must have shape (n_rows, n_classes) = ({n}, {len(labels)}), got "
            f"{proba.shape}. Pass predict_proba(X) for the same rows, columns in "
            f"`labels` order {tuple(labels)}."
        )
    if not np.isfinite(proba).all() or (proba < 0).any():
        raise ConfigError(
            "`y_proba` must hold finite non-negative probabilities; got NaN/inf or "
            "negative values. Check the model's predict_proba output."
        )
    sums = proba.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise ConfigError(
            "`y_proba` has rows summing to 0; every row must be a distribution."
        )
    # float32 model outputs rarely sum to exactly 1; renormalise so log_loss is exact.
    return proba / sums


def _roc_auc_ovr(t: np.ndarray, proba: np.ndarray, labels: Sequence[int]) -> float:
    """Macro one-vs-rest ROC AUC over the classes that are present in ``y_true``.

    A class absent from the truth (or the only class present) has no defined AUC and is
    skipped, so a test fold without SHORT bars still yields a number instead of failing.
    """
    aucs = []
    for j, label in enumerate(labels):
        positive = t == label
        if positive.all() or not positive.any():
            continue
        aucs.append(roc_auc_score(positive.astype(np.int64), proba[:, j]))
    return float(np.mean(aucs)) if aucs else math.nan


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    y_proba: Any = None,
    *,
    labels: Sequence[int] = CLASS_LABELS,
    class_names: Sequence[str] = CLASS_NAMES,
) -> dict[str, float]:
    """Metrics of a 3-class direction classifier on one evaluation set.

    Parameters
    ----------
    y_true : array-like of shape (n_bars,)
        True class codes (0 SHORT, 1 NEUTRAL, 2 LONG), e.g. ``targets["target_class"]``
        with unlabelled rows dropped. Float codes such as ``2.0`` are accepted.
    y_pred : array-like of shape (n_bars,)
        Predicted class codes for the same bars.
    y_proba : array-like of shape (n_bars, n_classes), optional
        Predicted probabilities, columns in ``labels`` order. Without it ``log_loss``
        and ``roc_auc_ovr`` are ``nan``.
    labels : sequence of int, default (0, 1, 2)
        Class codes; the middle one of three is treated as NEUTRAL for directional
        accuracy.
    class_names : sequence of str, default ("SHORT", "NEUTRAL", "LONG")
        Names used in the per-class keys.

    Returns
    -------
    dict of str to float
        ``accuracy``, ``directional_accuracy``, ``directional_coverage``,
        ``balanced_accuracy``, ``log_loss``, ``roc_auc_ovr``, ``precision_<CLASS>``,
        ``recall_<CLASS>``, ``f1_<CLASS>``, ``f1_macro``, ``n``.

    Raises
    ------
    ConfigError
        Misaligned or NaN inputs, unknown class codes, wrong ``y_proba`` shape.
    InsufficientDataError
        No rows.
    """
    labels = tuple(int(label) for label in labels)
    if len(class_names) != len(labels):
        raise ConfigError(
            f"`class_names` must name every label: {len(labels)} labels, got "
            f"{len(class_names)} names."
        )
    t, p = _check_pair(y_true, y_pred)
    t = _as_labels(t, "y_true", labels)
    p = _as_labels(p, "y_pred", labels)
    neutral = labels[len(labels) // 2] if len(labels) == 3 else None

    out: dict[str, float] = {"accuracy": float(accuracy_score(t, p))}
    if neutral is None:
        out["directional_accuracy"] = math.nan
        out["directional_coverage"] = math.nan
    else:
        out["directional_accuracy"] = directional_accuracy(t, p, neutral=neutral)
        out["directional_coverage"] = directional_coverage(t, p, neutral=neutral)

    precision, recall, f1, _ = precision_recall_fscore_support(
        t, p, labels=list(labels), average=None, zero_division=0
    )
    # Balanced accuracy = mean recall over classes present in the truth (sklearn's
    # definition); computed here to avoid its warning for classes only in y_pred.
    present = np.isin(np.asarray(labels), t)
    out["balanced_accuracy"] = float(np.mean(recall[present]))

    if y_proba is None:
        out["log_loss"] = math.nan
        out["roc_auc_ovr"] = math.nan
    else:
        proba = _check_proba(y_proba, len(t), labels)
        out["log_loss"] = float(log_loss(t, proba, labels=list(labels)))
        out["roc_auc_ovr"] = _roc_auc_ovr(t, proba, labels)

    for name, pr, rc, f in zip(class_names, precision, recall, f1, strict=True):
        out[f"precision_{name}"] = float(pr)
        out[f"recall_{name}"] = float(rc)
        out[f"f1_{name}"] = float(f)
    out["f1_macro"] = float(np.mean(f1))
    out["n"] = float(len(t))
    return out


def confusion_frame(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[int] = CLASS_LABELS,
    class_names: Sequence[str] = CLASS_NAMES,
) -> pd.DataFrame:
    """Confusion matrix as a DataFrame (rows = true class, columns = predicted class).

    Returns
    -------
    DataFrame of shape (n_classes, n_classes)
        Counts; index ``true_<CLASS>``, columns ``pred_<CLASS>``.
    """
    t, p = _check_pair(y_true, y_pred)
    t = _as_labels(t, "y_true", labels)
    p = _as_labels(p, "y_pred", labels)
    codes = np.asarray(labels)
    counts = (t[:, None] == codes[None, :]).T.astype(np.int64) @ (
        p[:, None] == codes[None, :]
    ).astype(np.int64)
    return pd.DataFrame(
        counts,
        index=[f"true_{c}" for c in class_names],
        columns=[f"pred_{c}" for c in class_names],
    )


def _ic(kind: str, t: np.ndarray, p: np.ndarray) -> float:
    # A constant forecast (e.g. the zero baseline) has no correlation; scipy would warn
    # and return nan, so return nan without the warning.
    if len(t) < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return math.nan
    if kind == "pearson":
        return float(stats.pearsonr(t, p).statistic)
    return float(stats.spearmanr(t, p).statistic)


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Metrics of a forward-return forecaster on one evaluation set.

    Parameters
    ----------
    y_true : array-like of shape (n_bars,)
        Realised forward log returns (``targets["target_return"]``), no NaN.
    y_pred : array-like of shape (n_bars,)
        Forecasts made at each bar's close for the same bars.

    Returns
    -------
    dict of str to float
        ``mse``, ``rmse``, ``mae``, ``r2`` (``nan`` for fewer than 2 rows or constant
        truth), ``directional_accuracy`` (see :func:`regression_directional_accuracy`),
        ``pearson_ic``, ``spearman_ic`` (``nan`` for a constant input), ``n``.

    Raises
    ------
    ConfigError
        Misaligned or NaN inputs.
    InsufficientDataError
        No rows.
    """
    t, p = _check_pair(y_true, y_pred)
    try:
        t = t.astype(np.float64)
        p = p.astype(np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            "`y_true` and `y_pred` must be numeric returns for regression_metrics. "
            "For class codes use classification_metrics."
        ) from None
    mse = float(mean_squared_error(t, p))
    out = {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(t, p)),
        # sklearn warns (and returns nan) for < 2 rows and returns 0/-inf-like values
        # for constant truth; both are undefined, so report nan.
        "r2": float(r2_score(t, p)) if len(t) >= 2 and np.ptp(t) > 0 else math.nan,
        "directional_accuracy": regression_directional_accuracy(t, p),
        "pearson_ic": _ic("pearson", t, p),
        "spearman_ic": _ic("spearman", t, p),
        "n": float(len(t)),
    }
    return out
