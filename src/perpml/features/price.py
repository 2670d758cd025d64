"""Price and return features: multi-horizon log returns, candle shape, range position.

All outputs are scale-free (log ratios or positions in a range), so a model trained at
one price level applies at another. Inputs are known at the bar's close.
"""

from __future__ import annotations

import numpy as np

from perpml.features.kernels import (
    diff,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_zscore,
    safe_div,
    shift,
)
from perpml.features.registry import register_feature, window_grid


@register_feature(
    category="price",
    inputs=("log_close",),
    warmup=lambda p: p["window"],
    grid=window_grid(1, 2, 3, 6, 12, 24, 48, 96, 288),
)
def price_logret(log_close: np.ndarray, *, window: int) -> np.ndarray:
    """Log return over the last `window` bars, log(close[t] / close[t-window])."""
    return diff(log_close, window)


@register_feature(category="price", inputs=("high", "low"), warmup=0)
def price_hl_range(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Log high-low range of the bar, log(high / low)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(high / low)


@register_feature(category="price", inputs=("open", "high", "low", "close"), warmup=0)
def price_upper_wick(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> np.ndarray:
    """Upper wick as a share of the bar range, (high - max(open, close)) / (high - low)."""
    return safe_div(high - np.maximum(open_, close), high - low)


@register_feature(category="price", inputs=("open", "high", "low", "close"), warmup=0)
def price_lower_wick(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> np.ndarray:
    """Lower wick as a share of the bar range, (min(open, close) - low) / (high - low)."""
    return safe_div(np.minimum(open_, close) - low, high - low)


@register_feature(category="price", inputs=("open", "close"), warmup=1)
def price_gap(open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Opening gap, log(open[t] / close[t-1])."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(open_ / shift(close, 1))


@register_feature(
    category="price",
    inputs=("high", "low", "close"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 48, 288),
)
def price_range_pos(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Position of close in the `window`-bar high-low range, 0 (at low) .. 1 (at high)."""
    hi = rolling_max(high, window)
    lo = rolling_min(low, window)
    return safe_div(close - lo, hi - lo)


@register_feature(
    category="price",
    inputs=("high", "close"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(24, 96, 288),
)
def price_dist_high(high: np.ndarray, close: np.ndarray, *, window: int) -> np.ndarray:
    """Log distance of close below the `window`-bar high (<= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(close / rolling_max(high, window))


@register_feature(
    category="price",
    inputs=("low", "close"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(24, 96, 288),
)
def price_dist_low(low: np.ndarray, close: np.ndarray, *, window: int) -> np.ndarray:
    """Log distance of close above the `window`-bar low (>= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(close / rolling_min(low, window))


@register_feature(
    category="price",
    inputs=("log_close",),
    warmup=lambda p: p["window"],
    grid=window_grid(48, 288),
)
def price_ret_zscore(log_close: np.ndarray, *, window: int) -> np.ndarray:
    """Z-score of the 1-bar log return against the last `window` 1-bar returns."""
    return rolling_zscore(diff(log_close, 1), window)


@register_feature(
    category="price",
    inputs=("log_close",),
    warmup=lambda p: p["window"],
    grid=window_grid(12, 48),
)
def price_up_share(log_close: np.ndarray, *, window: int) -> np.ndarray:
    """Share of the last `window` bars that closed higher than the bar before."""
    r = diff(log_close, 1)
    up = np.where(np.isnan(r), np.nan, (r > 0).astype(np.float64))
    return rolling_mean(up, window)
