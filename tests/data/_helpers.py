"""Small deterministic market frames shared by the data-layer tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd


def make_market(
    n: int = 12, *, start: str = "2024-01-01 07:00", freq: str = "5min", seed: int = 42
) -> pd.DataFrame:
    """A valid canonical frame of ``n`` bars with one optional column."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    close = 100 + rng.normal(0, 1, n).cumsum()
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.fmax(open_, close) + 0.5,
            "low": np.fmin(open_, close) - 0.5,
            "close": close,
            "volume": rng.uniform(1, 2, n),
            "open_interest": np.r_[np.nan, rng.uniform(10, 11, n - 1)],
        },
        index=index,
    )


def binance_klines(
    n: int = 48, *, start: str = "2024-01-01", freq: str = "5min", seed: int = 42
) -> pd.DataFrame:
    """A Binance-layout kline table (``open_time`` ... ``ignore``, ms epochs)."""
    rng = np.random.default_rng(seed)
    opens = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    step_ms = int(pd.Timedelta(freq).total_seconds() * 1000)
    close = 2300 * np.exp(rng.normal(0, 0.001, n).cumsum())
    open_ = np.r_[2300.0, close[:-1]]
    volume = rng.uniform(500, 1500, n).round(3)
    open_ms = opens.as_unit("ms").asi8
    return pd.DataFrame(
        {
            "open_time": open_ms,
            "open": open_.round(2),
            "high": (np.fmax(open_, close) + 0.5).round(2),
            "low": (np.fmin(open_, close) - 0.5).round(2),
            "close": close.round(2),
            "volume": volume,
            "close_time": open_ms + step_ms - 1,
            "quote_volume": (volume * close).round(2),
            "count": rng.integers(1000, 3000, n),
            "taker_buy_volume": (volume / 2).round(3),
            "taker_buy_quote_volume": (volume * close / 2).round(2),
            "ignore": 0,
        }
    )


def real_data_dir() -> Path | None:
    """The shared real-data folder, if this machine has it.

    ``$PERPML_REAL_DATA`` when set, else ``<repository root>/../shared/data/real``;
    None when neither exists (tests using it skip, saying so).
    """
    env = os.environ.get("PERPML_REAL_DATA")
    candidate = Path(env) if env else ROOT.parent / "shared" / "data" / "real"
    return candidate if candidate.is_dir() else None


#: The repository root (tests/data/_helpers.py -> two levels up).
ROOT = Path(__file__).resolve().parents[2]
