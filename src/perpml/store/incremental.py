"""The newest bars' features from a trailing window, not from all of history.

Feature ``f`` at bar ``t`` reads bars ``<= t`` only (THE TIME RULE), and most
features read a fixed number of them: ``warmup + 1`` (a rolling window of ``w`` bars
has warm-up ``w - 1``). Recursive indicators (EMA, Wilder smoothing in RSI/ADX/ATR,
KAMA, TRIX, MACD, ...) have infinite memory: their value depends on where the history
starts, with a weight that decays like ``(1 - alpha)^k`` after ``k`` bars. Their
registered warm-ups already cover 4-7 time constants (``trend_ema_dist_200``: 800
bars), so a window of ``MEMORY_FACTOR`` times the warm-up leaves a start weight below
``e^-20`` (RSI, the slowest-decaying case: ``(13/14)^(4*70)``) — far below float32
resolution (``2^-24``) — and the result equals the batch value up to float32 rounding.

Each feature is computed on its own trailing window (rounded up to a power of two so
features share :func:`perpml.features.build_features` calls), through the same
engine, so NaN handling, skipping and the float32 cast are exactly the batch ones.
``tests/store/test_incremental.py`` checks every registered feature against
``build_features`` on the whole history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from perpml.exceptions import FeatureError

__all__ = ["MEMORY_FACTOR", "feature_memory", "latest_features", "trailing_window"]

#: Bars of history per feature = MEMORY_FACTOR * warm-up + 2 (see module docstring).
MEMORY_FACTOR = 4
_MIN_BUCKET = 64


def feature_memory(name: str) -> int:
    """Bars of history feature ``name`` is computed from incrementally."""
    from perpml.features.registry import get_feature

    return MEMORY_FACTOR * get_feature(name).warmup + 2


def _bucket(bars: int) -> int:
    size = _MIN_BUCKET
    while size < bars:
        size *= 2
    return size


def trailing_window(feature_names: Sequence[str], rows: int = 1) -> int:
    """Bars of market history :func:`latest_features` reads for ``rows`` rows."""
    if not feature_names:
        raise FeatureError("`feature_names` must name at least one feature.")
    return max(_bucket(feature_memory(n) + rows - 1) for n in feature_names)


def latest_features(
    market: pd.DataFrame, feature_names: Sequence[str], rows: int = 1
) -> pd.DataFrame:
    """Features of the newest ``rows`` bars of ``market``, from a trailing window.

    Parameters
    ----------
    market : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Canonical market frame; only its last :func:`trailing_window` bars are read
        (keep ``attrs["interval"]`` so calendar features need no inference).
    feature_names : sequence of str
        Registered feature names, in the output column order.
    rows : int, default 1
        How many of the newest bars to return (e.g. an LSTM's lookback).

    Returns
    -------
    DataFrame of shape (rows, n_features), float32
        Equal to ``build_features(market)[feature_names].iloc[-rows:]`` up to float32
        rounding (exactly equal for finite-memory features). A feature the market
        cannot provide (absent input column) is NaN.
    """
    from perpml.features.engine import build_features

    names = list(feature_names)
    if isinstance(feature_names, str) or not names:
        raise FeatureError(
            f"`feature_names` must be a non-empty list of names, got {feature_names!r}."
        )
    if not isinstance(rows, int) or rows < 1:
        raise FeatureError(f"`rows` must be an int >= 1, got {rows!r}.")
    rows = min(rows, len(market))
    groups: dict[int, list[str]] = defaultdict(list)
    for name in names:
        groups[_bucket(feature_memory(name) + rows - 1)].append(name)
    out = np.full((rows, len(names)), np.nan, dtype=np.float32)
    position = {n: j for j, n in enumerate(names)}
    for window, members in sorted(groups.items()):
        tail = market.iloc[-window:]
        built = build_features(tail, include=members, n_jobs=1)
        values = built.to_numpy()[-rows:]
        for k, column in enumerate(built.columns):
            out[:, position[column]] = values[:, k]
    return pd.DataFrame(out, index=market.index[-rows:], columns=names)
