"""The backtest step of ``perpml run``: one call, files in the run directory.

:func:`backtest_run` turns out-of-sample probabilities into positions, backtests them
net of fees, slippage and funding next to buy-and-hold, always-flat, a shuffled-signal
null and (on the simulator) the oracle, computes the Sharpe interval, PSR and DSR and
the cost sensitivity, and writes ``backtest.json``, ``backtest_trades.csv``,
``backtest_equity.csv`` and the PNGs into ``out_dir``.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.backtest import plots
from perpml.backtest.costs import break_even_fee, cost_sensitivity
from perpml.backtest.engine import BacktestResult, run_backtest
from perpml.backtest.positions import positions_from_proba
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
from perpml.config import BacktestConfig
from perpml.data.schema import infer_interval
from perpml.exceptions import ConfigError

__all__ = ["BacktestSummary", "backtest_run", "load_backtest_summary"]

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


@dataclass(frozen=True)
class BacktestSummary:
    """What the verdict and the report need from the backtest.

    Attributes
    ----------
    net_return, sharpe : float
        Strategy total return and annualised Sharpe, net of every cost.
    buy_hold_return, buy_hold_sharpe : float
        Same for buy-and-hold over the same bars (with its entry fee and funding).
    null_percentile : float
        Percentile (0-100) of the strategy's Sharpe in the shuffled-signal null.
    null_p95 : float
        95th percentile of the null's annualised Sharpe.
    psr, dsr : float
        Probabilistic (vs 0) and Deflated Sharpe Ratio, in [0, 1].
    n_trials : int
        Configurations the DSR deflates for.
    oracle_sharpe : float or None
        Oracle's net Sharpe on the simulator, else None.
    break_even_fee : float or None
        Fee per side with zero net return (None: loses at zero fee).
    funding_assumed_zero : bool
        True when missing funding was charged as zero (allowed explicitly).
    table : DataFrame
        One row per line (strategy, buy_and_hold, always_flat, shuffled null median /
        95th pct, oracle), the columns of ``_TABLE_KEYS``.
    monthly : DataFrame
        Strategy monthly returns (see :func:`perpml.backtest.stats.monthly_returns`).
    trades_summary : dict
        Strategy trades: ``n_trades``, ``n_long``, ``n_short``, ``hit_rate``,
        ``mean_return``, ``best_return``, ``worst_return``, ``mean_bars``.
    files : dict
        Name -> path of every file written.
    """

    net_return: float
    sharpe: float
    buy_hold_return: float
    buy_hold_sharpe: float
    null_percentile: float
    null_p95: float
    psr: float
    dsr: float
    n_trials: int
    oracle_sharpe: float | None
    break_even_fee: float | None
    funding_assumed_zero: bool
    table: pd.DataFrame = field(repr=False)
    monthly: pd.DataFrame = field(repr=False)
    files: dict[str, Path] = field(repr=False)
    trades_summary: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def beats_buy_and_hold(self) -> bool:
        """Net Sharpe above buy-and-hold's."""
        return bool(self.sharpe > self.buy_hold_sharpe)

    @property
    def beats_null(self) -> bool:
        """Net Sharpe above the shuffled null's 95th percentile."""
        return bool(self.sharpe > self.null_p95)

    @property
    def dsr_passes(self) -> bool:
        """DSR > 0.95."""
        return bool(self.dsr > 0.95)

    def verdict_line(self) -> str:
        """One sentence for the verdict: beats buy-and-hold, the null, DSR > 0.95?"""

        def yes(flag: bool) -> str:
            return "yes" if flag else "no"

        text = (
            f"Net of costs the strategy returned {self.net_return:+.2%} (Sharpe "
            f"{self.sharpe:.2f}) vs buy-and-hold {self.buy_hold_return:+.2%} (Sharpe "
            f"{self.buy_hold_sharpe:.2f}); beats buy-and-hold: "
            f"{yes(self.beats_buy_and_hold)}; beats the shuffled null (percentile "
            f"{self.null_percentile:.0f}, 95th pct Sharpe {self.null_p95:.2f}): "
            f"{yes(self.beats_null)}; DSR {self.dsr:.2f} > 0.95 over {self.n_trials} "
            f"trial(s): {yes(self.dsr_passes)}."
        )
        if self.funding_assumed_zero:
            text += " Funding was missing for part of the period and assumed zero."
        return text

    def html_fragment(self, *, embed: bool = True) -> str:
        """HTML section: verdict line, table, monthly returns and the figures.

        ``embed=True`` inlines the PNGs as base64 (single-file report); otherwise
        ``<img src>`` uses the file names (relative to ``out_dir``).
        """
        fmt = {k: "{:.2%}".format for k in ("total_return", "annual_return")}
        table = self.table.copy()
        for col in table.columns:
            if col in fmt:
                table[col] = table[col].map(lambda v, f=fmt[col]: _fmt(v, f))
            else:
                table[col] = table[col].map(lambda v: _fmt(v, "{:.3g}".format))
        monthly = (self.monthly * 100).round(2)
        parts = [
            "<section class='backtest'><h2>Backtest, net of costs</h2>",
            f"<p>{html.escape(self.verdict_line())}</p>",
            table.to_html(border=0, classes="backtest-table"),
            "<h3>Trades</h3>",
            pd.DataFrame([self.trades_summary])
            .map(lambda v: _fmt(v, "{:.4g}".format))
            .to_html(border=0, index=False, classes="backtest-trades"),
            "<h3>Monthly returns (%)</h3>",
            monthly.to_html(border=0, na_rep="", classes="backtest-monthly"),
        ]
        for name, path in self.files.items():
            if path.suffix != ".png":
                continue
            if embed and path.exists():
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                src = f"data:image/png;base64,{data}"
            else:
                src = path.name
            parts.append(f"<img alt='{html.escape(name)}' src='{src}'/>")
        parts.append("</section>")
        return "\n".join(parts)


