"""Annualisation on 365 days and the summary statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.backtest.stats import (
    bars_per_year,
    max_drawdown,
    monthly_returns,
    performance_stats,
    sharpe_ratio,
)


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        pytest.param("5m", 105_120.0, id="5m"),
        pytest.param("1h", 8_760.0, id="1h"),
        pytest.param("1d", 365.0, id="1d"),
    ],
)
def test_bars_per_year(interval: str, expected: float) -> None:
    assert bars_per_year(interval) == expected


@pytest.mark.parametrize(
    ("interval", "freq"),
    [
        pytest.param("5m", "5min", id="5m"),
        pytest.param("1h", "1h", id="1h"),
        pytest.param("1d", "1D", id="1d"),
    ],
)
def test_annualised_figures(interval: str, freq: str) -> None:
    ppy = bars_per_year(interval)
    n = int(ppy)  # one year of bars -> the equity doubles over exactly one year
    growth = 2.0 ** (1.0 / n)
    rng = np.random.default_rng(42)
    noise = rng.normal(0, 1e-4, n)
    rets = growth * (1 + noise - noise.mean()) - 1
    equity = pd.Series(
        np.concatenate(([1.0], np.cumprod(1 + rets))),
        index=pd.date_range("2024-01-01", periods=n + 1, freq=freq, tz="UTC"),
    )
    s = performance_stats(equity, interval=interval)
    assert s["years"] == pytest.approx(1.0)
    assert s["annual_return"] == pytest.approx(equity.iloc[-1] - 1.0, rel=1e-9)
    assert s["sharpe"] == pytest.approx(rets.mean() / rets.std(ddof=1) * np.sqrt(ppy))
    assert s["annual_volatility"] == pytest.approx(rets.std(ddof=1) * np.sqrt(ppy))


def test_drawdown_calmar_and_sharpe_edge_cases() -> None:
    e = np.array([1.0, 1.2, 0.9, 1.0, 1.5])
    assert max_drawdown(e) == pytest.approx(0.9 / 1.2 - 1)
    assert np.isnan(sharpe_ratio(np.zeros(10)))
    eq = pd.Series(e, index=pd.date_range("2024-01-01", periods=5, freq="1D", tz="UTC"))
    s = performance_stats(eq, interval="1d")
    assert s["calmar"] == pytest.approx(s["annual_return"] / 0.25)


def test_monthly_returns_compound_within_month() -> None:
    idx = pd.date_range("2024-01-30", periods=4, freq="1D", tz="UTC")  # Jan 30 .. Feb 2
    eq = pd.Series([1.0, 1.1, 1.21, 1.331], index=idx)
    table = monthly_returns(eq)
    # a bar's return counts in the month its bar opens (Jan 31's bar -> January)
    assert table.loc[2024, 1] == pytest.approx(0.1)
    assert table.loc[2024, 2] == pytest.approx(0.21)
    assert table.loc[2024, "year"] == pytest.approx(0.331)
    assert np.isnan(table.loc[2024, 3])
