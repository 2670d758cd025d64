"""Funding-rate and basis features: funding level/z-scores, mark-index premium, basis.

``funding_rate`` is the last *settled* rate, carried forward from its settlement bar
(THE TIME RULE), so it is a step function; windows are long enough (>= 1 day on 5m
bars) to contain several settlements. The mark-index premium is the intra-period driver
of the next funding rate and is known every bar.
"""

from __future__ import annotations

import numpy as np

from perpml.features.kernels import (
    diff,
    rolling_mean,
    rolling_zscore,
    safe_div,
)
from perpml.features.registry import register_feature, window_grid


@register_feature(category="funding", inputs=("funding_rate",), warmup=0)
def funding_rate(funding_rate: np.ndarray) -> np.ndarray:
    """Last settled funding rate (fraction per funding period)."""
    return np.array(funding_rate, dtype=np.float64)


@register_feature(
    category="funding",
    inputs=("funding_rate",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(288, 864, 1440),
)
def funding_zscore(funding_rate: np.ndarray, *, window: int) -> np.ndarray:
    """Z-score of the funding rate against the last `window` bars (0 if constant)."""
    return rolling_zscore(funding_rate, window)


@register_feature(
    category="funding",
    inputs=("funding_rate",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(288, 864),
)
def funding_mean(funding_rate: np.ndarray, *, window: int) -> np.ndarray:
    """Mean funding rate over the last `window` bars."""
    return rolling_mean(funding_rate, window)


@register_feature(
    category="funding",
    inputs=("funding_rate",),
    warmup=lambda p: p["window"],
    grid=window_grid(96, 288),
)
def funding_change(funding_rate: np.ndarray, *, window: int) -> np.ndarray:
    """Funding rate minus the rate `window` bars earlier."""
    return diff(funding_rate, window)


@register_feature(
    category="funding",
    inputs=("funding_rate",),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(864),
)
def funding_positive_share(funding_rate: np.ndarray, *, window: int) -> np.ndarray:
    """Share of the last `window` bars with positive funding (longs paying)."""
    pos = np.where(np.isnan(funding_rate), np.nan, (funding_rate > 0).astype(float))
    return rolling_mean(pos, window)


def _premium(mark_price: np.ndarray, index_price: np.ndarray) -> np.ndarray:
    return safe_div(mark_price, index_price) - 1.0


@register_feature(category="funding", inputs=("mark_price", "index_price"), warmup=0)
def funding_premium(mark_price: np.ndarray, index_price: np.ndarray) -> np.ndarray:
    """Mark-index premium, mark / index - 1."""
    return _premium(mark_price, index_price)


@register_feature(
    category="funding",
    inputs=("mark_price", "index_price"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(12, 96),
)
def funding_premium_mean(
    mark_price: np.ndarray, index_price: np.ndarray, *, window: int
) -> np.ndarray:
    """Mean mark-index premium over `window` bars (drives the next funding rate)."""
    return rolling_mean(_premium(mark_price, index_price), window)


@register_feature(
    category="funding",
    inputs=("mark_price", "index_price"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(96, 288),
)
def funding_premium_zscore(
    mark_price: np.ndarray, index_price: np.ndarray, *, window: int
) -> np.ndarray:
    """Z-score of the mark-index premium against the last `window` bars."""
    return rolling_zscore(_premium(mark_price, index_price), window)


@register_feature(category="funding", inputs=("close", "index_price"), warmup=0)
def funding_basis(close: np.ndarray, index_price: np.ndarray) -> np.ndarray:
    """Perp-index basis of the last trade, close / index - 1."""
    return safe_div(close, index_price) - 1.0


@register_feature(
    category="funding",
    inputs=("close", "index_price"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(288),
)
def funding_basis_zscore(
    close: np.ndarray, index_price: np.ndarray, *, window: int
) -> np.ndarray:
    """Z-score of the close-index basis against the last `window` bars."""
    return rolling_zscore(safe_div(close, index_price) - 1.0, window)


@register_feature(category="funding", inputs=("close", "mark_price"), warmup=0)
def funding_mark_spread(close: np.ndarray, mark_price: np.ndarray) -> np.ndarray:
    """Last trade relative to the mark price, close / mark - 1."""
    return safe_div(close, mark_price) - 1.0


@register_feature(
    category="funding",
    inputs=("mark_price", "index_price", "funding_rate"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(96),
)
def funding_premium_gap(
    mark_price: np.ndarray,
    index_price: np.ndarray,
    funding_rate: np.ndarray,
    *,
    window: int,
) -> np.ndarray:
    """Mean premium over `window` bars minus the last settled funding rate."""
    return rolling_mean(_premium(mark_price, index_price), window) - funding_rate
