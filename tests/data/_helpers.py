"""Small deterministic market frames shared by the data-layer tests."""

from __future__ import annotations

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
