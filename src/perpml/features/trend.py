"""Trend features: moving-average distances, MACD, ADX/DI, Aroon, TRIX, regression slope.

Indicators come from TA-Lib and are made scale-free (ratios to price). EMA-type
indicators (EMA, KAMA, MACD, ADX, TRIX) are recursive: their early values depend on
where the series starts. Their warm-up therefore covers TA-Lib's lookback **plus** about
five time constants, after which the start's influence is below ~1%. Truncating a
series at its end never changes earlier values (tested).
"""

from __future__ import annotations

import numpy as np
import talib

from perpml.features.kernels import safe_div
from perpml.features.registry import register_feature, window_grid


@register_feature(
    category="trend",
    inputs=("close",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(10, 20, 50, 100, 200),
)
def trend_sma_dist(close: np.ndarray, *, window: int) -> np.ndarray:
    """Relative distance of close from its `window`-bar SMA, close / SMA - 1."""
    return safe_div(close, talib.SMA(close, timeperiod=window)) - 1.0


@register_feature(
    category="trend",
    inputs=("close",),
    warmup=lambda p: 4 * p["window"],
    grid=window_grid(12, 26, 50, 100, 200),
)
def trend_ema_dist(close: np.ndarray, *, window: int) -> np.ndarray:
    """Relative distance of close from its `window`-bar EMA, close / EMA - 1."""
    return safe_div(close, talib.EMA(close, timeperiod=window)) - 1.0


@register_feature(
    category="trend",
    inputs=("close",),
    warmup=lambda p: p["window"] + 80,
    grid=window_grid(10, 30),
)
def trend_kama_dist(close: np.ndarray, *, window: int) -> np.ndarray:
    """Relative distance of close from Kaufman's adaptive MA, close / KAMA - 1."""
    return safe_div(close, talib.KAMA(close, timeperiod=window)) - 1.0


@register_feature(
    category="trend",
    inputs=("close",),
    warmup=lambda p: 4 * p["slow"],
    grid=[{"fast": 12, "slow": 26}, {"fast": 50, "slow": 200}],
)
def trend_ema_cross(close: np.ndarray, *, fast: int, slow: int) -> np.ndarray:
    """Fast EMA relative to slow EMA, EMA(fast) / EMA(slow) - 1."""
    return (
        safe_div(talib.EMA(close, timeperiod=fast), talib.EMA(close, timeperiod=slow))
        - 1.0
    )


_MACD_WARMUP = 4 * 26 + 4 * 9


def _macd(close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)


@register_feature(category="trend", inputs=("close",), warmup=_MACD_WARMUP)
def trend_macd_12_26(close: np.ndarray) -> np.ndarray:
    """MACD line (EMA12 - EMA26) relative to close."""
    return safe_div(_macd(close)[0], close)


@register_feature(category="trend", inputs=("close",), warmup=_MACD_WARMUP)
def trend_macd_signal_12_26_9(close: np.ndarray) -> np.ndarray:
    """MACD signal line (EMA9 of MACD) relative to close."""
    return safe_div(_macd(close)[1], close)


@register_feature(category="trend", inputs=("close",), warmup=_MACD_WARMUP)
def trend_macd_hist_12_26_9(close: np.ndarray) -> np.ndarray:
    """MACD histogram (MACD - signal) relative to close."""
    return safe_div(_macd(close)[2], close)


@register_feature(
    category="trend",
    inputs=("high", "low", "close"),
    warmup=lambda p: 7 * p["window"],
    grid=window_grid(14, 28),
)
def trend_adx(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Average directional index (trend strength, 0..100)."""
    return talib.ADX(high, low, close, timeperiod=window)


@register_feature(
    category="trend",
    inputs=("high", "low", "close"),
    warmup=lambda p: 5 * p["window"],
    grid=window_grid(14, 28),
)
def trend_plus_di(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Plus directional indicator +DI (0..100)."""
    return talib.PLUS_DI(high, low, close, timeperiod=window)


@register_feature(
    category="trend",
    inputs=("high", "low", "close"),
    warmup=lambda p: 5 * p["window"],
    grid=window_grid(14, 28),
)
def trend_minus_di(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Minus directional indicator -DI (0..100)."""
    return talib.MINUS_DI(high, low, close, timeperiod=window)


@register_feature(
    category="trend",
    inputs=("high", "low", "close"),
    warmup=lambda p: 5 * p["window"],
    grid=window_grid(14, 28),
)
def trend_di_spread(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Directional spread (+DI - -DI) / (+DI + -DI), -1..1."""
    plus = talib.PLUS_DI(high, low, close, timeperiod=window)
    minus = talib.MINUS_DI(high, low, close, timeperiod=window)
    return safe_div(plus - minus, plus + minus)


@register_feature(
    category="trend",
    inputs=("high", "low"),
    warmup=lambda p: p["window"],
    grid=window_grid(14, 25, 50),
)
def trend_aroon_osc(high: np.ndarray, low: np.ndarray, *, window: int) -> np.ndarray:
    """Aroon oscillator (Aroon up - Aroon down, -100..100)."""
    return talib.AROONOSC(high, low, timeperiod=window)


@register_feature(category="trend", inputs=("high", "low"), warmup=25)
def trend_aroon_up_25(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Aroon up over 25 bars (100 = new high this bar)."""
    return talib.AROON(high, low, timeperiod=25)[1]


@register_feature(category="trend", inputs=("high", "low"), warmup=25)
def trend_aroon_down_25(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Aroon down over 25 bars (100 = new low this bar)."""
    return talib.AROON(high, low, timeperiod=25)[0]


@register_feature(
    category="trend",
    inputs=("close",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(14, 50, 100),
)
def trend_linreg_slope(close: np.ndarray, *, window: int) -> np.ndarray:
    """Least-squares slope of close over `window` bars, per bar, relative to close."""
    return safe_div(talib.LINEARREG_SLOPE(close, timeperiod=window), close)


@register_feature(
    category="trend",
    inputs=("close",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(14, 50),
)
def trend_tsf_dist(close: np.ndarray, *, window: int) -> np.ndarray:
    """Relative distance of close from the time-series forecast, close / TSF - 1."""
    return safe_div(close, talib.TSF(close, timeperiod=window)) - 1.0


@register_feature(
    category="trend",
    inputs=("close",),
    warmup=lambda p: 11 * p["window"] + 10,
    grid=window_grid(15, 30),
)
def trend_trix(close: np.ndarray, *, window: int) -> np.ndarray:
    """TRIX: 1-bar rate of change (%) of a triple-smoothed EMA."""
    return talib.TRIX(close, timeperiod=window)
