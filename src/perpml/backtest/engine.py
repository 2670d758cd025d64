"""Vectorised, funding-exact backtest of target positions on a market frame.

Conventions (see ``docs/backtest.md``)
--------------------------------------
* ``positions[t]`` is the target position (fraction of equity, sign = side) decided at
  the **close** of bar ``t``. It is filled at the **open** of bar ``t + 1`` and held
  until the next fill; a signal never trades at the close that produced it.
* A fill buys ``target * equity / open`` units; only the difference to the units
  already held is traded. Units are then held constant (no silent rebalancing) until
  the target changes.
* Fills happen at ``open * (1 + slippage)`` for buys and ``open * (1 - slippage)`` for
  sells; the fee is ``fee_rate`` times the traded notional at the fill price.
* Funding: at every settlement falling in ``(open, close]`` of a bar, the units held
  during that bar pay ``units * mark * rate`` (longs pay a positive rate, shorts
  receive it), ``mark`` = ``mark_price`` of that bar when present, else its ``close``.
* Equity is marked at every bar's close and starts at 1.0 at the close of the first
  bar of the window. If it reaches zero the account is ruined and stays at zero.

Implementation: the window is cut into segments of constant held target. Everything
inside a segment scales with the equity at its fill, so the equity path is a cumulative
product over segments and per-bar values follow from cumulative sums — no Python loop
per bar. The only coupling between segments is the traded size at a fill (old units
versus new target), a contraction with factor ~ fee, resolved by a few vectorised
fixed-point passes to machine precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from perpml.backtest.funding import settlement_counts, settlement_rates
from perpml.backtest.stats import performance_stats
from perpml.data.schema import infer_interval, interval_to_timedelta
from perpml.exceptions import ConfigError, DataContractError

__all__ = ["BacktestResult", "run_backtest"]

_MAX_PASSES = 60


@dataclass(frozen=True)
class BacktestResult:
    """Outcome of :func:`run_backtest`.

    Attributes
    ----------
    equity : Series of shape (n_bars,), indexed by bar open time, UTC
        Equity at each bar's close, 1.0 at the first bar of the window.
    trades : DataFrame, one row per stretch of constant non-zero held target
        ``entry_time`` (fill bar open time), ``exit_time`` (open time of the closing
        fill, or the last bar's close time while still open), ``side`` ("long" /
        "short"), ``size`` (target fraction of equity), ``quantity`` (units, per 1.0 of
        initial equity), ``entry_price`` / ``exit_price`` (fill prices incl.
        slippage; the last close for an open trade), ``bars``, ``gross_pnl``,
        ``fees``, ``slippage``, ``funding`` (paid; negative = received), ``pnl`` (net,
        in units of initial equity), ``return`` (pnl / equity at entry), ``closed``.
    stats : dict
        See :func:`perpml.backtest.stats.performance_stats`, plus ``fee_rate``,
        ``slippage_bps``, ``funding_included``, ``n_settlements``,
        ``funding_missing_settlements``, ``funding_assumed_zero``.
    returns : Series of shape (n_bars,)
        Per-bar simple returns of the equity (0.0 at the first bar).
    position : Series of shape (n_bars,)
        Target held during each bar (the previous bar's decision).
    costs : DataFrame of shape (n_bars, 3)
        ``fees``, ``slippage``, ``funding`` paid in each bar, in units of initial
        equity.
    """

    equity: pd.Series
    trades: pd.DataFrame
    stats: dict[str, Any]
    returns: pd.Series
    position: pd.Series
    costs: pd.DataFrame = field(repr=False)


def _check_market(market: pd.DataFrame) -> None:
    if not isinstance(market, pd.DataFrame):
        raise DataContractError(
            f"`market` must be a DataFrame, got {type(market).__name__}. Pass the "
            "frame returned by perpml.data.load_market_data."
        )
    idx = market.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataContractError(
            "`market` must be indexed by bar open times (tz-aware UTC DatetimeIndex); "
            f"got {type(idx).__name__}. Pass the frame returned by load_market_data."
        )
    # strictly increasing == sorted and unique, without building a hash table
    stamps = idx.asi8
    if len(stamps) > 1 and not bool((stamps[1:] > stamps[:-1]).all()):
        raise DataContractError(
            "`market` index must be sorted and unique; call perpml.data.sort_bars / "
            "drop_duplicate_bars first."
        )
    missing = [c for c in ("open", "close") if c not in market]
    if missing:
        raise DataContractError(
            f"`market` must have the columns open and close; missing {missing}."
        )


def _align_positions(
    market: pd.DataFrame, positions: pd.Series | np.ndarray, max_leverage: float
) -> tuple[int, int, np.ndarray]:
    """Window [i0, i1] of market rows and targets on it (NaN -> flat)."""
    n = len(market)
    if isinstance(positions, pd.Series) and positions.index.equals(market.index):
        positions = positions.to_numpy(np.float64)
    if isinstance(positions, pd.Series):
        rows = market.index.get_indexer(positions.index)
        if (rows < 0).any():
            bad = positions.index[rows < 0][:3]
            raise DataContractError(
                f"`positions` must be indexed by bar open times of `market`; "
                f"{int((rows < 0).sum())} are not (first: {list(map(str, bad))}). "
                "Build positions on the market's index."
            )
        if not len(rows):
            raise DataContractError("`positions` is empty; nothing to backtest.")
        values = positions.to_numpy(np.float64)
        i0, last = int(rows.min()), int(rows.max())
        target = np.full(last - i0 + 1, np.nan)
        target[rows - i0] = values
    else:
        target = np.asarray(positions, dtype=np.float64)
        if target.ndim != 1 or len(target) != n:
            raise DataContractError(
                f"`positions` as an array must have one value per market bar "
                f"({n}), got shape {target.shape}. Pass a Series on the market index."
            )
        i0, last = 0, n - 1
    finite = target[np.isfinite(target)]
    if np.isinf(target).any() or (np.abs(finite) > max_leverage + 1e-12).any():
        worst = float(np.max(np.abs(target[~np.isnan(target)])))
        raise ConfigError(
            f"`positions` must lie in [-max_leverage, max_leverage] = "
            f"[{-max_leverage}, {max_leverage}], got |position| up to {worst}. Clip "
            "them or raise max_leverage ([backtest].max_leverage)."
        )
    target = np.where(np.isnan(target), 0.0, target)
    i1 = min(last + 1, n - 1)  # the last decision fills at the next bar's open
    out = np.zeros(i1 - i0 + 1)
    out[: len(target)] = target[: len(out)]
    return i0, i1, out


def _prices(window: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o = window["open"].to_numpy(np.float64)
    c = window["close"].to_numpy(np.float64)
    bad = ~(np.isfinite(o) & np.isfinite(c) & (o > 0) & (c > 0))
    if bad.any():
        where = list(map(str, window.index[np.flatnonzero(bad)[:3]]))
        raise DataContractError(
            f"open and close must be finite and > 0 in the backtest window; "
            f"{int(bad.sum())} bars are not (first: {where}). Repair gaps with "
            "perpml.data.fill_gaps or choose another period."
        )
    if "mark_price" in window:
        mark = window["mark_price"].to_numpy(np.float64)
        mark = np.where(np.isfinite(mark) & (mark > 0), mark, c)
    else:
        mark = c
    return o, c, mark


def _segments(
    o: np.ndarray,
    c: np.ndarray,
    held: np.ndarray,
    unit_funding: np.ndarray,
    fee: float,
    slip: float,
) -> dict[str, np.ndarray]:
    """Per-segment quantities of the exact unit-holding accounting."""
    m = len(held)
    change = np.empty(m, dtype=bool)
    change[0] = True
    change[1:] = held[1:] != held[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], m)  # exclusive
    w = held[starts]
    o_start = o[starts]
    nu = w / o_start  # units per unit of equity at the fill
    cum_f = np.concatenate(([0.0], np.cumsum(unit_funding)))
    seg_funding = cum_f[ends] - cum_f[starts]  # per unit, bars starts..ends-1
    end_price = np.append(o[starts[1:]], c[m - 1])
    move = nu * (end_price - o_start - seg_funding)  # relative P&L before costs

    kappa = np.zeros(len(starts))
    drifted = np.zeros(len(starts))
    delta = np.zeros(len(starts))
    for _ in range(_MAX_PASSES):
        growth = 1.0 - kappa + move
        # old units expressed as a weight of the equity at the next fill
        prev = np.zeros(len(starts))
        ok = growth[:-1] > 0
        prev[1:] = np.where(ok, nu[:-1] * o_start[1:] / np.where(ok, growth[:-1], 1), 0)
        delta = w - prev
        sgn = np.sign(delta)
        new_kappa = np.abs(delta) * (slip + fee * (1.0 + slip * sgn))
        done = np.max(np.abs(new_kappa - kappa), initial=0.0) <= 1e-17
        kappa, drifted = new_kappa, prev
        if done:
            break
    growth = 1.0 - kappa + move
    return {
        "starts": starts,
        "ends": ends,
        "w": w,
        "nu": nu,
        "o_start": o_start,
        "kappa": kappa,
        "delta": delta,
        "drifted": drifted,
        "growth": growth,
        "cum_f": cum_f,
        "seg_funding": seg_funding,
        "end_price": end_price,
    }


def _equity_path(
    seg: dict[str, np.ndarray], c: np.ndarray, seg_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equity at every close, equity at each segment's fill, and the ruin mask."""
    growth = seg["growth"]
    base = np.concatenate(([1.0], np.cumprod(np.maximum(growth[:-1], 0.0))))
    cum_f = seg["cum_f"]
    units = base * seg["nu"]
    # equity_t = base (1 - kappa) + units (c_t - o_start) - units (F_t - F_start)
    level = base * (1.0 - seg["kappa"]) - units * (
        seg["o_start"] - cum_f[seg["starts"]]
    )
    equity = level[seg_id] + units[seg_id] * (c - cum_f[1:])
    if (equity <= 0).any():
        dead = np.maximum.accumulate(equity <= 0)
        equity = np.where(dead, 0.0, equity)
    else:
        dead = np.zeros(len(c), dtype=bool)
    return equity, base, dead


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def _trades_table(
    seg: dict[str, np.ndarray],
    base: np.ndarray,
    index: pd.DatetimeIndex,
    last_close: pd.Timestamp,
    slip: float,
    fee: float,
    c_last: float,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Trades (non-flat segments) and per-segment fee / slippage totals."""
    k = len(seg["starts"])
    delta, drifted, w = seg["delta"], seg["drifted"], seg["w"]
    notional = base * np.abs(delta)  # traded notional at the open, per fill
    sgn = np.sign(delta)
    fees = notional * fee * (1.0 + slip * sgn)
    slips = notional * slip
    # The part of a fill that reduces the old position belongs to the old trade.
    abs_d, abs_w = np.abs(drifted), np.abs(w)
    same = np.sign(drifted) == np.sign(w)
    reduce = np.where(same, np.maximum(abs_d - abs_w, 0.0), abs_d)
    share_exit = np.divide(
        reduce, np.abs(delta), out=np.zeros(k), where=np.abs(delta) > 0
    )
    exit_fee = np.append((fees * share_exit)[1:], 0.0)
    exit_slip = np.append((slips * share_exit)[1:], 0.0)
    entry_fee = fees * (1.0 - share_exit)
    entry_slip = slips * (1.0 - share_exit)
    quantity = base * seg["nu"]
    funding = quantity * seg["seg_funding"]
    gross = quantity * (seg["end_price"] - seg["o_start"])
    fill = seg["o_start"] * (1.0 + slip * sgn)
    exit_fill = np.append(fill[1:], c_last)
    closed = np.arange(k) < k - 1
    ns = index.as_unit("ns").asi8
    exit_ns = np.append(ns[seg["starts"][1:]], last_close.as_unit("ns").value)
    t_fees = entry_fee + exit_fee
    t_slip = entry_slip + exit_slip
    pnl = gross - t_fees - t_slip - funding
    keep = w != 0
    trades = pd.DataFrame(
        {
            "entry_time": _utc(ns[seg["starts"]][keep]),
            "exit_time": _utc(exit_ns[keep]),
            "side": np.where(w > 0, "long", "short")[keep],
            "size": w[keep],
            "quantity": quantity[keep],
            "entry_price": fill[keep],
            "exit_price": exit_fill[keep],
            "bars": (seg["ends"] - seg["starts"])[keep],
            "gross_pnl": gross[keep],
            "fees": t_fees[keep],
            "slippage": t_slip[keep],
            "funding": funding[keep],
            "pnl": pnl[keep],
            "return": np.divide(pnl, base, out=np.zeros(k), where=base > 0)[keep],
            "closed": closed[keep],
        }
    )
    return trades, fees, slips


def run_backtest(
    market: pd.DataFrame,
    positions: pd.Series | np.ndarray,
    *,
    fee_rate: float = 0.0005,
    slippage_bps: float = 1.0,
    funding: bool = True,
    allow_missing_funding: bool = False,
    funding_interval: str | pd.Timedelta = "8h",
    funding_times: pd.DatetimeIndex | None = None,
    max_leverage: float = 1.0,
    interval: str | None = None,
) -> BacktestResult:
    """Backtest target positions with next-open fills, fees, slippage and funding.

    Parameters
    ----------
    market : DataFrame of shape (n_bars, n_cols), indexed by bar open time, UTC
        Canonical market frame: ``open``, ``close``; ``funding_rate`` (as-of rate, see
        :mod:`perpml.backtest.funding`) when ``funding``; ``mark_price`` optional.
    positions : Series indexed by bar open times of ``market``, or array of n_bars
        Target position decided at each bar's close, in ``[-max_leverage,
        max_leverage]`` (fraction of equity; > 0 long). NaN = flat. The backtest
        window runs from the first position bar to the bar after the last one.
    fee_rate : float, default 0.0005
        Fee per side on traded notional (Binance USD-M VIP0 taker 0.05 %).
    slippage_bps : float, default 1.0
        Adverse fill price move in basis points of the open.
    funding : bool, default True
        Charge funding at every settlement in the window.
    allow_missing_funding : bool, default False
        With ``funding``: charge settlements without a rate as zero (and say so in
        ``stats``) instead of raising.
    funding_interval : str or Timedelta, default "8h"
        Settlement schedule since 00:00 UTC (ignored with ``funding_times``).
    funding_times : DatetimeIndex, optional
        Explicit settlement times, UTC.
    max_leverage : float, default 1.0
        Largest allowed ``|position|``.
    interval : str, optional
        Bar interval; default ``market.attrs["interval"]`` or inferred from the index.

    Returns
    -------
    BacktestResult

    Raises
    ------
    perpml.exceptions.DataContractError
        Bad market / positions, or missing funding rates (reason in the message).
    perpml.exceptions.ConfigError
        Bad cost arguments or positions beyond ``max_leverage``.
    """
    _check_market(market)
    for name, value in (("fee_rate", fee_rate), ("slippage_bps", slippage_bps)):
        if isinstance(value, bool) or not np.isfinite(value) or value < 0:
            raise ConfigError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    if not max_leverage > 0:
        raise ConfigError(f"`max_leverage` must be > 0, got {max_leverage!r}.")
    name = interval or market.attrs.get("interval") or infer_interval(market.index)
    bar = interval_to_timedelta(str(name))
    i0, i1, target = _align_positions(market, positions, float(max_leverage))
    window = market.iloc[i0 : i1 + 1]
    index = pd.DatetimeIndex(window.index)
    o, c, mark = _prices(window)
    held = np.concatenate(([0.0], target[:-1]))
    slip = float(slippage_bps) * 1e-4

    if funding:
        counts = settlement_counts(
            index,
            bar,
            funding_interval=pd.Timedelta(funding_interval),
            funding_times=funding_times,
        )
        schedule = settlement_rates(window, counts, allow_missing=allow_missing_funding)
        unit_funding = mark * schedule.rates * schedule.counts
    else:
        schedule = None
        unit_funding = np.zeros(len(window))

    seg = _segments(o, c, held, unit_funding, float(fee_rate), slip)
    seg_id = np.repeat(np.arange(len(seg["starts"])), seg["ends"] - seg["starts"])
    equity, base, dead = _equity_path(seg, c, seg_id)
    trades, fees, slips = _trades_table(
        seg, base, index, index[-1] + bar, slip, float(fee_rate), float(c[-1])
    )

    m = len(window)
    starts = seg["starts"]
    # one (m, 3) block filled in place: fees, slippage, funding per bar
    block = np.zeros((m, 3), order="F")
    bar_fees, bar_slip, bar_funding = block[:, 0], block[:, 1], block[:, 2]
    bar_fees[starts] = fees
    bar_slip[starts] = slips
    np.multiply((base * seg["nu"])[seg_id], unit_funding, out=bar_funding)
    traded_notional = base * np.abs(seg["delta"])
    ruined = bool(dead[-1])
    if ruined:  # nothing is paid or traded once the account is empty
        alive = ~dead
        block *= alive[:, None]
        traded_notional = traded_notional * alive[starts]
        exposure = float((held[alive] != 0).mean()) if alive.any() else 0.0
    else:
        exposure = float(np.count_nonzero(held) / m)
    costs = pd.DataFrame(
        block, index=index, columns=["fees", "slippage", "funding"], copy=False
    )
    returns = np.zeros(m)
    prev = equity[:-1]
    if ruined:
        np.divide(equity[1:], prev, out=returns[1:], where=prev > 0)
        returns[1:] = np.where(prev > 0, returns[1:] - 1.0, 0.0)
    else:
        returns[1:] = equity[1:] / prev - 1.0
    equity_s = pd.Series(equity, index=index, name="equity")
    stats = performance_stats(
        equity_s,
        interval=str(name),
        trade_pnl=trades["pnl"].to_numpy(),
        traded_notional=float(traded_notional.sum()),
        exposure=exposure,
        fees_paid=float(bar_fees.sum()),
        funding_paid=float(bar_funding.sum()),
        returns=returns[1:],
    )
    stats.update(
        {
            "slippage_paid": float(bar_slip.sum()),
            "fee_rate": float(fee_rate),
            "slippage_bps": float(slippage_bps),
            "funding_included": bool(funding),
            "n_settlements": 0 if schedule is None else schedule.n_settlements,
            "funding_missing_settlements": 0
            if schedule is None
            else schedule.n_missing,
            "funding_assumed_zero": bool(schedule is not None and schedule.n_missing),
            "ruined": ruined,
        }
    )
    return BacktestResult(
        equity=equity_s,
        trades=trades,
        stats=stats,
        returns=pd.Series(returns, index=index, name="return"),
        position=pd.Series(held, index=index, name="position"),
        costs=costs,
    )
