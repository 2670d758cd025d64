"""Shared hypothesis strategies and small deterministic market generators for tests.

Import from tests as ``from strategies import ...`` (tests/ is put on ``sys.path`` by
the conftest of the package that uses it).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from perpml.data.schema import CANONICAL_COLUMNS, INDEX_NAME


def random_walk_market(
    n_bars: int,
    *,
    seed: int = 42,
    interval: str = "5m",
    start: str = "2024-01-01 00:00",
) -> pd.DataFrame:
    """Return a canonical market frame with every column, driven by random walks.

    Parameters
    ----------
    n_bars : int
        Number of bars.
    seed : int
        Seed of ``np.random.default_rng``; same seed, same frame.
    interval : str
        Bar length (a key of :data:`perpml.data.schema.INTERVALS`).
    start : str
        Open time of the first bar, UTC.

    Returns
    -------
    DataFrame of shape (n_bars, 20), indexed by bar open time, UTC
        Clean (no NaN) float64 columns obeying the OHLC and taker/volume relations;
        funding is a step function settled every 8 h at 00/08/16 UTC (carried forward).
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n_bars, freq=pd.Timedelta(interval), tz="UTC")
    index.name = INDEX_NAME
    ret = rng.standard_t(5, n_bars) * 0.002
    close = 30_000.0 * np.exp(np.cumsum(ret))
    open_ = np.concatenate([[close[0] / np.exp(ret[0])], close[:-1]])
    wiggle = np.abs(rng.normal(0.0, 0.0015, (2, n_bars)))
    high = np.maximum(open_, close) * np.exp(wiggle[0])
    low = np.minimum(open_, close) * np.exp(-wiggle[1])
    volume = np.exp(rng.normal(3.0, 0.5, n_bars))
    taker_buy = volume * rng.uniform(0.2, 0.8, n_bars)
    trades = np.round(volume * rng.uniform(20, 40, n_bars)) + 1.0
    open_interest = 1e5 * np.exp(np.cumsum(rng.normal(0.0, 0.003, n_bars)))
    premium = 0.0002 + np.cumsum(rng.normal(0, 5e-5, n_bars)) * 0.1
    index_price = close * np.exp(rng.normal(0.0, 2e-4, n_bars))
    mark_price = index_price * (1.0 + premium)
    # funding: settles at 00/08/16 UTC; the settled value counts from the bar whose
    # close is at or after the settlement (THE TIME RULE) and is carried forward
    close_ns = index.as_unit("ns").asi8 + pd.Timedelta(interval).value
    period = 8 * 3_600 * 1_000_000_000
    settlement = close_ns // period
    draws = rng.normal(1e-4, 1.5e-4, int(settlement.max() - settlement.min()) + 1)
    funding = draws[settlement - settlement.min()]
    ls = np.exp(np.cumsum(rng.normal(0, 0.01, n_bars)) * 0.3 + 0.1)
    top_ls = ls * np.exp(rng.normal(0.05, 0.05, n_bars))
    taker_ls = taker_buy / (volume - taker_buy)
    # liquidations: mostly empty bars, occasional bursts against the bar's move
    n_liq = rng.poisson(0.3 * (1.0 + 200.0 * np.abs(ret)), n_bars).astype(float)
    liq_size = n_liq * np.exp(rng.normal(-3.0, 1.0, n_bars))
    falling = ret < 0
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "quote_volume": volume * close,
            "trades": trades,
            "taker_buy_volume": taker_buy,
            "taker_buy_quote_volume": taker_buy * close,
            "open_interest": open_interest,
            "open_interest_value": open_interest * close,
            "funding_rate": funding,
            "long_short_ratio": ls,
            "top_trader_long_short_ratio": top_ls,
            "taker_long_short_ratio": taker_ls,
            "mark_price": mark_price,
            "index_price": index_price,
            "liquidation_long_volume": np.where(falling, liq_size, 0.0),
            "liquidation_short_volume": np.where(falling, 0.0, liq_size),
            "liquidation_count": n_liq,
        },
        index=index,
    )
    frame = frame[list(CANONICAL_COLUMNS)]
    frame.attrs = {"symbol": "TESTUSDT", "interval": interval, "source": "random_walk"}
    return frame


@lru_cache(maxsize=8)
def cached_random_walk_market(n_bars: int, seed: int) -> pd.DataFrame:
    """:func:`random_walk_market` memoised (callers must not mutate the frame)."""
    return random_walk_market(n_bars, seed=seed)


@lru_cache(maxsize=8)
def simulated_market(n_bars: int, seed: int) -> pd.DataFrame:
    """A 5-minute market of ``n_bars`` bars from the simulator for ``seed``.

    Uses :func:`perpml.data.sources.synthetic.simulate_market` (the realistic
    generator with funding settlements, OI and liquidation cascades) and falls back to
    :func:`random_walk_market` where the simulator is not available. Memoised: callers
    must not mutate the frame.
    """
    try:
        from perpml.data.sources.synthetic import simulate_market
    except ImportError:
        return random_walk_market(n_bars, seed=seed)
    frame = simulate_market(days=n_bars * 5 / 1440, interval="5m", seed=seed).frame
    return frame.iloc[:n_bars]


def market_seeds() -> st.SearchStrategy[int]:
    """Seeds for generated markets (a small pool, so generation is cached)."""
    return st.integers(min_value=0, max_value=3)


def truncation_points(n_bars: int) -> st.SearchStrategy[int]:
    """Last kept row ``T`` of a prefix ``iloc[:T+1]``, biased to the edges."""
    return st.one_of(
        st.integers(min_value=0, max_value=n_bars - 1),
        st.sampled_from([0, 1, 2, n_bars // 2, n_bars - 2, n_bars - 1]),
    )
