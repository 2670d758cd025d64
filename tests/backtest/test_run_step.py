"""backtest_run edge cases (the simulator proofs are in test_simulator.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from perpml.backtest import backtest_run
from perpml.config import BacktestConfig
from perpml.data import load_market_data
from perpml.exceptions import ConfigError, DataContractError


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return load_market_data("synthetic", days=3, seed=1)


def _flat_proba(index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({0: 0.3, 1: 0.4, 2: 0.3}, index=index)


def test_a_strategy_that_never_trades(market: pd.DataFrame, tmp_path: Path) -> None:
    idx = market.index[400:800]
    s = backtest_run(
        market,
        _flat_proba(idx),
        horizon=12,
        n_trials=1,
        config=BacktestConfig(),
        out_dir=tmp_path,
    )
    assert s.net_return == 0.0
    assert "never traded" in s.verdict_line()
    assert not s.dsr_passes and not s.beats_null
    payload = json.loads((tmp_path / "backtest.json").read_text())
    assert payload["lines"]["strategy"]["n_trades"] == 0
    assert payload["break_even_fee"] is None


def test_bad_inputs(market: pd.DataFrame, tmp_path: Path) -> None:
    idx = market.index[400:800]
    with pytest.raises(ConfigError, match="n_trials"):
        backtest_run(
            market,
            _flat_proba(idx),
            horizon=12,
            n_trials=0,
            config=BacktestConfig(),
            out_dir=tmp_path,
        )
    other = _flat_proba(idx + pd.Timedelta(days=30))
    with pytest.raises(DataContractError, match="bars of `market`"):
        backtest_run(
            market,
            other,
            horizon=12,
            n_trials=1,
            config=BacktestConfig(),
            out_dir=tmp_path,
        )
    no_funding = market.drop(columns="funding_rate")
    no_funding.attrs = dict(market.attrs)
    with pytest.raises(DataContractError, match="allow_missing_funding"):
        backtest_run(
            no_funding,
            _flat_proba(idx),
            horizon=12,
            n_trials=1,
            config=BacktestConfig(),
            out_dir=tmp_path,
        )
