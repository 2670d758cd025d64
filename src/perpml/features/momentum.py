"""Momentum and oscillator features from TA-Lib: RSI, Stochastic, StochRSI, CCI, ...

Oscillators are bounded or scale-free by construction. Wilder-smoothed ones (RSI, CMO)
are recursive; their warm-up adds about four time constants to TA-Lib's lookback so the
series start no longer matters materially.
"""

from __future__ import annotations

import numpy as np
import talib

from perpml.features.kernels import diff
from perpml.features.registry import register_feature, window_grid


@register_feature(
    category="momentum",
    inputs=("close",),
    warmup=lambda p: 5 * p["window"],
    grid=window_grid(7, 14, 28),
)
def mom_rsi(close: np.ndarray, *, window: int) -> np.ndarray:
    """Relative strength index (Wilder), 0..100."""
    return talib.RSI(close, timeperiod=window)


@register_feature(
    category="momentum",
    inputs=("high", "low", "close"),
    warmup=lambda p: p["window"] + 4,
    grid=window_grid(14, 28),
)
def mom_stoch_k(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Slow stochastic %K (window, 3, 3; SMA smoothing), 0..100."""
    return talib.STOCH(high, low, close, fastk_period=window)[0]


@register_feature(
    category="momentum",
    inputs=("high", "low", "close"),
    warmup=lambda p: p["window"] + 6,
    grid=window_grid(14, 28),
)
def mom_stoch_d(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Slow stochastic %D (window, 3, 3; SMA smoothing), 0..100."""
    return talib.STOCH(high, low, close, fastk_period=window)[1]


@register_feature(category="momentum", inputs=("close",), warmup=5 * 14 + 14 + 4)
def mom_stochrsi_k_14(close: np.ndarray) -> np.ndarray:
    """Stochastic RSI fast %K (RSI 14, stochastic window 14, %D 3), 0..100."""
    return talib.STOCHRSI(close, timeperiod=14, fastk_period=14, fastd_period=3)[0]


@register_feature(category="momentum", inputs=("close",), warmup=5 * 14 + 14 + 4)
def mom_stochrsi_d_14(close: np.ndarray) -> np.ndarray:
    """Stochastic RSI fast %D (3-bar SMA of %K), 0..100."""
    return talib.STOCHRSI(close, timeperiod=14, fastk_period=14, fastd_period=3)[1]


@register_feature(
    category="momentum",
    inputs=("high", "low", "close"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(14, 20, 50),
)
def mom_cci(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Commodity channel index of the typical price."""
    return talib.CCI(high, low, close, timeperiod=window)


@register_feature(
    category="momentum",
    inputs=("high", "low", "close"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(14, 28),
)
def mom_willr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Williams %R, -100 (at the window low) .. 0 (at the window high)."""
    return talib.WILLR(high, low, close, timeperiod=window)


@register_feature(
    category="momentum",
    inputs=("close",),
    warmup=lambda p: 5 * p["window"],
    grid=window_grid(14, 28),
)
def mom_cmo(close: np.ndarray, *, window: int) -> np.ndarray:
    """Chande momentum oscillator, -100..100."""
    return talib.CMO(close, timeperiod=window)


@register_feature(category="momentum", inputs=("high", "low", "close"), warmup=28)
def mom_ultosc_7_14_28(
    high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> np.ndarray:
    """Ultimate oscillator over 7/14/28 bars, 0..100."""
    return talib.ULTOSC(high, low, close, timeperiod1=7, timeperiod2=14, timeperiod3=28)


@register_feature(
    category="momentum",
    inputs=("high", "low", "close", "volume"),
    warmup=lambda p: p["window"],
    grid=window_grid(14, 28),
)
def mom_mfi(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    *,
    window: int,
) -> np.ndarray:
    """Money flow index (volume-weighted RSI), 0..100."""
    return talib.MFI(high, low, close, volume, timeperiod=window)


@register_feature(
    category="momentum",
    inputs=("close",),
    warmup=lambda p: p["slow"],
    grid=[{"fast": 12, "slow": 26}, {"fast": 24, "slow": 96}],
)
def mom_ppo(close: np.ndarray, *, fast: int, slow: int) -> np.ndarray:
    """Percentage price oscillator with SMAs, 100 * (SMA fast - SMA slow) / SMA slow."""
    return talib.PPO(close, fastperiod=fast, slowperiod=slow, matype=talib.MA_Type.SMA)


@register_feature(
    category="momentum",
    inputs=("close",),
    warmup=lambda p: p["window"],
    grid=window_grid(10, 30),
)
def mom_roc(close: np.ndarray, *, window: int) -> np.ndarray:
    """Rate of change in percent, 100 * (close[t] / close[t-window] - 1)."""
    return talib.ROC(close, timeperiod=window)


@register_feature(
    category="momentum", inputs=("open", "high", "low", "close"), warmup=0
)
def mom_bop(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> np.ndarray:
    """Balance of power, (close - open) / (high - low), -1..1."""
    return talib.BOP(open_, high, low, close)


@register_feature(
    category="momentum",
    inputs=("close",),
    warmup=lambda p: 5 * 14 + p["window"],
    grid=window_grid(6, 24),
)
def mom_rsi_change(close: np.ndarray, *, window: int) -> np.ndarray:
    """Change of RSI(14) over `window` bars (RSI momentum)."""
    return diff(talib.RSI(close, timeperiod=14), window)
