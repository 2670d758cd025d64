"""Volume and taker-flow features: relative volume, taker imbalance, VWAP, OBV, A/D.

Volume levels differ by orders of magnitude across symbols and years, so every feature
is a ratio to the symbol's own recent volume or a share of it.
"""

from __future__ import annotations

import numpy as np
import talib

from perpml.features.kernels import (
    diff,
    rolling_mean,
    rolling_sum,
    rolling_zscore,
    safe_div,
    safe_log,
    shift,
)
from perpml.features.registry import register_feature, window_grid


@register_feature(
    category="volume",
    inputs=("volume",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 48, 288),
)
def volume_rel(volume: np.ndarray, *, window: int) -> np.ndarray:
    """Log of volume over its `window`-bar mean, log(volume / mean)."""
    return safe_log(safe_div(volume, rolling_mean(volume, window)))


@register_feature(
    category="volume",
    inputs=("volume",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(48, 288),
)
def volume_log_zscore(volume: np.ndarray, *, window: int) -> np.ndarray:
    """Z-score of log(1 + volume) against the last `window` bars."""
    return rolling_zscore(np.log1p(volume), window)


@register_feature(category="volume", inputs=("taker_buy_volume", "volume"), warmup=0)
def volume_taker_buy_share(taker_buy: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Share of the bar's volume bought by takers (0.5 = balanced)."""
    return safe_div(taker_buy, volume)


@register_feature(
    category="volume",
    inputs=("taker_buy_volume", "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 48, 288),
)
def volume_taker_imbalance(
    taker_buy: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """Taker imbalance over `window` bars, (buy - sell) / volume, -1..1."""
    buy = rolling_sum(taker_buy, window)
    total = rolling_sum(volume, window)
    return safe_div(2.0 * buy - total, total)


@register_feature(
    category="volume",
    inputs=("taker_buy_volume", "volume"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(96, 288),
)
def volume_taker_share_zscore(
    taker_buy: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """Z-score of the bar's taker buy share against the last `window` bars."""
    return rolling_zscore(safe_div(taker_buy, volume), window)


@register_feature(
    category="volume",
    inputs=("taker_buy_volume", "volume"),
    warmup=lambda p: p["window"],
    grid=window_grid(12, 48),
)
def volume_cvd_change(
    taker_buy: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """Change in cumulative volume delta over `window` bars per mean bar volume."""
    delta = rolling_sum(2.0 * taker_buy - volume, window)
    return safe_div(delta, shift(rolling_mean(volume, window), 1))


@register_feature(
    category="volume",
    inputs=("quote_volume", "trades"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(48, 288),
)
def volume_trade_size_rel(
    quote_volume: np.ndarray, trades: np.ndarray, *, window: int
) -> np.ndarray:
    """Log of mean trade size (quote per trade) over its `window`-bar mean."""
    size = safe_div(quote_volume, trades)
    return safe_log(safe_div(size, rolling_mean(size, window)))


@register_feature(
    category="volume",
    inputs=("trades",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(48, 288),
)
def volume_trades_rel(trades: np.ndarray, *, window: int) -> np.ndarray:
    """Log of the trade count over its `window`-bar mean."""
    return safe_log(safe_div(trades, rolling_mean(trades, window)))


@register_feature(
    category="volume",
    inputs=("quote_volume", "volume", "close"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(24, 96, 288),
)
def volume_vwap_dist(
    quote_volume: np.ndarray, volume: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Log distance of close from the `window`-bar VWAP (quote / base volume)."""
    vwap = safe_div(rolling_sum(quote_volume, window), rolling_sum(volume, window))
    return safe_log(safe_div(close, vwap))


@register_feature(
    category="volume",
    inputs=("close", "volume"),
    warmup=lambda p: p["window"],
    grid=window_grid(24, 96),
)
def volume_obv_flow(
    close: np.ndarray, volume: np.ndarray, *, window: int
) -> np.ndarray:
    """OBV change over `window` bars per unit of volume traded in them, -1..1."""
    flow = diff(talib.OBV(close, volume), window)
    return safe_div(flow, rolling_sum(volume, window))


@register_feature(
    category="volume",
    inputs=("high", "low", "close", "volume"),
    warmup=50,
)
def volume_adosc_3_10(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> np.ndarray:
    """Chaikin A/D oscillator (EMA3 - EMA10 of the A/D line) per mean bar volume."""
    osc = talib.ADOSC(high, low, close, volume, fastperiod=3, slowperiod=10)
    return safe_div(osc, rolling_mean(volume, 10))
