"""Positioning features: global and top-trader long/short ratios, taker buy/sell ratio.

Ratios are used in logs, so a crowd that is 2:1 long and one that is 1:2 long are
symmetric around 0. Snapshots belong to the bar that closes at their stamp.
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
    safe_log,
)
from perpml.features.registry import register_feature, window_grid

_RATIO_COLUMNS = {
    "ls": "long_short_ratio",
    "top_ls": "top_trader_long_short_ratio",
    "taker_ls": "taker_long_short_ratio",
}


def _register_ratio_family(short: str, column: str) -> None:
    # The three ratio feeds get the same family of features; registering them in a
    # loop keeps one definition (adding a feed = one dict entry).
    def level(ratio: np.ndarray) -> np.ndarray:
        return safe_log(ratio)

    level.__doc__ = f"Log of {column}."
    register_feature(
        category="positioning", inputs=(column,), warmup=0, name=f"pos_{short}_log"
    )(level)

    def change(ratio: np.ndarray, *, window: int) -> np.ndarray:
        return diff(safe_log(ratio), window)

    change.__doc__ = f"Change of log {column} over `window` bars."
    register_feature(
        category="positioning",
        inputs=(column,),
        warmup=lambda p: p["window"],
        grid=window_grid(12, 96),
        name=f"pos_{short}_change",
    )(change)

    def zscore(ratio: np.ndarray, *, window: int) -> np.ndarray:
        return rolling_zscore(safe_log(ratio), window)

    zscore.__doc__ = f"Z-score of log {column} against the last `window` bars."
    register_feature(
        category="positioning",
        inputs=(column,),
        warmup=lambda p: p["window"] - 1,
        grid=window_grid(96, 288),
        name=f"pos_{short}_zscore",
    )(zscore)

    def mean(ratio: np.ndarray, *, window: int) -> np.ndarray:
        return rolling_mean(safe_log(ratio), window)

    mean.__doc__ = f"Mean of log {column} over the last `window` bars."
    register_feature(
        category="positioning",
        inputs=(column,),
        warmup=lambda p: p["window"] - 1,
        grid=window_grid(12, 48),
        name=f"pos_{short}_mean",
    )(mean)

    def range_pos(ratio: np.ndarray, *, window: int) -> np.ndarray:
        hi = rolling_max(ratio, window)
        lo = rolling_min(ratio, window)
        return safe_div(ratio - lo, hi - lo)

    range_pos.__doc__ = f"Position of {column} in its `window`-bar range, 0..1."
    register_feature(
        category="positioning",
        inputs=(column,),
        warmup=lambda p: p["window"] - 1,
        grid=window_grid(288),
        name=f"pos_{short}_range_pos",
    )(range_pos)


for _short, _column in _RATIO_COLUMNS.items():
    _register_ratio_family(_short, _column)


@register_feature(
    category="positioning",
    inputs=("top_trader_long_short_ratio", "long_short_ratio"),
    warmup=0,
)
def pos_top_vs_global(top: np.ndarray, global_: np.ndarray) -> np.ndarray:
    """Top traders versus everyone, log(top ratio / global ratio)."""
    return safe_log(safe_div(top, global_))


@register_feature(
    category="positioning",
    inputs=("top_trader_long_short_ratio", "long_short_ratio"),
    warmup=lambda p: p["window"] - 1,
    grid=window_grid(288),
)
def pos_top_vs_global_zscore(
    top: np.ndarray, global_: np.ndarray, *, window: int
) -> np.ndarray:
    """Z-score of log(top ratio / global ratio) against the last `window` bars."""
    return rolling_zscore(safe_log(safe_div(top, global_)), window)
