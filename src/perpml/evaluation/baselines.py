"""Naive baselines every result table shows next to the models.

A model is only interesting if it beats these on the same test rows:

* ``majority_class`` — the most frequent class of the **training** labels, predicted for
  every test bar (probabilities: the training class frequencies, i.e. the prior);
* ``always_neutral`` — NEUTRAL for every bar (probabilities: one-hot on NEUTRAL, so its
  log loss shows the price of confidence without skill);
* ``previous_return_sign`` — momentum: at bar ``t`` the past ``h``-bar log return
  ``log(close[t] / close[t-h])`` (known at ``t``'s close) classified with the same
  per-bar threshold as the labels (LONG if ``> thr``, SHORT if ``< -thr``, else NEUTRAL);
* regression: the ``zero`` forecast and the ``previous_return`` forecast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from perpml.evaluation.metrics import (
    CLASS_LABELS,
    classification_metrics,
    regression_metrics,
)
from perpml.exceptions import ConfigError, InsufficientDataError

__all__ = [
    "classification_baseline_predictions",
    "classification_baselines",
    "past_return_from_close",
    "previous_return_sign",
    "regression_baselines",
]

_SHORT, _NEUTRAL, _LONG = CLASS_LABELS


def past_return_from_close(close: pd.Series, horizon: int) -> pd.Series:
    """Past ``horizon``-bar log return, known at each bar's close.

    Parameters
    ----------
    close : Series of shape (n_bars,), indexed by bar open time (UTC)
        Close prices.
    horizon : int
        Look-back in bars (use the label horizon ``h``).

    Returns
    -------
    Series of shape (n_bars,), float64, named ``past_return``
        ``log(close[t] / close[t - h])``; the first ``h`` rows are NaN.
    """
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(
            f"`horizon` must be a positive int (bars), got {horizon!r}. Pass e.g. 12."
        )
    if not isinstance(close, pd.Series):
        raise ConfigError(
            f"`close` must be a pd.Series indexed by bar open time, got "
            f"{type(close).__name__}. Pass market['close']."
        )
    values = close.astype(np.float64)
    if (values <= 0).any():
        raise ConfigError(
            "`close` must be strictly positive for log returns; got "
            f"{int((values <= 0).sum())} non-positive value(s) from "
            f"{values.index[(values <= 0).to_numpy()][:3].tolist()}."
        )
    return np.log(values / values.shift(horizon)).rename("past_return")


def _align(name: str, values: Any, like: Any) -> np.ndarray:
    """Align ``values`` to ``like`` by time when both are Series, else by position."""
    if isinstance(values, pd.Series) and isinstance(like, pd.Series):
        missing = like.index.difference(values.index)
        if len(missing):
            raise ConfigError(
                f"`{name}` has no value for {len(missing)} test bar(s), first "
                f"{missing[:3].tolist()}. Compute it on the full market frame."
            )
        return values.reindex(like.index).to_numpy(dtype=np.float64)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(len(like), float(arr))
    if arr.shape != (len(like),):
        raise ConfigError(
            f"`{name}` must have one value per test bar ({len(like)}), got shape "
            f"{arr.shape}. Pass a Series indexed like y_test."
        )
    return arr


def previous_return_sign(past_return: Any, threshold: Any) -> np.ndarray:
    """Classify past returns with the label threshold.

    Parameters
    ----------
    past_return : array-like of shape (n_bars,)
        Past ``h``-bar log returns known at each bar (NaN → NEUTRAL).
    threshold : float or array-like of shape (n_bars,)
        Per-bar log-return threshold (``make_targets(...)["threshold"]``).

    Returns
    -------
    ndarray of int64, shape (n_bars,)
        2 LONG if ``> threshold``, 0 SHORT if ``< -threshold``, else 1 NEUTRAL.
    """
    r = np.asarray(past_return, dtype=np.float64)
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), r.shape)
    out = np.full(r.shape, _NEUTRAL, dtype=np.int64)
    with np.errstate(invalid="ignore"):  # NaN compares False -> stays NEUTRAL
        out[r > thr] = _LONG
        out[r < -thr] = _SHORT
    return out


def _train_frequencies(y_train: Any) -> np.ndarray:
    train = np.asarray(y_train, dtype=np.float64)
    train = train[~np.isnan(train)].astype(np.int64)
    if train.size == 0:
        raise InsufficientDataError(
            "`y_train` has no labelled rows; the majority baseline needs training "
            "labels."
        )
    n_classes = len(CLASS_LABELS)
    if train.min() < 0 or train.max() >= n_classes:
        raise ConfigError(
            f"`y_train` must hold class codes {CLASS_LABELS}, got values in "
            f"[{train.min()}, {train.max()}]."
        )
    return np.bincount(train, minlength=n_classes) / train.size


def classification_baseline_predictions(
    y_train: Any,
    index: pd.Index,
    *,
    past_return: Any = None,
    threshold: Any = None,
) -> pd.DataFrame:
    """Per-row class predictions of the naive baselines (for paired comparisons).

    Parameters
    ----------
    y_train : array-like of shape (n_train,)
        Training class codes (only their frequencies are used).
    index : Index of shape (n_rows,)
        The rows to predict (e.g. the test period's bar open times).
    past_return, threshold : optional
        As in :func:`classification_baselines`, aligned to ``index`` by time when
        Series.

    Returns
    -------
    DataFrame of shape (n_rows, 2 or 3), int64, indexed by ``index``
        ``majority_class``, ``always_neutral`` and, with ``past_return``,
        ``previous_return_sign`` — the same predictions
        :func:`classification_baselines` scores.
    """
    freq = _train_frequencies(y_train)
    n = len(index)
    out = pd.DataFrame(
        {
            "majority_class": np.full(n, int(np.argmax(freq)), dtype=np.int64),
            "always_neutral": np.full(n, _NEUTRAL, dtype=np.int64),
        },
        index=index,
    )
    if past_return is not None:
        if threshold is None:
            raise ConfigError(
                "`threshold` is required with `past_return`: the baseline classifies "
                "past returns with the labels' own threshold. Pass "
                "targets['threshold'] (or the fixed log-return threshold)."
            )
        like = pd.Series(np.zeros(n), index=index)
        r = _align("past_return", past_return, like)
        thr = _align("threshold", threshold, like)
        out["previous_return_sign"] = previous_return_sign(r, thr)
    return out


def classification_baselines(
    y_train: Any,
    y_test: Any,
    *,
    past_return: Any = None,
    threshold: Any = None,
) -> dict[str, dict[str, float]]:
    """Metrics of the naive classification baselines on the test rows.

    Parameters
    ----------
    y_train : array-like of shape (n_train,)
        Training class codes (only their frequencies are used).
    y_test : array-like of shape (n_test,)
        Test class codes (0 SHORT, 1 NEUTRAL, 2 LONG).
    past_return : Series or array-like of shape (n_test,), optional
        Past ``h``-bar log return at each test bar (:func:`past_return_from_close`);
        a Series is aligned to ``y_test`` by time. Enables ``previous_return_sign``.
    threshold : float or Series / array-like of shape (n_test,), optional
        The per-bar log-return threshold of the labels; required with
        ``past_return``.

    Returns
    -------
    dict of str to dict of str to float
        ``{"majority_class": metrics, "always_neutral": metrics,
        "previous_return_sign": metrics}`` (the last only with ``past_return``); each
        ``metrics`` as returned by :func:`classification_metrics`.
    """
    freq = _train_frequencies(y_train)
    n_classes = len(CLASS_LABELS)
    majority = int(np.argmax(freq))  # ties -> lowest code, deterministic
    n = len(y_test)
    out = {
        "majority_class": classification_metrics(
            y_test, np.full(n, majority), np.tile(freq, (n, 1))
        ),
        "always_neutral": classification_metrics(
            y_test, np.full(n, _NEUTRAL), np.tile(np.eye(n_classes)[_NEUTRAL], (n, 1))
        ),
    }
    if past_return is not None:
        if threshold is None:
            raise ConfigError(
                "`threshold` is required with `past_return`: the baseline classifies "
                "past returns with the labels' own threshold. Pass "
                "targets['threshold'] (or the fixed log-return threshold)."
            )
        r = _align("past_return", past_return, y_test)
        thr = _align("threshold", threshold, y_test)
        out["previous_return_sign"] = classification_metrics(
            y_test, previous_return_sign(r, thr)
        )
    return out


def regression_baselines(
    y_test: Any, *, past_return: Any = None
) -> dict[str, dict[str, float]]:
    """Metrics of the naive return forecasts on the test rows.

    Parameters
    ----------
    y_test : array-like of shape (n_test,)
        Realised forward log returns.
    past_return : Series or array-like of shape (n_test,), optional
        Past ``h``-bar log return at each test bar, used as the forecast (NaN → 0).

    Returns
    -------
    dict of str to dict of str to float
        ``{"zero": metrics, "previous_return": metrics}`` (the last only with
        ``past_return``), each from :func:`regression_metrics`.
    """
    n = len(y_test)
    out = {"zero": regression_metrics(y_test, np.zeros(n))}
    if past_return is not None:
        r = np.nan_to_num(_align("past_return", past_return, y_test), nan=0.0)
        out["previous_return"] = regression_metrics(y_test, r)
    return out
