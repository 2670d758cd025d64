"""The backtest step of ``perpml run``: one call, files in the run directory.

:func:`backtest_run` turns out-of-sample probabilities into positions, backtests them
net of fees, slippage and funding next to buy-and-hold, always-flat, a shuffled-signal
null and (on the simulator) the oracle, computes the Sharpe interval, PSR and DSR and
the cost sensitivity, and writes ``backtest.json``, ``backtest_trades.csv``,
``backtest_equity.csv`` and the PNGs into ``out_dir``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.backtest import plots
from perpml.backtest.costs import break_even_fee, cost_sensitivity
from perpml.backtest.engine import BacktestResult, run_backtest
from perpml.backtest.positions import market_terms, positions_from_proba
from perpml.backtest.significance import (
    bootstrap_sharpe_interval,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    null_distribution,
    percentile_of,
    probabilistic_sharpe_ratio,
    return_moments,
)
from perpml.backtest.stats import bars_per_year, monthly_returns
from perpml.backtest.summary import SCALARS, BacktestSummary, trades_summary
from perpml.config import BacktestConfig
from perpml.data.schema import infer_interval
from perpml.exceptions import ConfigError
from perpml.rundir.io import write_text_atomic

__all__ = ["backtest_run", "check_funding", "simulator_oracle_proba"]

_TABLE_KEYS = (
    "total_return",
    "annual_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "hit_rate",
    "n_trades",
    "exposure",
    "turnover",
    "fees_paid",
    "slippage_paid",
    "funding_paid",
)


def _strict(value: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, paths -> str."""
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_strict(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return value.name
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _engine(config: BacktestConfig, *, fee: float | None = None) -> dict[str, Any]:
    return {
        "fee_rate": config.applied_fee if fee is None else fee,
        "slippage_bps": config.slippage_bps,
        "funding": config.funding,
        "allow_missing_funding": config.allow_missing_funding,
        "funding_interval": pd.Timedelta(hours=config.funding_interval_hours),
        "max_leverage": config.max_leverage,
    }


def backtest_run(
    market: pd.DataFrame,
    oos_proba: pd.DataFrame,
    *,
    horizon: int,
    n_trials: int,
    config: BacktestConfig,
    out_dir: Path,
    oracle_proba: pd.DataFrame | None = None,
    trial_sharpes: Sequence[float] | None = None,
) -> BacktestSummary:
    """Backtest out-of-sample probabilities and write the results into ``out_dir``.

    Parameters
    ----------
    market : DataFrame, canonical market frame covering the probability rows
        With ``funding_rate`` when ``config.funding``.
    oos_proba : DataFrame of shape (n_rows, 3), indexed by bar open time, UTC
        Out-of-sample (walk-forward / test) class probabilities of the chosen model;
        columns 0/1/2, SHORT/NEUTRAL/LONG or p_short/p_neutral/p_long.
    horizon : int
        Label horizon in bars (hold length, bootstrap and shuffle block length).
    n_trials : int
        Configurations tried before choosing this one (models compared plus tuning
        trials), for the DSR.
    config : BacktestConfig
        The run's ``[backtest]`` section.
    out_dir : Path
        Directory for ``backtest.json``, ``backtest_trades.csv``,
        ``backtest_equity.csv`` and ``backtest_*.png`` (created if missing).
    oracle_proba : DataFrame, optional
        Simulator's true probabilities on the same rows (same column convention).
    trial_sharpes : sequence of float, optional
        Annualised net Sharpe of every trial; their variance feeds the DSR. Without
        them (or with fewer than 2) the variance of the shuffled null is used.

    Returns
    -------
    BacktestSummary
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"`n_trials` must be an int >= 1, got {n_trials!r}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    interval = str(market.attrs.get("interval") or infer_interval(market.index))
    ppy = bars_per_year(interval)
    engine = _engine(config)
    fee = float(engine["fee_rate"])
    rules: dict[str, Any] = {
        "horizon": int(horizon),
        "fee_rate": fee,
        "slippage_bps": config.slippage_bps,
        "entry_threshold": config.entry_threshold,
        "vol_sizing": config.vol_sizing,
        "vol_window": config.vol_window,
        "max_leverage": config.max_leverage,
    }

    terms = market_terms(
        market,
        pd.DatetimeIndex(oos_proba.index),
        horizon=int(horizon),
        vol_window=config.vol_window,
        vol_sizing=config.vol_sizing,
    )
    # the engine only reads the bars from the first row to the one after the last
    first, last = int(terms.rows[0]), int(terms.rows[-1])
    bars = market.iloc[first : last + 2]

    def backtest(proba: pd.DataFrame) -> BacktestResult:
        pos = positions_from_proba(proba, market, terms=terms, **rules)
        return run_backtest(bars, pos, interval=interval, **engine)

    strategy = backtest(oos_proba)
    window = strategy.equity.index
    ones = pd.Series(1.0, index=oos_proba.index)
    results: dict[str, BacktestResult] = {
        "strategy": strategy,
        "buy_and_hold": run_backtest(bars, ones, interval=interval, **engine),
        "always_flat": run_backtest(bars, ones * 0.0, interval=interval, **engine),
    }
    if oracle_proba is not None:
        results["oracle"] = backtest(oracle_proba.reindex(oos_proba.index))

    block = max(int(horizon), 1)
    null = null_distribution(
        oos_proba,
        lambda p: float(backtest(p).stats["sharpe"]),
        block=block,
        n_shuffles=config.n_shuffles,
        seed=config.seed,
    )
    sr_ann = float(strategy.stats["sharpe"])
    rets = strategy.returns.to_numpy()[1:]
    sr, skew, kurt, n_obs = return_moments(rets)
    ci = bootstrap_sharpe_interval(
        rets,
        block=block,
        n_boot=config.n_bootstrap,
        periods_per_year=ppy,
        seed=config.seed,
    )
    finite_null = null[np.isfinite(null)]
    if trial_sharpes is not None and len(trial_sharpes) >= 2:
        sr_var = float(
            np.var(np.asarray(trial_sharpes, float) / math.sqrt(ppy), ddof=1)
        )
        var_source = "trials"
    else:
        sr_var = (
            float(np.var(finite_null / math.sqrt(ppy), ddof=1))
            if len(finite_null) > 1
            else 0.0
        )
        var_source = "shuffled_null"
    psr = probabilistic_sharpe_ratio(sr, n_obs, skew=skew, kurtosis=kurt)
    dsr = deflated_sharpe_ratio(
        sr, n_obs, n_trials=n_trials, sr_variance=sr_var, skew=skew, kurtosis=kurt
    )

    positions = positions_from_proba(oos_proba, market, terms=terms, **rules)
    run_at = partial(_run_at_fee, bars, positions, interval, engine)
    sensitivity = cost_sensitivity(run_at, config.fee_rate)
    be_fee = break_even_fee(run_at)
    monthly = monthly_returns(strategy.equity)

    table = pd.DataFrame(
        {name: {k: r.stats[k] for k in _TABLE_KEYS} for name, r in results.items()}
    ).T
    null_p95 = (
        float(np.percentile(finite_null, 95)) if len(finite_null) else float("nan")
    )
    null_row = {k: float("nan") for k in _TABLE_KEYS}
    table.loc["shuffled_null_median", :] = {
        **null_row,
        "sharpe": float(np.median(finite_null)) if len(finite_null) else float("nan"),
    }
    table.loc["shuffled_null_p95", :] = {**null_row, "sharpe": null_p95}
    table.index.name = "line"

    files = _write_outputs(
        out_dir, results, strategy, sensitivity, be_fee, monthly, null, config
    )
    summary = BacktestSummary(
        net_return=float(strategy.stats["total_return"]),
        sharpe=sr_ann,
        buy_hold_return=float(results["buy_and_hold"].stats["total_return"]),
        buy_hold_sharpe=float(results["buy_and_hold"].stats["sharpe"]),
        null_percentile=percentile_of(sr_ann, finite_null),
        null_p95=null_p95,
        psr=psr,
        dsr=dsr,
        n_trials=int(n_trials),
        oracle_sharpe=float(results["oracle"].stats["sharpe"])
        if "oracle" in results
        else None,
        break_even_fee=be_fee,
        funding_assumed_zero=bool(strategy.stats["funding_assumed_zero"]),
        table=table,
        monthly=monthly,
        files=files,
        trades_summary=trades_summary(strategy.trades),
    )
    payload = {
        "trades_summary": summary.trades_summary,
        "summary": {name: getattr(summary, name) for name in SCALARS},
        "table": {
            line: dict(row) for line, row in table.to_dict(orient="index").items()
        },
        "verdict": summary.verdict_line(),
        "beats_buy_and_hold": summary.beats_buy_and_hold,
        "beats_null": summary.beats_null,
        "dsr_passes": summary.dsr_passes,
        "window": {
            "start": window[0],
            "end": window[-1],
            "n_bars": len(window),
            "interval": interval,
        },
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "applied_fee": fee,
        "lines": {name: r.stats for name, r in results.items()},
        "significance": {
            "sharpe_annual": sr_ann,
            "sharpe_per_bar": sr,
            "sharpe_ci95_annual": list(ci),
            "skewness": skew,
            "kurtosis": kurt,
            "n_obs": n_obs,
            "psr": psr,
            "dsr": dsr,
            "n_trials": int(n_trials),
            "sr_variance_per_bar": sr_var,
            "sr_variance_source": var_source,
            "dsr_benchmark_per_bar": expected_max_sharpe(n_trials, sr_var),
            "null_block_bars": block,
            "null_n_shuffles": int(len(null)),
            "null_sharpes": null,
            "null_p95": null_p95,
            "null_percentile": summary.null_percentile,
        },
        "cost_sensitivity": sensitivity.to_dict(orient="records"),
        "break_even_fee": be_fee,
        "monthly_returns": {
            str(y): {str(k): v for k, v in row.items()}
            for y, row in monthly.to_dict(orient="index").items()
        },
        "files": {k: v.name for k, v in files.items()},
    }
    write_text_atomic(
        out_dir / "backtest.json",
        json.dumps(_strict(payload), indent=2, allow_nan=False) + "\n",
    )
    return summary


def check_funding(
    market: pd.DataFrame,
    config: BacktestConfig,
    index: pd.DatetimeIndex | None = None,
) -> int:
    """Fail fast: raise now if the backtest would refuse the funding data later.

    Call it right after loading the data (before training) so a run without funding
    rates stops in seconds, not after the models are trained.

    Parameters
    ----------
    market : DataFrame, canonical market frame
    config : BacktestConfig
    index : DatetimeIndex, optional
        Bars the backtest will cover (default: all of ``market``).

    Returns
    -------
    int
        Settlements without a rate (0 unless ``config.allow_missing_funding``).

    Raises
    ------
    perpml.exceptions.DataContractError
        As :func:`perpml.backtest.run_backtest` would.
    """
    if not (config.enabled and config.funding):
        return 0
    from perpml.backtest.funding import settlement_counts, settlement_rates
    from perpml.data.schema import interval_to_timedelta

    window = market if index is None else market.loc[index]
    interval = str(market.attrs.get("interval") or infer_interval(market.index))
    counts = settlement_counts(
        pd.DatetimeIndex(window.index),
        interval_to_timedelta(interval),
        funding_interval=pd.Timedelta(hours=config.funding_interval_hours),
    )
    schedule = settlement_rates(
        window, counts, allow_missing=config.allow_missing_funding
    )
    return schedule.n_missing


def simulator_oracle_proba(
    market: pd.DataFrame,
    index: pd.DatetimeIndex,
    *,
    horizon: int,
    threshold: float | pd.Series | None = None,
    n_paths: int = 64,
) -> pd.DataFrame | None:
    """The simulator's true class probabilities on ``index``, or None for real data.

    Parameters
    ----------
    market : DataFrame
        A frame from ``load_market_data("synthetic", ...)`` (its ``attrs`` rebuild the
        simulator, see :func:`perpml.data.sources.synthetic.market_from_attrs`); any
        other source gives None.
    index : DatetimeIndex
        Rows wanted (the out-of-sample bars).
    horizon : int
    threshold : float or Series, optional
        The labels' per-bar log-return threshold (``make_targets(...)["threshold"]``).
    n_paths : int, default 64
        Monte-Carlo paths per bar (the cost is linear in it).

    Returns
    -------
    DataFrame with ``p_short``, ``p_neutral``, ``p_long`` on ``index``, or None.
    """
    if market.attrs.get("source") != "synthetic":
        return None
    from perpml.data.sources.synthetic import market_from_attrs

    truth = market_from_attrs(market).truth(horizon, threshold, n_paths=n_paths)
    return truth.reindex(index)[["p_short", "p_neutral", "p_long"]]


def _run_at_fee(
    market: pd.DataFrame,
    positions: pd.Series,
    interval: str,
    engine: dict[str, Any],
    fee: float,
) -> BacktestResult:
    return run_backtest(
        market, positions, interval=interval, **{**engine, "fee_rate": fee}
    )


def _write_outputs(
    out_dir: Path,
    results: Mapping[str, BacktestResult],
    strategy: BacktestResult,
    sensitivity: pd.DataFrame,
    be_fee: float | None,
    monthly: pd.DataFrame,
    null: np.ndarray,
    config: BacktestConfig,
) -> dict[str, Path]:
    files: dict[str, Path] = {}
    trades = out_dir / "backtest_trades.csv"
    write_text_atomic(
        trades, strategy.trades.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    )
    files["trades"] = trades
    equity = pd.DataFrame({n: r.equity for n, r in results.items()})
    equity["strategy_position"] = strategy.position
    eq_path = out_dir / "backtest_equity.csv"
    write_text_atomic(eq_path, equity.to_csv(date_format="%Y-%m-%dT%H:%M:%S%z"))
    files["equity"] = eq_path
    curves = {n: r.equity for n, r in results.items() if n != "always_flat"}
    files["equity_plot"] = plots.plot_equity(
        curves, path=out_dir / "backtest_equity.png"
    )
    if not monthly.empty:
        files["monthly_plot"] = plots.plot_monthly_returns(
            monthly, path=out_dir / "backtest_monthly.png"
        )
    files["costs_plot"] = plots.plot_cost_breakdown(
        {
            n: {
                "fees": r.stats["fees_paid"],
                "slippage": r.stats["slippage_paid"],
                "funding": r.stats["funding_paid"],
            }
            for n, r in results.items()
            if n != "always_flat"
        },
        path=out_dir / "backtest_costs.png",
    )
    files["cost_sensitivity_plot"] = plots.plot_cost_sensitivity(
        sensitivity,
        break_even=be_fee,
        fee_rate=config.fee_rate,
        path=out_dir / "backtest_cost_sensitivity.png",
    )
    oracle = results.get("oracle")
    files["null_plot"] = plots.plot_null(
        null,
        float(strategy.stats["sharpe"]),
        oracle=None if oracle is None else float(oracle.stats["sharpe"]),
        path=out_dir / "backtest_null.png",
    )
    return files
