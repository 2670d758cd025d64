"""Cost sensitivity and the break-even fee; the log-scale rule of the equity plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.backtest import break_even_fee, cost_sensitivity, run_backtest
from perpml.backtest.plots import use_log_scale


def _runner(gain: float):  # type: ignore[no-untyped-def]
    idx = pd.date_range("2024-01-01 01:00", periods=4, freq="1h", tz="UTC")
    close = np.array([100.0, 100.0, 100.0 * (1 + gain), 100.0 * (1 + gain)])
    opens = np.concatenate(([100.0], close[:-1]))
    m = pd.DataFrame({"open": opens, "close": close}, index=idx)
    m.attrs["interval"] = "1h"
    pos = pd.Series(
        [1.0, 1.0, 0.0, 0.0], index=idx
    )  # long from bar 1's open to bar 3's

    def run(fee: float):  # type: ignore[no-untyped-def]
        return run_backtest(m, pos, fee_rate=fee, slippage_bps=0.0, funding=False)

    return run


def test_sensitivity_falls_with_the_fee_and_break_even_is_zero_return() -> None:
    run = _runner(0.01)
    table = cost_sensitivity(run, 0.0005)
    assert table["fee_multiple"].tolist() == pytest.approx(np.arange(0, 2.01, 0.25))
    assert (np.diff(table["total_return"]) < 0).all()
    fee = break_even_fee(run)
    assert fee is not None
    # 0.01 units bought at 100 for fee f, sold at 101 for fee 1.01 f:
    # 1 - f + 0.01 - 1.01 f = 1  ->  f = 0.01 / 2.01
    assert fee == pytest.approx(0.01 / 2.01, abs=1e-6)
    assert run(fee).stats["total_return"] == pytest.approx(0.0, abs=1e-5)


def test_break_even_none_when_losing_at_zero_fee() -> None:
    assert break_even_fee(_runner(-0.01)) is None


def test_log_scale_only_for_wide_ranges() -> None:
    idx = pd.date_range("2024-01-01", periods=3, freq="1D", tz="UTC")
    assert not use_log_scale({"a": pd.Series([1.0, 1.5, 2.0], index=idx)})
    assert use_log_scale({"a": pd.Series([1.0, 3.0, 9.0], index=idx)})
