"""Performance statistics of an equity curve, annualised on 365 days.

Returns are per-bar simple returns of the equity marked at each close. A year has
``365 days / bar length`` bars (105,120 five-minute bars, 8,760 hourly, 365 daily):
crypto trades every day, so there is no 252-day convention. The Sharpe and Sortino
ratios use a zero risk-free rate; Sharpe = mean / std (ddof 1) * sqrt(bars per year),
Sortino = mean / downside deviation * sqrt(bars per year) with the downside deviation
``sqrt(mean(min(r, 0)^2))``. ``max_drawdown`` is the largest peak-to-trough loss as a
negative fraction (-0.25 = a quarter of the peak lost); Calmar = annual return /
|max_drawdown|.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from perpml.data.schema import interval_to_timedelta

__all__ = [
    "bars_per_year",
    "drawdown",
    "max_drawdown",
    "monthly_returns",
    "performance_stats",
    "sharpe_ratio",
    "sortino_ratio",
]

_YEAR = pd.Timedelta(days=365)


def bars_per_year(interval: str) -> float:
    """Bars in 365 days: ``bars_per_year("5m") == 105120``."""
    return float(_YEAR / interval_to_timedelta(interval))


def sharpe_ratio(returns: np.ndarray, periods_per_year: float = 1.0) -> float:
    """Mean / standard deviation (ddof 1) times ``sqrt(periods_per_year)``.

    NaN with fewer than two returns or zero variance.
    """
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return float("nan")
    sd = float(r.std(ddof=1))
    if not sd > 0:
        return float("nan")
    return float(r.mean() / sd * np.sqrt(periods_per_year))


def sortino_ratio(returns: np.ndarray, periods_per_year: float = 1.0) -> float:
    """Mean / downside deviation times ``sqrt(periods_per_year)`` (NaN if no loss)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return float("nan")
    down = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    if not down > 0:
        return float("nan")
    return float(r.mean() / down * np.sqrt(periods_per_year))


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough loss as a fraction <= 0 (0.0 for a rising curve)."""
    e = np.asarray(equity, dtype=np.float64)
    if not len(e):
        return float("nan")
    peak = np.maximum.accumulate(e)
    if peak[0] > 0:  # peaks never fall, so no division by zero
        np.divide(e, peak, out=peak)  # in place: one 1M-bar temporary less
        return float(peak.min() - 1.0)
    dd = np.divide(e, peak, out=np.zeros_like(e), where=peak > 0) - 1.0
    return float(dd.min())


def drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown per bar, ``equity / running peak - 1`` (<= 0)."""
    peak = equity.cummax()
    return (equity / peak.where(peak > 0) - 1.0).fillna(-1.0)


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Compounded return per calendar month (UTC) from an equity curve.

    Returns
    -------
    DataFrame indexed by year, columns 1..12 (months) and ``year`` (the year's
    compounded return); NaN for months outside the curve.
    """
    if equity.empty:
        return pd.DataFrame()
    naive = equity.copy()
    naive.index = naive.index.tz_convert("UTC").tz_localize(None)
    month_end = naive.resample("MS").last()
    start_value = float(equity.iloc[0])
    prev = month_end.shift(1)
    prev.iloc[0] = start_value
    rets = month_end / prev - 1.0
    table = pd.DataFrame(
        {
            "year": rets.index.year,
            "month": rets.index.month,
            "ret": rets.to_numpy(),
        }
    )
    out = table.pivot_table(index="year", columns="month", values="ret", dropna=False)
    out = out.reindex(columns=range(1, 13))
    out["year"] = (1.0 + out[list(range(1, 13))].fillna(0.0)).prod(axis=1) - 1.0
    out.index.name = "year"
    out.columns.name = None
    return out


def performance_stats(
    equity: pd.Series,
    *,
    interval: str,
    trade_pnl: np.ndarray | None = None,
    traded_notional: float = 0.0,
    exposure: float = float("nan"),
    fees_paid: float = 0.0,
    funding_paid: float = 0.0,
    returns: np.ndarray | None = None,
) -> dict[str, Any]:
    """Summary statistics of an equity curve starting at 1.0.

    Parameters
    ----------
    equity : Series of shape (n_bars,), equity at each bar close
    interval : str
        Bar interval, for annualisation on 365 days.
    trade_pnl : ndarray, optional
        Net P&L per trade (hit rate and count).
    traded_notional : float
        Sum of traded notional in units of initial equity.
    exposure : float
        Share of bars with an open position.
    fees_paid, funding_paid : float
        Totals in units of initial equity (funding < 0 = received).
    returns : ndarray of shape (n_bars - 1,), optional
        Per-bar returns of ``equity`` if already computed.

    Returns
    -------
    dict
        ``total_return``, ``annual_return`` (compounded), ``annual_volatility``,
        ``sharpe``, ``sortino``, ``max_drawdown``, ``calmar``, ``hit_rate``,
        ``n_trades``, ``turnover`` (traded notional / mean equity, per year),
        ``exposure``, ``fees_paid``, ``funding_paid``, ``n_bars``,
        ``bars_per_year``, ``years``.
    """
    e = equity.to_numpy(np.float64)
    ppy = bars_per_year(interval)
    if returns is None:
        prev = e[:-1]
        rets = np.divide(e[1:], prev, out=np.zeros(len(prev)), where=prev > 0) - 1.0
    else:
        rets = np.asarray(returns, dtype=np.float64)
    n_periods = max(len(e) - 1, 0)
    years = n_periods / ppy
    final = float(e[-1]) if len(e) else float("nan")
    total = final - 1.0
    if years > 0 and final > 0:
        with np.errstate(over="ignore"):  # a few bars of a big gain: inf, not a crash
            annual = float(np.exp(np.log(final) / years) - 1.0)
    elif years > 0:
        annual = -1.0
    else:
        annual = float("nan")
    mdd = max_drawdown(e)
    pnl = np.asarray([] if trade_pnl is None else trade_pnl, dtype=np.float64)
    mean_equity = float(np.mean(e)) if len(e) else float("nan")
    return {
        "total_return": float(total),
        "annual_return": annual,
        "annual_volatility": float(rets.std(ddof=1) * np.sqrt(ppy))
        if len(rets) > 1
        else float("nan"),
        "sharpe": sharpe_ratio(rets, ppy),
        "sortino": sortino_ratio(rets, ppy),
        "max_drawdown": mdd,
        "calmar": float(annual / abs(mdd)) if mdd < 0 else float("nan"),
        "hit_rate": float((pnl > 0).mean()) if len(pnl) else float("nan"),
        "n_trades": int(len(pnl)),
        "turnover": float(traded_notional / mean_equity / years)
        if years > 0 and mean_equity > 0
        else float("nan"),
        "exposure": float(exposure),
        "fees_paid": float(fees_paid),
        "funding_paid": float(funding_paid),
        "n_bars": int(len(e)),
        "bars_per_year": ppy,
        "years": float(years),
    }
