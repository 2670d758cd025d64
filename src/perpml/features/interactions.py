"""Interaction features: how open interest, funding, volume and flow move with price.

The classic OI/price quadrants read who is trading: price up with OI up = new longs,
price up with OI down = short covering, price down with OI down = long liquidation,
price down with OI up = new shorts. Each quadrant feature is the magnitude of the OI
log change when the bar pair is in that quadrant and 0 otherwise (a genuine zero: the
quadrant is not active), NaN when either change is unknown.
"""

from __future__ import annotations

import numpy as np

from perpml.features.kernels import (
    diff,
    log_change,
    oi_price_quadrant,
    rolling_mean,
    rolling_mean_std,
    rolling_std,
    rolling_sum,
    rolling_zscore,
    safe_div,
)
from perpml.features.registry import register_feature, window_grid

_OI_PRICE = ("log_open_interest", "log_close")


def _quadrant(
    log_open_interest: np.ndarray,
    log_close: np.ndarray,
    window: int,
    oi_sign: float,
    price_sign: float,
) -> np.ndarray:
    return oi_price_quadrant(log_open_interest, log_close, window, oi_sign, price_sign)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_new_longs(
    log_open_interest: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price and OI both rose over `window` bars (new longs), else 0."""
    return _quadrant(log_open_interest, log_close, window, 1.0, 1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_short_covering(
    log_open_interest: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price rose and OI fell (short covering), else 0."""
    return _quadrant(log_open_interest, log_close, window, -1.0, 1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_long_liquidation(
    log_open_interest: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price and OI both fell (long liquidation), else 0."""
    return _quadrant(log_open_interest, log_close, window, -1.0, -1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_new_shorts(
    log_open_interest: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price fell and OI rose (new shorts), else 0."""
    return _quadrant(log_open_interest, log_close, window, 1.0, -1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(12, 48),
)
def ix_oi_price(
    log_open_interest: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """Product of the OI and price log changes over `window` bars (signed agreement)."""
    return diff(log_open_interest, window) * diff(log_close, window)


@register_feature(
    category="interactions",
    inputs=("log_open_interest", "log_close"),
    warmup=lambda p: p["window"],
    grid=window_grid(96, 288),
)
def ix_oi_price_corr(
    log_open_interest: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """Correlation of 1-bar OI and price log changes over `window` bars."""
    a = diff(log_open_interest, 1)
    b = diff(log_close, 1)
    mean_a, std_a = rolling_mean_std(a, window)
    mean_b, std_b = rolling_mean_std(b, window)
    cov = rolling_mean(a * b, window) - mean_a * mean_b
    scale = (window - 1) / window  # population covariance over sample stds
    return np.clip(safe_div(cov, scale * std_a * std_b), -1.0, 1.0)


@register_feature(
    category="interactions",
    inputs=("funding_rate", "log_open_interest"),
    warmup=lambda p: max(p["window"], 287),
    grid=window_grid(12, 96),
)
def ix_funding_oi(
    funding_rate: np.ndarray, log_open_interest: np.ndarray, *, window: int
) -> np.ndarray:
    """Funding z-score (288 bars) times the `window`-bar OI log change (crowding)."""
    return rolling_zscore(funding_rate, 288) * diff(log_open_interest, window)


@register_feature(
    category="interactions",
    inputs=("funding_rate", "log_close"),
    warmup=lambda p: p["window"],
    grid=window_grid(48),
)
def ix_funding_ret(
    funding_rate: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """Funding rate times the `window`-bar log return (paid to chase or to fade)."""
    return funding_rate * diff(log_close, window)


@register_feature(
    category="interactions",
    inputs=("mark_price", "index_price", "log_open_interest"),
    warmup=lambda p: p["window"],
    grid=window_grid(12),
)
def ix_premium_oi(
    mark_price: np.ndarray,
    index_price: np.ndarray,
    log_open_interest: np.ndarray,
    *,
    window: int,
) -> np.ndarray:
    """Mark-index premium times the `window`-bar OI log change."""
    premium = safe_div(mark_price, index_price) - 1.0
    return premium * diff(log_open_interest, window)


@register_feature(
    category="interactions",
    inputs=("volume", "log_close"),
    warmup=lambda p: max(p["window"], 287),
    grid=window_grid(1, 12),
)
def ix_volume_ret(
    volume: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """Volume over `window` bars relative to normal (288-bar) times the log return."""
    rel = safe_div(rolling_sum(volume, window), window * rolling_mean(volume, 288))
    return rel * diff(log_close, window)


@register_feature(
    category="interactions",
    inputs=("taker_buy_volume", "volume", "log_close"),
    warmup=lambda p: p["window"],
    grid=window_grid(12),
)
def ix_taker_ret(
    taker_buy: np.ndarray, volume: np.ndarray, log_close: np.ndarray, *, window: int
) -> np.ndarray:
    """Taker imbalance over `window` bars times the log return (aggressor follow-through)."""
    buy = rolling_sum(taker_buy, window)
    total = rolling_sum(volume, window)
    return safe_div(2.0 * buy - total, total) * diff(log_close, window)


@register_feature(
    category="interactions",
    inputs=("log_close",),
    warmup=lambda p: max(p["window"], 288),
    grid=window_grid(12, 48),
)
def ix_vol_adj_ret(log_close: np.ndarray, *, window: int) -> np.ndarray:
    """`window`-bar log return over 288-bar realized vol * sqrt(window) (a t-stat)."""
    sigma = rolling_std(diff(log_close, 1), 288)
    return safe_div(diff(log_close, window), sigma * np.sqrt(window))


@register_feature(
    category="interactions",
    inputs=("long_short_ratio", "log_close"),
    warmup=lambda p: p["window"],
    grid=window_grid(12),
)
def ix_ls_ret(ratio: np.ndarray, log_close: np.ndarray, *, window: int) -> np.ndarray:
    """Change of log long/short ratio times the log return (crowd chasing price)."""
    return log_change(ratio, window) * diff(log_close, window)
