"""Hand-computed proofs of the engine's accounting (fills, fees, slippage, funding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.backtest import run_backtest
from perpml.exceptions import ConfigError, DataContractError


def _market(opens, closes, *, start="2023-12-31 21:00", freq="1h", rate=0.001, **cols):
    idx = pd.date_range(
        start, periods=len(opens), freq=freq, tz="UTC", name="timestamp"
    )
    o = np.asarray(opens, dtype=float)
    c = np.asarray(closes, dtype=float)
    frame = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c),
            "low": np.minimum(o, c),
            "close": c,
            "volume": 1.0,
            "funding_rate": rate,
            **cols,
        },
        index=idx,
    )
    frame.attrs["interval"] = freq
    return frame


def test_two_trades_with_fees_slippage_and_one_funding_settlement() -> None:
    # 1h bars from 21:00; the 00:00 settlement falls in the bar opening 23:00.
    m = _market([100, 100, 110, 120, 120, 100], [100, 110, 120, 120, 100, 90])
    pos = pd.Series([1.0, 1.0, 0.0, -1.0, 0.0, 0.0], index=m.index)
    res = run_backtest(m, pos, fee_rate=0.001, slippage_bps=10.0, funding=True)
    eq = res.equity.to_numpy()

    # Trade 1: long filled at the 22:00 open, 100 * 1.001; 0.01 units (1.0 / 100).
    q1 = 0.01
    entry_costs = 0.001 * q1 * 100.1 + q1 * 100 * 0.001  # fee + slippage = 0.002001
    assert eq[0] == 1.0
    assert eq[1] == pytest.approx(1 - entry_costs + q1 * (110 - 100), abs=1e-12)
    funding = q1 * 120 * 0.001  # paid at the 00:00 settlement, valued at the close
    assert eq[2] == pytest.approx(1 - entry_costs + q1 * 20 - funding, abs=1e-12)
    exit_costs = 0.001 * q1 * 119.88 + q1 * 120 * 0.001  # sold at 120 * 0.999
    e_after_1 = 1 - entry_costs + q1 * 20 - funding - exit_costs
    assert e_after_1 == pytest.approx(1.1944002, abs=1e-12)
    assert eq[3] == pytest.approx(e_after_1, abs=1e-12)

    # Trade 2: short filled at the 01:00 open (120 * 0.999) with the whole equity.
    q2 = e_after_1 / 120
    entry2 = 0.001 * q2 * 119.88 + q2 * 120 * 0.001
    assert eq[4] == pytest.approx(e_after_1 - entry2 + q2 * (120 - 100), abs=1e-12)
    exit2 = 0.001 * q2 * 100.1 + q2 * 100 * 0.001  # bought back at 100 * 1.001
    final = e_after_1 - entry2 + q2 * 20 - exit2
    assert eq[5] == pytest.approx(final, abs=1e-12)

    t = res.trades
    assert list(t["side"]) == ["long", "short"]
    assert list(t["entry_time"]) == [m.index[1], m.index[4]]
    assert list(t["exit_time"]) == [m.index[3], m.index[5]]
    assert t["entry_price"].tolist() == pytest.approx([100.1, 119.88])
    assert t["exit_price"].tolist() == pytest.approx([119.88, 100.1])
    assert t["funding"].tolist() == pytest.approx([funding, 0.0], abs=1e-15)
    assert t["pnl"].tolist() == pytest.approx([e_after_1 - 1, final - e_after_1])
    assert t["pnl"].sum() == pytest.approx(eq[-1] - 1, abs=1e-12)
    s = res.stats
    assert s["n_trades"] == 2 and s["hit_rate"] == 1.0
    assert s["funding_paid"] == pytest.approx(funding)
    assert s["fees_paid"] == pytest.approx(
        0.001 * (q1 * 100.1 + q1 * 119.88 + q2 * 119.88 + q2 * 100.1)
    )
    assert s["n_settlements"] == 1
    assert s["total_return"] == pytest.approx(final - 1)


def test_signal_at_close_never_earns_that_bar() -> None:
    # Bar 1 jumps +50 %; a position decided at bar 1's close is filled at bar 2's open.
    m = _market([100, 100, 150, 150], [100, 150, 150, 150])
    pos = pd.Series([0.0, 1.0, 1.0, 0.0], index=m.index)
    res = run_backtest(m, pos, fee_rate=0.0, slippage_bps=0.0, funding=False)
    assert res.equity.tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])
    assert res.position.tolist() == [0.0, 0.0, 1.0, 1.0]
    # Decided one bar earlier, the same position earns the jump.
    early = run_backtest(
        m, pos.shift(-1).fillna(0.0), fee_rate=0.0, slippage_bps=0.0, funding=False
    )
    assert early.equity.iloc[1] == pytest.approx(1.5)


def test_zero_cost_always_long_equals_buy_and_hold_from_first_fill() -> None:
    rng = np.random.default_rng(42)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 500)))
    opens = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.001, 500))
    m = _market(opens, close, freq="5min", start="2024-01-01")
    m.attrs["interval"] = "5m"
    res = run_backtest(
        m, pd.Series(1.0, index=m.index), fee_rate=0.0, slippage_bps=0.0, funding=False
    )
    expected = close[1:] / opens[1]
    np.testing.assert_allclose(res.equity.to_numpy()[1:], expected, rtol=1e-12)
    assert res.stats["n_trades"] == 1


@pytest.mark.parametrize(
    ("side", "sign"),
    [pytest.param(1.0, -1, id="long-pays"), pytest.param(-1.0, 1, id="short-receives")],
)
def test_positive_funding_long_pays_short_receives(side: float, sign: int) -> None:
    # Flat price, 1h bars over 24h from 00:00: settlements at 08:00, 16:00, 00:00.
    n = 25
    m = _market([100.0] * n, [100.0] * n, start="2024-01-01 00:00", rate=0.0001)
    pos = pd.Series(side, index=m.index[:-1])
    res = run_backtest(m, pos, fee_rate=0.0, slippage_bps=0.0)
    assert res.stats["n_settlements"] == 3
    assert res.equity.iloc[-1] == pytest.approx(1 + sign * 3 * 0.0001, abs=1e-15)
    assert res.stats["funding_paid"] == pytest.approx(-sign * 3e-4)


def test_funding_valued_at_mark_price_when_present() -> None:
    m = _market(
        [100.0] * 4, [100.0] * 4, start="2023-12-31 22:00", rate=0.01, mark_price=200.0
    )
    res = run_backtest(m, pd.Series(1.0, index=m.index), fee_rate=0.0, slippage_bps=0.0)
    # 0.01 units * mark 200 * 1 % at the 00:00 settlement (bar opening 23:00).
    assert res.stats["funding_paid"] == pytest.approx(0.02)


def test_missing_funding_is_refused_or_flagged() -> None:
    m = _market([100.0] * 4, [100.0] * 4, start="2023-12-31 22:00")
    m.loc[m.index[1], "funding_rate"] = np.nan
    pos = pd.Series(1.0, index=m.index)
    with pytest.raises(DataContractError, match="allow_missing_funding"):
        run_backtest(m, pos)
    res = run_backtest(m, pos, allow_missing_funding=True)
    assert res.stats["funding_assumed_zero"] is True
    assert res.stats["funding_missing_settlements"] == 1
    assert res.stats["funding_paid"] == 0.0
    with pytest.raises(DataContractError, match="no `funding_rate` column"):
        run_backtest(m.drop(columns="funding_rate"), pos)
    assert run_backtest(m, pos, funding=False).stats["funding_included"] is False


def test_explicit_funding_times_replace_the_schedule() -> None:
    m = _market([100.0] * 6, [100.0] * 6, start="2024-01-01 00:00", rate=0.001)
    times = pd.DatetimeIndex(["2024-01-01 02:00", "2024-01-01 04:00"], tz="UTC")
    res = run_backtest(
        m,
        pd.Series(1.0, index=m.index),
        fee_rate=0,
        slippage_bps=0,
        funding_times=times,
    )
    assert res.stats["n_settlements"] == 2
    assert res.stats["funding_paid"] == pytest.approx(0.002)


def test_resize_trades_only_the_difference() -> None:
    m = _market([100.0] * 5, [100.0] * 5, start="2024-01-01 01:00")
    pos = pd.Series([1.0, 0.5, 0.5, 0.0, 0.0], index=m.index)
    res = run_backtest(m, pos, fee_rate=0.001, slippage_bps=0.0, funding=False)
    # traded notional: 1.0 in, then ~0.5 out, then ~0.5 out.
    assert res.stats["fees_paid"] == pytest.approx(0.001 * 2.0, rel=1e-3)
    assert res.trades["size"].tolist() == [1.0, 0.5]


def test_ruin_stops_the_account() -> None:
    m = _market([100, 100, 250, 250], [100, 250, 250, 250], start="2024-01-01 01:00")
    res = run_backtest(
        m, pd.Series(-1.0, index=m.index), fee_rate=0, slippage_bps=0, funding=False
    )
    assert res.stats["ruined"] is True
    assert res.equity.iloc[-1] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"fee_rate": -0.1}, ConfigError, "fee_rate", id="negative-fee"),
        pytest.param(
            {"max_leverage": 0.5}, ConfigError, "max_leverage", id="beyond-cap"
        ),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    m = _market([100.0] * 3, [100.0] * 3, start="2024-01-01 01:00")
    with pytest.raises(error, match=match):
        run_backtest(m, pd.Series(1.0, index=m.index), **kwargs)


def test_positions_off_the_market_index_are_refused() -> None:
    m = _market([100.0] * 3, [100.0] * 3, start="2024-01-01 01:00")
    other = pd.Series(1.0, index=m.index + pd.Timedelta(minutes=30))
    with pytest.raises(DataContractError, match="bar open times"):
        run_backtest(m, other)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_engine_matches_a_plain_loop(seed: int) -> None:
    from tests.backtest._reference import reference_equity

    rng = np.random.default_rng(seed)
    n = 3000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    opens = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 2e-4, n))
    rate = rng.normal(1e-4, 3e-4, n)
    mark = close * (1 + rng.normal(0, 1e-4, n))
    m = _market(
        opens, close, freq="5min", start="2024-01-01", rate=rate, mark_price=mark
    )
    m.attrs["interval"] = "5m"
    levels = np.array([-1.0, -0.5, 0.0, 0.0, 0.3, 1.0])
    target = np.repeat(rng.choice(levels, n // 6 + 1), 6)[:n]
    res = run_backtest(
        m, pd.Series(target, index=m.index), fee_rate=5e-4, slippage_bps=1.0
    )
    counts = ((m.index + pd.Timedelta("5min")).hour % 8 == 0) & (
        (m.index + pd.Timedelta("5min")).minute == 0
    )
    expected = reference_equity(
        opens, close, mark, np.where(counts, rate, 0.0), target, fee=5e-4, slip=1e-4
    )
    np.testing.assert_allclose(res.equity.to_numpy(), expected, rtol=1e-11)


def test_check_funding_fails_fast() -> None:
    from perpml.backtest import check_funding
    from perpml.config import BacktestConfig

    m = _market([100.0] * 4, [100.0] * 4, start="2023-12-31 22:00")
    assert check_funding(m, BacktestConfig()) == 0
    m = m.drop(columns="funding_rate")
    with pytest.raises(DataContractError, match="funding"):
        check_funding(m, BacktestConfig())
    assert check_funding(m, BacktestConfig(allow_missing_funding=True)) == 1
    assert check_funding(m, BacktestConfig(funding=False)) == 0
    assert check_funding(m, BacktestConfig(enabled=False)) == 0
