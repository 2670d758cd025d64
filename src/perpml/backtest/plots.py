"""Matplotlib figures of the backtest (backend ``Agg``; PNGs written atomically).

Every function draws one fresh figure, saves it to ``path`` (temp file +
``os.replace``) and closes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: backend first
import numpy as np
import pandas as pd

from perpml.backtest.stats import drawdown
from perpml.rundir.figures import save_figure

__all__ = [
    "plot_cost_breakdown",
    "plot_cost_sensitivity",
    "plot_equity",
    "plot_monthly_returns",
    "plot_null",
    "use_log_scale",
]

_COLORS = {
    "strategy": "#1f77b4",
    "buy_and_hold": "#7f7f7f",
    "oracle": "#2ca02c",
    "always_flat": "#bcbd22",
}


def use_log_scale(curves: Mapping[str, pd.Series], ratio: float = 4.0) -> bool:
    """True when the equity range is wide: max / min over all curves > ``ratio``."""
    values = np.concatenate([c.to_numpy(np.float64) for c in curves.values()])
    values = values[np.isfinite(values) & (values > 0)]
    return bool(len(values) and values.max() / values.min() > ratio)


def plot_equity(
    curves: Mapping[str, pd.Series], *, path: Path, title: str = "Equity, net of costs"
) -> Path:
    """Equity curves (first = the strategy) and the strategy's drawdown beneath."""
    fig, (ax, ax_dd) = plt.subplots(
        2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for name, curve in curves.items():
        ax.plot(
            curve.index,
            curve.to_numpy(),
            label=name.replace("_", " "),
            color=_COLORS.get(name),
            lw=1.2 if name == "strategy" else 0.9,
        )
    log = use_log_scale(curves)
    if log:
        ax.set_yscale("log")
    ax.axhline(1.0, color="black", lw=0.5, ls=":")
    ax.set_ylabel("equity (start = 1)" + (", log scale" if log else ""))
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    first = next(iter(curves))
    dd = drawdown(curves[first]) * 100
    ax_dd.fill_between(dd.index, dd.to_numpy(), 0.0, color="#d62728", alpha=0.4)
    ax_dd.set_ylabel(f"{first.replace('_', ' ')}\ndrawdown %")
    fig.autofmt_xdate()
    return save_figure(fig, path)


def plot_monthly_returns(table: pd.DataFrame, *, path: Path) -> Path:
    """Heatmap of monthly returns (rows = years, columns = months, in %)."""
    months = [m for m in range(1, 13) if m in table.columns]
    values = table[months].to_numpy(np.float64) * 100
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.45 * max(len(table), 1)))
    finite = values[np.isfinite(values)]
    lim = float(np.abs(finite).max()) if len(finite) else 1.0
    ax.imshow(
        np.ma.masked_invalid(values), cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto"
    )
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(months)))
    ax.set_xticklabels(
        [
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        ][m - 1]
        for m in months
    )
    ax.set_yticks(range(len(table)))
    ax.set_yticklabels([str(y) for y in table.index])
    ax.set_title("Strategy monthly returns, net of costs (%)")
    return save_figure(fig, path)


def plot_cost_breakdown(
    costs: Mapping[str, Mapping[str, float]], *, path: Path
) -> Path:
    """Fees, slippage and funding paid (in % of initial equity) as separate bars."""
    names = list(costs)
    kinds = ("fees", "slippage", "funding")
    x = np.arange(len(names))
    width = 0.8 / len(kinds)
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (kind, color) in enumerate(
        zip(kinds, ("#d62728", "#ff7f0e", "#9467bd"), strict=True)
    ):
        vals = [100 * float(costs[n].get(kind, 0.0)) for n in names]
        ax.bar(x + (k - 1) * width, vals, width, label=kind, color=color)
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xticks(x)
    ax.set_xticklabels([n.replace("_", " ") for n in names])
    ax.set_ylabel("paid, % of initial equity (funding < 0 = received)")
    ax.set_title("Costs paid")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_cost_sensitivity(
    table: pd.DataFrame, *, break_even: float | None, fee_rate: float, path: Path
) -> Path:
    """Net total return and Sharpe against the fee per side (0 to 2x taker)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    fee_bp = table["fee_rate"].to_numpy() * 1e4
    ax.plot(fee_bp, table["total_return"].to_numpy() * 100, "o-", color="#1f77b4")
    ax.set_xlabel("fee per side (bp); slippage and funding as configured")
    ax.set_ylabel("net total return (%)", color="#1f77b4")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.axvline(fee_rate * 1e4, color="grey", ls=":", lw=0.8)
    ax2 = ax.twinx()
    ax2.plot(fee_bp, table["sharpe"].to_numpy(), "s--", color="#ff7f0e")
    ax2.set_ylabel("annualised Sharpe", color="#ff7f0e")
    if break_even is None:
        note = "loses even at zero fee"
    else:
        note = f"break-even fee {break_even * 1e4:.2f} bp per side"
        if break_even <= fee_bp.max() / 1e4:
            ax.axvline(break_even * 1e4, color="#d62728", lw=0.8)
    ax.set_title(f"Cost sensitivity ({note})")
    return save_figure(fig, path)


def plot_null(
    null: np.ndarray, strategy: float, *, path: Path, oracle: float | None = None
) -> Path:
    """Histogram of the shuffled-signal Sharpe ratios with the strategy marked."""
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = null[np.isfinite(null)]
    ax.hist(finite, bins=30, color="#c7c7c7", edgecolor="white")
    if len(finite):
        ax.axvline(
            np.percentile(finite, 95), color="black", ls=":", label="null 95th pct"
        )
    if np.isfinite(strategy):
        ax.axvline(strategy, color="#1f77b4", lw=1.5, label="strategy")
    if oracle is not None and np.isfinite(oracle):
        ax.axvline(oracle, color="#2ca02c", lw=1.5, label="oracle")
    ax.set_xlabel("annualised net Sharpe")
    ax.set_title(f"Shuffled-signal null ({len(finite)} shuffles with a Sharpe ratio)")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8)
    return save_figure(fig, path)
