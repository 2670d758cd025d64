"""Fixtures for the feature tests: small canonical market frames, fixed seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# tests/strategies.py holds the shared hypothesis strategies; make it importable
# whatever pytest's rootdir / import mode is.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategies import random_walk_market


@pytest.fixture(scope="session")
def market() -> pd.DataFrame:
    """3,000 five-minute bars with every canonical column (clean, no NaN)."""
    return random_walk_market(3_000, seed=42)


@pytest.fixture(scope="session")
def price_only_market(market: pd.DataFrame) -> pd.DataFrame:
    """The same bars with only the required OHLCV columns."""
    return market[["open", "high", "low", "close", "volume"]].copy()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)
