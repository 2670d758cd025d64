"""Open-interest features: OI changes, levels relative to their history, turnover.

Open interest is a snapshot stamped at the bar's close (THE TIME RULE). Snapshots can be
missing; a window that contains a missing snapshot gives NaN rather than a guess.
"""

from __future__ import annotations

import numpy as np

from perpml.features.kernels import (
    diff,
    log_change,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_std,
    rolling_sum,
    rolling_zscore,
    safe_div,
    safe_log,
)
from perpml.features.registry import register_feature, window_grid


@register_feature(
    category="open_interest",
    inputs=("log_open_interest",),
    warmup=lambda p: p["window"],
    grid=window_grid(1, 3, 12, 48, 96, 288),
)
def oi_change(log_open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """Log change of open interest over `window` bars."""
    return diff(log_open_interest, window)


@register_feature(
    category="open_interest",
    inputs=("open_interest",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(96, 288, 864),
)
def oi_zscore(open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """Z-score of the open-interest level against the last `window` bars."""
    return rolling_zscore(open_interest, window)


@register_feature(
    category="open_interest",
    inputs=("log_open_interest",),
    warmup=lambda p: 12 + p["window"] - 1,
    grid=window_grid(288),
)
def oi_change_zscore_12(log_open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """Z-score of the 12-bar OI log change against the last `window` such changes."""
    return rolling_zscore(diff(log_open_interest, 12), window)


@register_feature(
    category="open_interest",
    inputs=("open_interest_value",),
    warmup=lambda p: p["window"],
    grid=window_grid(12, 96),
)
def oi_value_change(open_interest_value: np.ndarray, *, window: int) -> np.ndarray:
    """Log change of open-interest notional (quote currency) over `window` bars."""
    return log_change(open_interest_value, window)


@register_feature(
    category="open_interest",
    inputs=("open_interest", "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(48, 288),
)
def oi_turnover(
    open_interest: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """Log of volume traded over `window` bars per contract of open interest."""
    return safe_log(safe_div(rolling_sum(volume, window), open_interest))


@register_feature(
    category="open_interest",
    inputs=("open_interest",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(96, 288),
)
def oi_dist_high(open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """Open interest relative to its `window`-bar high, OI / max - 1 (<= 0)."""
    return safe_div(open_interest, rolling_max(open_interest, window)) - 1.0


@register_feature(
    category="open_interest",
    inputs=("open_interest",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(288),
)
def oi_range_pos(open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """Position of OI in its `window`-bar min-max range, 0..1."""
    hi = rolling_max(open_interest, window)
    lo = rolling_min(open_interest, window)
    return safe_div(open_interest - lo, hi - lo)


@register_feature(
    category="open_interest",
    inputs=("open_interest",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 48),
)
def oi_sma_dist(open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """Open interest relative to its `window`-bar mean, OI / mean - 1."""
    return safe_div(open_interest, rolling_mean(open_interest, window)) - 1.0


@register_feature(
    category="open_interest",
    inputs=("log_open_interest",),
    warmup=lambda p: 2 * p["window"],
    grid=window_grid(12, 48),
)
def oi_accel(log_open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """OI acceleration: this `window`-bar log change minus the previous one."""
    return diff(diff(log_open_interest, window), window)


@register_feature(
    category="open_interest",
    inputs=("log_open_interest",),
    warmup=lambda p: p["window"],
    grid=window_grid(96, 288),
)
def oi_change_vola(log_open_interest: np.ndarray, *, window: int) -> np.ndarray:
    """Std of 1-bar OI log changes over `window` bars (OI churn)."""
    return rolling_std(diff(log_open_interest, 1), window)
