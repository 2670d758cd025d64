"""On the simulator: the oracle's planted signal survives costs, noise does not.

The simulator in this checkout has no ``signal_strength`` switch yet (issue 8), so the
no-signal case uses random class probabilities on the same bars.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.backtest import (
    BacktestSummary,
    backtest_run,
    load_backtest_summary,
    simulator_oracle_proba,
)
from perpml.config import BacktestConfig
from perpml.data import load_market_data
from perpml.data.sources.synthetic import market_from_attrs
from perpml.exceptions import ArtifactError

HORIZON = 12
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def market_and_truth() -> tuple[pd.DataFrame, pd.DataFrame]:
    market = load_market_data("synthetic", days=12, seed=5)
    truth = market_from_attrs(market).truth(horizon=HORIZON, n_paths=32)
    # the second half plays the out-of-sample period
    oos = truth.iloc[len(truth) // 2 : -HORIZON][["p_short", "p_neutral", "p_long"]]
    return market, oos


@pytest.fixture(scope="module")
def oracle_summary(
    market_and_truth: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[BacktestSummary, Path]:
    market, oos = market_and_truth
    out = tmp_path_factory.mktemp("oracle")
    summary = backtest_run(
        market,
        oos,
        horizon=HORIZON,
        n_trials=5,
        oracle_proba=oos,
        config=BacktestConfig(),
        out_dir=out,
    )
    return summary, out


def test_oracle_net_sharpe_beats_the_shuffled_null(
    oracle_summary: tuple[BacktestSummary, Path],
) -> None:
    s, _ = oracle_summary
    assert s.sharpe > 0
    assert s.net_return > 0
    assert s.sharpe > s.null_p95
    assert s.null_percentile >= 95
    assert s.beats_null
    assert s.dsr > 0.95
    assert s.oracle_sharpe == pytest.approx(s.sharpe)


def test_random_probabilities_do_not_survive(
    market_and_truth: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    market, oos = market_and_truth
    rng = np.random.default_rng(42)
    noise = pd.DataFrame(
        rng.dirichlet([8.0, 8.0, 8.0], size=len(oos)),
        index=oos.index,
        columns=["p_short", "p_neutral", "p_long"],
    )
    s = backtest_run(
        market,
        noise,
        horizon=HORIZON,
        n_trials=5,
        config=BacktestConfig(),
        out_dir=tmp_path,
    )
    assert s.sharpe < s.null_p95
    assert not s.beats_null
    assert s.dsr < 0.95
    assert not s.dsr_passes
    assert s.net_return < 0


def test_run_step_writes_strict_json_trades_and_plots(
    oracle_summary: tuple[BacktestSummary, Path],
) -> None:
    s, out = oracle_summary

    def refuse(value: str) -> None:
        raise AssertionError(f"non-strict JSON constant {value}")

    payload = json.loads((out / "backtest.json").read_text(), parse_constant=refuse)
    assert set(payload["lines"]) == {
        "strategy",
        "buy_and_hold",
        "always_flat",
        "oracle",
    }
    assert payload["lines"]["always_flat"]["sharpe"] is None  # NaN -> null
    assert len(payload["significance"]["null_sharpes"]) == 200
    assert payload["significance"]["null_block_bars"] >= HORIZON
    assert payload["verdict"] == s.verdict_line()
    assert len(payload["cost_sensitivity"]) == 9
    trades = pd.read_csv(out / "backtest_trades.csv")
    assert {"entry_time", "exit_time", "side", "size", "fees", "funding", "pnl"} <= set(
        trades
    )
    assert len(trades) == payload["lines"]["strategy"]["n_trades"]
    for name in ("equity", "monthly", "costs", "cost_sensitivity", "null"):
        assert (out / f"backtest_{name}.png").stat().st_size > 1000
    fragment = s.html_fragment()
    assert "data:image/png;base64," in fragment and "Backtest" in fragment
    assert "backtest_equity.png" in s.html_fragment(embed=False)
    assert s.break_even_fee is not None and s.break_even_fee > 0
    loaded = load_backtest_summary(out)
    assert loaded.verdict_line() == s.verdict_line()
    assert loaded.html_fragment(embed=False) == s.html_fragment(embed=False)


def test_load_backtest_summary_missing(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="backtest.json"):
        load_backtest_summary(tmp_path)


def test_simulator_oracle_proba(
    market_and_truth: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    market, oos = market_and_truth
    index = oos.index[:50]
    got = simulator_oracle_proba(market, index, horizon=HORIZON, n_paths=32)
    assert got is not None
    pd.testing.assert_frame_equal(got, oos.iloc[:50])
    real = market.copy()
    real.attrs = {"source": "file"}
    assert simulator_oracle_proba(real, index, horizon=HORIZON) is None
