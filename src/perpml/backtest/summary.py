"""The backtest's result for the verdict and the report: :class:`BacktestSummary`.

Written by :func:`perpml.backtest.backtest_run` into ``backtest.json``;
:func:`load_backtest_summary` rebuilds it from a run directory so the report can
render :meth:`BacktestSummary.html_fragment` later.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["SCALARS", "BacktestSummary", "load_backtest_summary", "trades_summary"]


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

        if not math.isfinite(self.sharpe) and self.net_return == 0:
            return (
                "The strategy never traded: no expected edge beat the entry threshold "
                "([backtest].entry_threshold x round-trip cost), so there is nothing "
                f"to test (buy-and-hold returned {self.buy_hold_return:+.2%})."
            )
        text = (
            f"Net of costs the strategy returned {self.net_return:+.2%} (Sharpe "
            f"{self.sharpe:.2f}) vs buy-and-hold {self.buy_hold_return:+.2%} (Sharpe "
            f"{self.buy_hold_sharpe:.2f}); beats buy-and-hold: "
            f"{yes(self.beats_buy_and_hold)}; beats the shuffled null (percentile "
            f"{self.null_percentile:.0f}, 95th pct Sharpe {self.null_p95:.2f}): "
            f"{yes(self.beats_null)}; Deflated Sharpe Ratio above 0.95 (DSR "
            f"{self.dsr:.2f} over {self.n_trials} trial(s)): {yes(self.dsr_passes)}."
        )
        if self.funding_assumed_zero:
            text += " Funding was missing for part of the period and assumed zero."
        return text

    def html_fragment(self, *, embed: bool = True) -> str:
        """HTML section: verdict line, table, monthly returns and the figures.

        ``embed=True`` inlines the PNGs as base64 (single-file report); otherwise
        ``<img src>`` uses the file names (relative to ``out_dir``).
        """
        table = self.table.copy()
        for col in table.columns:
            f = _PERCENT if col in _PERCENT_COLUMNS else _NUMBER
            if col == "n_trades":
                f = _INTEGER
            table[col] = table[col].map(lambda v, f=f: _fmt(v, f))
        monthly = (self.monthly * 100).round(2)
        parts = [
            "<section class='backtest'><h2>Backtest, net of costs</h2>",
            f"<p>{html.escape(self.verdict_line())}</p>",
            table.to_html(border=0, classes="backtest-table"),
            "<p class='note'>Costs and returns in % of initial equity; Sharpe, "
            "Sortino and Calmar annualised on 365 days; funding &lt; 0 = received. "
            "The null rows are the same rules on block-shuffled probabilities.</p>",
            "<h3>Trades</h3>",
            pd.DataFrame(
                {
                    k: [_fmt(v, _PERCENT if k in _PERCENT_COLUMNS else _NUMBER)]
                    for k, v in self.trades_summary.items()
                }
            ).to_html(border=0, index=False, classes="backtest-trades"),
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


_PERCENT_COLUMNS = frozenset(
    {
        "total_return",
        "annual_return",
        "max_drawdown",
        "hit_rate",
        "exposure",
        "fees_paid",
        "slippage_paid",
        "funding_paid",
        "mean_return",
        "best_return",
        "worst_return",
    }
)
_PERCENT = "{:.2%}".format
_NUMBER = "{:.3g}".format
_INTEGER = "{:.0f}".format


def _fmt(value: object, f: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    try:
        return str(f(value))
    except (TypeError, ValueError):
        return str(value)


SCALARS = (
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


def trades_summary(trades: pd.DataFrame) -> dict[str, float]:
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
        for k in SCALARS
    }
    return BacktestSummary(
        **values,
        table=table,
        monthly=monthly,
        files={k: out_dir / v for k, v in payload["files"].items()},
        trades_summary={k: _nan(v) for k, v in payload["trades_summary"].items()},
    )
