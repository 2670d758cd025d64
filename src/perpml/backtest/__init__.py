"""Cost-aware, funding-exact backtest of out-of-sample predictions.

* :func:`run_backtest` — next-open fills, fees, slippage, funding at every settlement.
* :func:`positions_from_proba` — class probabilities -> target positions.
* :mod:`perpml.backtest.significance` — bootstrap Sharpe interval, PSR, DSR, null.
* :func:`backtest_run` — the step ``perpml run`` calls; writes ``backtest.json`` etc.

Conventions: ``docs/backtest.md``.
"""

from perpml.backtest.costs import break_even_fee, cost_sensitivity
from perpml.backtest.engine import BacktestResult, run_backtest
from perpml.backtest.positions import positions_from_proba, trade_signals
from perpml.backtest.run_step import (
    backtest_run,
    check_funding,
    simulator_oracle_proba,
)
from perpml.backtest.significance import (
    bootstrap_sharpe_interval,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from perpml.backtest.stats import bars_per_year, monthly_returns, performance_stats
from perpml.backtest.summary import BacktestSummary, load_backtest_summary

__all__ = [
    "BacktestResult",
    "BacktestSummary",
    "backtest_run",
    "bars_per_year",
    "bootstrap_sharpe_interval",
    "check_funding",
    "break_even_fee",
    "cost_sensitivity",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "load_backtest_summary",
    "monthly_returns",
    "performance_stats",
    "positions_from_proba",
    "probabilistic_sharpe_ratio",
    "run_backtest",
    "simulator_oracle_proba",
    "trade_signals",
]