def _fmt(value: object, f: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    try:
        return str(f(value))
    except (TypeError, ValueError):
        return str(value)


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


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    def backtest(proba: pd.DataFrame, **over: Any) -> BacktestResult:
        pos = positions_from_proba(proba, market, **rules)
        return run_backtest(market, pos, interval=interval, **{**engine, **over})

    strategy = backtest(oos_proba)
    window = strategy.equity.index
    ones = pd.Series(1.0, index=oos_proba.index)
    results: dict[str, BacktestResult] = {
        "strategy": strategy,
        "buy_and_hold": run_backtest(market, ones, interval=interval, **engine),
        "always_flat": run_backtest(market, ones * 0.0, interval=interval, **engine),
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

    positions = positions_from_proba(oos_proba, market, **rules)
    run_at = partial(_run_at_fee, market, positions, interval, engine)
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
        trades_summary=_trades_summary(strategy.trades),
    )
    payload = {
        "trades_summary": summary.trades_summary,
        "summary": {name: getattr(summary, name) for name in _SCALARS},
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
    _write_text(
        out_dir / "backtest.json",
        json.dumps(_strict(payload), indent=2, allow_nan=False) + "\n",
    )
    return summary


_SCALARS = (
    "net_return",
    "sharpe",
    "buy_hold_return",
    "buy_hold_sharpe",
    "null_percentile",
    "null_p95",
    "psr",
    "dsr",
    "n_trials",
    "oracle_sharpe",
    "break_even_fee",
    "funding_assumed_zero",
)


def _trades_summary(trades: pd.DataFrame) -> dict[str, float]:
    ret = trades["return"]
    return {
        "n_trades": float(len(trades)),
        "n_long": float((trades["side"] == "long").sum()),
        "n_short": float((trades["side"] == "short").sum()),
        "hit_rate": float((trades["pnl"] > 0).mean()) if len(trades) else float("nan"),
        "mean_return": float(ret.mean()) if len(trades) else float("nan"),
        "best_return": float(ret.max()) if len(trades) else float("nan"),
        "worst_return": float(ret.min()) if len(trades) else float("nan"),
        "mean_bars": float(trades["bars"].mean()) if len(trades) else float("nan"),
    }


def _nan(value: Any) -> Any:
    return float("nan") if value is None else value


def load_backtest_summary(out_dir: Path) -> BacktestSummary:
    """Rebuild the :class:`BacktestSummary` that :func:`backtest_run` wrote.

    For the report, which runs later from the run directory:
    ``load_backtest_summary(run_dir).html_fragment()``.

    Raises
    ------
    perpml.exceptions.ArtifactError
        If ``out_dir/backtest.json`` is missing or unreadable.
    """
    from perpml.exceptions import ArtifactError

    out_dir = Path(out_dir)
    path = out_dir / "backtest.json"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        scalars = payload["summary"]
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(
            f"Cannot read the backtest results {str(path)!r}: {exc}. Re-run "
            "`perpml run` with the backtest enabled ([backtest].enabled = true)."
        ) from None
    table = pd.DataFrame.from_dict(payload["table"], orient="index").map(_nan)
    table.index.name = "line"
    monthly = pd.DataFrame.from_dict(payload["monthly_returns"], orient="index")
    if not monthly.empty:
        monthly.index = monthly.index.astype(int)
        monthly.columns = [int(c) if c.isdigit() else c for c in monthly.columns]
        monthly = monthly.map(_nan)
    monthly.index.name = "year"
    values = {
        k: (
            scalars[k] if k in ("oracle_sharpe", "break_even_fee") else _nan(scalars[k])
        )
        for k in _SCALARS
    }
    return BacktestSummary(
        **values,
        table=table,
        monthly=monthly,
        files={k: out_dir / v for k, v in payload["files"].items()},
        trades_summary={k: _nan(v) for k, v in payload["trades_summary"].items()},
    )


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
    _write_text(
        trades, strategy.trades.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    )
    files["trades"] = trades
    equity = pd.DataFrame({n: r.equity for n, r in results.items()})
    equity["strategy_position"] = strategy.position
    eq_path = out_dir / "backtest_equity.csv"
    _write_text(eq_path, equity.to_csv(date_format="%Y-%m-%dT%H:%M:%S%z"))
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
