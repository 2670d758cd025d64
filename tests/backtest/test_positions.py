"""From class probabilities to positions: entry beats round-trip cost, hold, flip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.backtest import positions_from_proba, trade_signals
from perpml.exceptions import DataContractError


def _market(n: int = 400) -> pd.DataFrame:
    # alternating +-1 % bars: the mean |4-bar log move| is known and constant
    idx = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    steps = np.where(np.arange(n) % 8 < 4, 0.01, -0.01)
    close = 100 * np.exp(np.cumsum(steps))
    return pd.DataFrame({"open": close, "close": close}, index=idx)


def _proba(index: pd.DatetimeIndex, edge_rows: dict[int, float]) -> pd.DataFrame:
    """p_long - p_short = value at the given rows, 0 elsewhere."""
    diff = np.zeros(len(index))
    for row, value in edge_rows.items():
        diff[row] = value
    p_long = 0.3 + diff / 2
    p_short = 0.3 - diff / 2
    return pd.DataFrame({0: p_short, 1: 1 - p_short - p_long, 2: p_long}, index=index)


def test_entry_only_when_edge_beats_round_trip_cost() -> None:
    m = _market()
    tail = m.index[300:]
    sig = trade_signals(
        _proba(tail, {10: 0.5, 40: 0.01, 70: -0.5}), m, horizon=4, vol_window=64
    )
    # the mean |4-bar move| is ~0.02 here: edge 0.5 * 0.02 = 1e-2 > 2.2e-3 cost
    assert sig["edge"].iloc[10] == pytest.approx(0.5 * 0.02)
    assert sig["signal"].iloc[10] == 1.0
    assert sig["signal"].iloc[40] == 0.0  # 0.01 * 0.02 = 2e-4 < round-trip cost
    assert sig["signal"].iloc[70] == -1.0
    # a higher threshold multiple blocks the entry
    strict = trade_signals(
        _proba(tail, {10: 0.5}), m, horizon=4, vol_window=64, entry_threshold=10.0
    )
    assert (strict["signal"] == 0).all()


def test_hold_for_horizon_extend_and_flip() -> None:
    m = _market()
    tail = m.index[300:]
    pos = positions_from_proba(
        _proba(tail, {10: 0.5, 12: 0.5, 20: 0.5, 22: -0.5}), m, horizon=4, vol_window=64
    )
    p = pos.to_numpy()
    assert (p[:10] == 0).all()
    assert (p[10:16] == 1).all()  # signal at 10, refreshed at 12 -> held to 15
    assert (p[16:20] == 0).all()
    assert (p[20:22] == 1).all()
    assert (p[22:26] == -1).all()  # the opposite signal flips at once
    assert (p[26:] == 0).all()


def test_column_names_and_nan_rows() -> None:
    m = _market()
    tail = m.index[300:]
    base = _proba(tail, {10: 0.5})
    named = base.rename(columns={0: "SHORT", 1: "NEUTRAL", 2: "LONG"})
    prefixed = base.rename(columns={0: "p_short", 1: "p_neutral", 2: "p_long"})
    a = positions_from_proba(base, m, horizon=4, vol_window=64)
    assert a.equals(positions_from_proba(named, m, horizon=4, vol_window=64))
    assert a.equals(positions_from_proba(prefixed, m, horizon=4, vol_window=64))
    base.iloc[10] = np.nan
    assert (positions_from_proba(base, m, horizon=4, vol_window=64) == 0).all()
    with pytest.raises(DataContractError, match="SHORT and a LONG"):
        positions_from_proba(base[[1]], m, horizon=4)


def test_vol_sizing_is_fixed_for_a_hold_and_capped() -> None:
    rng = np.random.default_rng(42)
    n = 600
    idx = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    vol = np.where(np.arange(n) < 450, 0.002, 0.02)  # volatility jumps 10x
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1, n) * vol))
    m = pd.DataFrame({"open": close, "close": close}, index=idx)
    tail = idx[300:]
    proba = _proba(tail, {r: 0.6 for r in range(0, 300, 3)})
    pos = positions_from_proba(
        proba, m, horizon=6, vol_window=32, vol_sizing=True, max_leverage=2.0
    ).to_numpy()
    assert np.all(np.abs(pos) <= 2.0)
    assert len(np.unique(pos[pos != 0])) == 1  # one long run -> one size


def test_precomputed_market_terms_give_the_same_positions() -> None:
    from perpml.backtest.positions import market_terms
    from perpml.exceptions import ConfigError

    m = _market()
    tail = m.index[300:]
    proba = _proba(tail, {10: 0.5, 70: -0.5})
    terms = market_terms(m, tail, horizon=4, vol_window=64)
    direct = positions_from_proba(proba, m, horizon=4, vol_window=64)
    assert direct.equals(
        positions_from_proba(proba, m, horizon=4, vol_window=64, terms=terms)
    )
    with pytest.raises(ConfigError, match="market_terms"):
        positions_from_proba(proba, m, horizon=6, vol_window=64, terms=terms)
