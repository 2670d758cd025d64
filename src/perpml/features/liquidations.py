"""Liquidation features: forced-order volumes, their imbalance, spikes and cascades.

Inputs are the per-bar columns of :mod:`perpml.data.liquidations`
(``liquidation_long_volume``, ``liquidation_short_volume``, ``liquidation_count``),
known at the bar's close; the features are skipped when they are absent. Most bars
have no liquidation at all (the columns are 0 there), so every ratio is defined on
zeros instead of producing ``inf`` — the seed took ``pct_change`` of such a series and
crashed on it: an imbalance of no volume is 0 (balanced), a z-score of a constant
window is 0, volumes are compared to traded volume or open interest, never to
themselves.

Sign convention: long liquidations are SELL forced orders (a long closed into a
falling market); ``imbalance = (long - short) / (long + short)`` is > 0 when longs
were flushed.
"""

from __future__ import annotations

import numpy as np

from perpml.features.kernels import (
    diff,
    rolling_max,
    rolling_sum,
    rolling_zscore,
    safe_div,
)
from perpml.features.registry import register_feature, window_grid

#: Liquidated volume above this share of the bar's traded volume marks a cascade bar.
CASCADE_SHARE = 0.05

_LONG = "liquidation_long_volume"
_SHORT = "liquidation_short_volume"
_COUNT = "liquidation_count"


def _volume_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Rolling sum of a non-negative volume, exactly 0 over windows without events.

    The running-sum kernel leaves ~1e-16 residues after an event leaves the window;
    a ratio of two residues would be anything in [-1, 1] and would depend on where
    the history starts. Counting the non-zero bars (integer sums are exact) tells
    which windows held no event.
    """
    x = np.asarray(x, dtype=np.float64)
    if window == 1:  # the bar itself, exactly (no running-sum residue at all)
        return x.copy()
    total = rolling_sum(x, window)
    events = rolling_sum(
        np.where(np.isnan(x), np.nan, (x != 0).astype(np.float64)), window
    )
    total[events == 0] = 0.0
    return total


def _imbalance(long: np.ndarray, short: np.ndarray) -> np.ndarray:
    """(long - short) / (long + short); 0 where both are 0, NaN where unknown."""
    total = long + short
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total > 0, (long - short) / np.where(total > 0, total, 1.0), 0.0)
    out[np.isnan(total)] = np.nan
    return out


def _cascade_bars(
    long: np.ndarray, short: np.ndarray, volume: np.ndarray
) -> np.ndarray:
    """+1 / -1 in bars where long / short liquidations exceed CASCADE_SHARE of volume."""
    total = long + short
    share = safe_div(total, volume)
    flag = np.where(share >= CASCADE_SHARE, np.sign(long - short), 0.0)
    flag[np.isnan(share)] = np.nan
    return flag


@register_feature(
    category="liquidations",
    inputs=(_LONG, "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(1, 12, 48, 288),
)
def liq_long_share(long: np.ndarray, volume: np.ndarray, *, window: int) -> np.ndarray:
    """Long liquidations over `window` bars as a share of the volume traded."""
    return safe_div(_volume_sum(long, window), rolling_sum(volume, window))


@register_feature(
    category="liquidations",
    inputs=(_SHORT, "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(1, 12, 48, 288),
)
def liq_short_share(
    short: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """Short liquidations over `window` bars as a share of the volume traded."""
    return safe_div(_volume_sum(short, window), rolling_sum(volume, window))


@register_feature(
    category="liquidations",
    inputs=(_LONG, _SHORT),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(1, 12, 48, 288),
)
def liq_imbalance(long: np.ndarray, short: np.ndarray, *, window: int) -> np.ndarray:
    """(long - short) / (long + short) liquidated over `window` bars; 0 if none."""
    return _imbalance(_volume_sum(long, window), _volume_sum(short, window))


@register_feature(
    category="liquidations",
    inputs=(_COUNT,),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 288),
)
def liq_count(count: np.ndarray, *, window: int) -> np.ndarray:
    """log(1 + number of forced orders over `window` bars)."""
    return np.log1p(rolling_sum(count, window))


@register_feature(
    category="liquidations",
    inputs=(_LONG, _SHORT, "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(288),
)
def liq_share_zscore(
    long: np.ndarray, short: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """Z-score of log(1 + 1000 x bar liquidation share of volume) over `window` bars."""
    share = safe_div(long + short, volume)
    return rolling_zscore(np.log1p(1000.0 * share), window)


@register_feature(
    category="liquidations",
    inputs=(_COUNT,),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(288),
)
def liq_count_zscore(count: np.ndarray, *, window: int) -> np.ndarray:
    """Z-score of log(1 + forced orders in the bar) against the last `window` bars."""
    return rolling_zscore(np.log1p(count), window)


@register_feature(
    category="liquidations",
    inputs=(_LONG, _SHORT, "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 48),
)
def liq_cascade(
    long: np.ndarray, short: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """1 if a cascade bar (liquidations >= 5 % of volume) is in the last `window` bars."""
    flag = np.abs(_cascade_bars(long, short, volume))
    return rolling_max(flag, window)


@register_feature(
    category="liquidations",
    inputs=(_LONG, _SHORT, "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 48),
)
def liq_cascade_side(
    long: np.ndarray, short: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """Net side of the cascade bars in the last `window` bars: +1 longs, -1 shorts."""
    return np.sign(rolling_sum(_cascade_bars(long, short, volume), window))


@register_feature(
    category="liquidations",
    inputs=(_LONG, _SHORT, "open_interest"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 288),
)
def liq_oi_share(
    long: np.ndarray, short: np.ndarray, oi: np.ndarray, *, window: int
) -> np.ndarray:
    """Liquidations over `window` bars as a share of the current open interest."""
    return safe_div(rolling_sum(long + short, window), oi)


@register_feature(
    category="liquidations",
    inputs=(_LONG, _SHORT, "log_open_interest"),
    warmup=lambda p: p["window"],
    grid=window_grid(12, 48),
)
def liq_ix_oi_drop(
    long: np.ndarray, short: np.ndarray, log_oi: np.ndarray, *, window: int
) -> np.ndarray:
    """Imbalance x OI drop over `window` bars: forced closing confirmed by falling OI."""
    drop = np.maximum(-diff(log_oi, window), 0.0)  # NaN stays NaN
    return _imbalance(_volume_sum(long, window), _volume_sum(short, window)) * drop


@register_feature(
    category="liquidations",
    inputs=(_LONG, _SHORT, "log_close"),
    warmup=lambda p: p["window"],
    grid=window_grid(12, 48),
)
def liq_ix_price(
    long: np.ndarray, short: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """-Imbalance x log price change over `window` bars (> 0: flush with the move)."""
    move = diff(log_close, window)
    return -_imbalance(_volume_sum(long, window), _volume_sum(short, window)) * move
