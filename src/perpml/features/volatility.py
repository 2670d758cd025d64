"""Volatility features: realized, range-based (Parkinson, Garman-Klass), ATR, Bollinger.

Volatilities are per-bar (not annualised) standard deviations of log returns, so they
are comparable across price levels but scale with the bar interval.
"""

from __future__ import annotations

import numpy as np
import talib

from perpml.features.kernels import (
    diff,
    rolling_mean,
    rolling_mean_std,
    rolling_std,
    rolling_zscore,
    safe_div,
)
from perpml.features.registry import register_feature, window_grid


@register_feature(
    category="volatility",
    inputs=("log_close",),
    warmup=lambda p: p["window"],
    grid=window_grid(12, 24, 48, 96, 288),
)
def vola_realized(log_close: np.ndarray, *, window: int) -> np.ndarray:
    """Realized volatility: std (ddof=1) of 1-bar log returns over `window` bars."""
    return rolling_std(diff(log_close, 1), window)


@register_feature(
    category="volatility",
    inputs=("high", "low"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(24, 96),
)
def vola_parkinson(high: np.ndarray, low: np.ndarray, *, window: int) -> np.ndarray:
    """Parkinson range volatility, sqrt(mean(log(high/low)^2) / (4 ln 2))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        hl = np.log(high / low)
    return np.sqrt(rolling_mean(hl * hl, window) / (4.0 * np.log(2.0)))


@register_feature(
    category="volatility",
    inputs=("open", "high", "low", "close"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(24, 96),
)
def vola_garman_klass(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    window: int,
) -> np.ndarray:
    """Garman-Klass OHLC volatility over `window` bars."""
    with np.errstate(divide="ignore", invalid="ignore"):
        hl = np.log(high / low)
        co = np.log(close / open_)
    per_bar = 0.5 * hl * hl - (2.0 * np.log(2.0) - 1.0) * co * co
    return np.sqrt(np.maximum(rolling_mean(per_bar, window), 0.0))


@register_feature(
    category="volatility",
    inputs=("high", "low", "close"),
    warmup=lambda p: 5 * p["window"],
    grid=window_grid(14, 28),
)
def vola_natr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Normalized average true range, 100 * ATR / close."""
    return talib.NATR(high, low, close, timeperiod=window)


def _bbands(close: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    return talib.BBANDS(
        close, timeperiod=window, nbdevup=2.0, nbdevdn=2.0, matype=talib.MA_Type.SMA
    )


@register_feature(
    category="volatility",
    inputs=("close",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(20, 50),
)
def vola_bb_pctb(close: np.ndarray, *, window: int) -> np.ndarray:
    """Bollinger %B (2 std): 0 at the lower band, 1 at the upper band."""
    upper, _, lower = _bbands(close, window)
    return safe_div(close - lower, upper - lower)


@register_feature(
    category="volatility",
    inputs=("close",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(20, 50),
)
def vola_bb_width(close: np.ndarray, *, window: int) -> np.ndarray:
    """Bollinger band width (2 std), (upper - lower) / middle."""
    upper, middle, lower = _bbands(close, window)
    return safe_div(upper - lower, middle)


@register_feature(
    category="volatility",
    inputs=("log_close",),
    warmup=lambda p: p["slow"],
    grid=[{"fast": 12, "slow": 96}, {"fast": 24, "slow": 288}],
)
def vola_ratio(log_close: np.ndarray, *, fast: int, slow: int) -> np.ndarray:
    """Short over long realized volatility (volatility regime change)."""
    r = diff(log_close, 1)
    return safe_div(rolling_std(r, fast), rolling_std(r, slow))


@register_feature(
    category="volatility",
    inputs=("high", "low"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(96, 288),
)
def vola_range_zscore(high: np.ndarray, low: np.ndarray, *, window: int) -> np.ndarray:
    """Z-score of the bar's log high-low range against the last `window` bars."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return rolling_zscore(np.log(high / low), window)


@register_feature(
    category="volatility",
    inputs=("log_close",),
    warmup=lambda p: p["window"],
    grid=window_grid(48, 288),
)
def vola_downside(log_close: np.ndarray, *, window: int) -> np.ndarray:
    """Downside semi-deviation, sqrt(mean(min(r, 0)^2)) of 1-bar log returns."""
    r = diff(log_close, 1)
    neg = np.minimum(r, 0.0)
    return np.sqrt(rolling_mean(neg * neg, window))


@register_feature(
    category="volatility",
    inputs=("log_close",),
    warmup=lambda p: 24 + p["window"],
    grid=window_grid(288),
)
def vola_vol_of_vol(log_close: np.ndarray, *, window: int) -> np.ndarray:
    """Volatility of volatility: std of 24-bar realized vol over `window`, relative."""
    mean, std = rolling_mean_std(rolling_std(diff(log_close, 1), 24), window)
    return safe_div(std, mean)
