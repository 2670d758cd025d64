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
    log_change,
    rolling_mean,
    rolling_std,
    rolling_sum,
    rolling_zscore,
    safe_div,
)
from perpml.features.registry import register_feature, window_grid

_OI_PRICE = ("open_interest", "close")


def _quadrant(
    open_interest: np.ndarray,
    close: np.ndarray,
    window: int,
    oi_sign: float,
    price_sign: float,
) -> np.ndarray:
    d_oi = log_change(open_interest, window)
    d_px = log_change(close, window)
    active = (np.sign(d_oi) == oi_sign) & (np.sign(d_px) == price_sign)
    out = np.where(active, np.abs(d_oi), 0.0)
    out[np.isnan(d_oi) | np.isnan(d_px)] = np.nan
    return out


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_new_longs(
    open_interest: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price and OI both rose over `window` bars (new longs), else 0."""
    return _quadrant(open_interest, close, window, 1.0, 1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_short_covering(
    open_interest: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price rose and OI fell (short covering), else 0."""
    return _quadrant(open_interest, close, window, -1.0, 1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_long_liquidation(
    open_interest: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price and OI both fell (long liquidation), else 0."""
    return _quadrant(open_interest, close, window, -1.0, -1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(1, 12, 48),
)
def ix_new_shorts(
    open_interest: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """|OI change| when price fell and OI rose (new shorts), else 0."""
    return _quadrant(open_interest, close, window, 1.0, -1.0)


@register_feature(
    category="interactions",
    inputs=_OI_PRICE,
    warmup=lambda p: p["window"],
    grid=window_grid(12, 48),
)
def ix_oi_price(
    open_interest: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Product of the OI and price log changes over `window` bars (signed agreement)."""
    return log_change(open_interest, window) * log_change(close, window)


@register_feature(
    category="interactions",
    inputs=("open_interest", "close"),
    warmup=lambda p: p["window"],
    grid=window_grid(96, 288),
)
def ix_oi_price_corr(
    open_interest: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Correlation of 1-bar OI and price log changes over `window` bars."""
    a = log_change(open_interest, 1)
    b = log_change(close, 1)
    cov = rolling_mean(a * b, window) - rolling_mean(a, window) * rolling_mean(
        b, window
    )
    scale = (window - 1) / window
    return np.clip(
        safe_div(cov, scale * rolling_std(a, window) * rolling_std(b, window)),
        -1.0,
        1.0,
    )


@register_feature(
    category="interactions",
    inputs=("funding_rate", "open_interest"),
    warmup=lambda p: max(p["window"], 287),
    grid=window_grid(12, 96),
)
def ix_funding_oi(
    funding_rate: np.ndarray, open_interest: np.ndarray, *, window: int
) -> np.ndarray:
    """Funding z-score (288 bars) times the `window`-bar OI log change (crowding)."""
    return rolling_zscore(funding_rate, 288) * log_change(open_interest, window)


@register_feature(
    category="interactions",
    inputs=("funding_rate", "close"),
    warmup=lambda p: p["window"],
    grid=window_grid(48),
)
def ix_funding_ret(
    funding_rate: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Funding rate times the `window`-bar log return (paid to chase or to fade)."""
    return funding_rate * log_change(close, window)


@register_feature(
    category="interactions",
    inputs=("mark_price", "index_price", "open_interest"),
    warmup=lambda p: p["window"],
    grid=window_grid(12),
)
def ix_premium_oi(
    mark_price: np.ndarray,
    index_price: np.ndarray,
    open_interest: np.ndarray,
    *,
    window: int,
) -> np.ndarray:
    """Mark-index premium times the `window`-bar OI log change."""
    premium = safe_div(mark_price, index_price) - 1.0
    return premium * log_change(open_interest, window)


@register_feature(
    category="interactions",
    inputs=("volume", "close"),
    warmup=lambda p: max(p["window"], 287),
    grid=window_grid(1, 12),
)
def ix_volume_ret(volume: np.ndarray, close: np.ndarray, *, window: int) -> np.ndarray:
    """Volume over `window` bars relative to normal (288-bar) times the log return."""
    rel = safe_div(rolling_sum(volume, window), window * rolling_mean(volume, 288))
    return rel * log_change(close, window)


@register_feature(
    category="interactions",
    inputs=("taker_buy_volume", "volume", "close"),
    warmup=lambda p: p["window"],
    grid=window_grid(12),
)
def ix_taker_ret(
    taker_buy: np.ndarray, volume: np.ndarray, close: np.ndarray, *, window: int
) -> np.ndarray:
    """Taker imbalance over `window` bars times the log return (aggressor follow-through)."""
    buy = rolling_sum(taker_buy, window)
    total = rolling_sum(volume, window)
    return safe_div(2.0 * buy - total, total) * log_change(close, window)


@register_feature(
    category="interactions",
    inputs=("close",),
    warmup=lambda p: max(p["window"], 288),
    grid=window_grid(12, 48),
)
def ix_vol_adj_ret(close: np.ndarray, *, window: int) -> np.ndarray:
    """`window`-bar log return over 288-bar realized vol * sqrt(window) (a t-stat)."""
    sigma = rolling_std(log_change(close, 1), 288)
    return safe_div(log_change(close, window), sigma * np.sqrt(window))


@register_feature(
    category="interactions",
    inputs=("long_short_ratio", "close"),
    warmup=lambda p: p["window"],
    grid=window_grid(12),
)
def ix_ls_ret(ratio: np.ndarray, close: np.ndarray, *, window: int) -> np.ndarray:
    """Change of log long/short ratio times the log return (crowd chasing price)."""
    return log_change(ratio, window) * log_change(close, window)
