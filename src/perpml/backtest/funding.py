"""Funding settlements of a market frame: when they happen and at which rate.

The canonical market frame (:mod:`perpml.data.schema`) carries ``funding_rate`` *as of*
each bar: the rate settled at time ``S`` appears in the bar whose close is at or after
``S`` and is forward-filled until the next settlement. It does not mark the
settlements themselves, and a forward-filled rate cannot reveal them (consecutive
settlements often have the same rate, e.g. Binance's 0.01 % floor). Settlement times
therefore come from the exchange schedule — every ``funding_interval`` since
00:00 UTC (Binance USD-M: 00/08/16 UTC) — or from explicit ``funding_times``.

A settlement at ``S`` is charged in the bar with ``open < S <= close`` (on 5m bars
the 08:00 settlement is charged in the bar opening at 07:55), at that bar's
``funding_rate``, the same bar in which the data layer makes the new rate visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from perpml.exceptions import ConfigError, DataContractError

__all__ = ["FundingSchedule", "settlement_counts", "settlement_rates"]

_EIGHT_HOURS = pd.Timedelta(hours=8)


@dataclass(frozen=True)
class FundingSchedule:
    """Per-bar settlements and rates over a backtest window.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_bars,)
        Settlements falling in each bar's ``(open, close]``.
    rates : ndarray of float64, shape (n_bars,)
        Rate charged per settlement (0 where there is none or it is assumed zero).
    n_settlements : int
        Settlements in the window.
    n_missing : int
        Settlements without a known rate (charged as zero; only when allowed).
    first_missing : tuple of str
        Up to three bar open times of missing settlements (ISO format).
    """

    counts: np.ndarray
    rates: np.ndarray
    n_settlements: int
    n_missing: int
    first_missing: tuple[str, ...]


def settlement_counts(
    index: pd.DatetimeIndex,
    bar: pd.Timedelta,
    *,
    funding_interval: pd.Timedelta = _EIGHT_HOURS,
    funding_times: pd.DatetimeIndex | None = None,
) -> np.ndarray:
    """Number of funding settlements in each bar's ``(open, close]``.

    Parameters
    ----------
    index : DatetimeIndex of shape (n_bars,), bar open times, UTC
    bar : Timedelta
        Bar length.
    funding_interval : Timedelta, default 8 h
        Settlements at every multiple of it since 00:00 UTC; ignored when
        ``funding_times`` is given.
    funding_times : DatetimeIndex, optional
        Explicit settlement times (UTC), e.g. a fundingRate file's ``fundingTime``
        (snap the millisecond jitter first, see :func:`perpml.data.alignment.snap_times`).

    Returns
    -------
    ndarray of int64, shape (n_bars,)
    """
    opens = index.as_unit("ns").asi8
    closes = opens + bar.value
    if funding_times is not None:
        times = np.sort(pd.DatetimeIndex(funding_times).as_unit("ns").asi8)
        right = np.searchsorted(times, closes, side="right")
        left = np.searchsorted(times, opens, side="right")
        return (right - left).astype(np.int64)
    step = pd.Timedelta(funding_interval).value
    if step <= 0:
        raise ConfigError(
            f"`funding_interval` must be a positive duration, got {funding_interval}."
        )
    return (np.floor_divide(closes, step) - np.floor_divide(opens, step)).astype(
        np.int64
    )


def settlement_rates(
    window: pd.DataFrame,
    counts: np.ndarray,
    *,
    allow_missing: bool,
) -> FundingSchedule:
    """Rates of the settlements in ``window``; refuse missing ones unless allowed.

    Parameters
    ----------
    window : DataFrame, the market rows of the backtest
        Needs ``funding_rate`` (a missing column means every rate is missing).
    counts : ndarray of shape (n_bars,)
        Output of :func:`settlement_counts` on ``window.index``.
    allow_missing : bool
        False: raise on any settlement without a finite rate. True: charge zero there
        and report the count (the run summary says so).

    Raises
    ------
    perpml.exceptions.DataContractError
        Reason ``missing_funding`` when a settlement has no rate and
        ``allow_missing`` is False.
    """
    n = len(window)
    if "funding_rate" in window:
        rate = window["funding_rate"].to_numpy(np.float64)
    else:
        rate = np.full(n, np.nan)
    settle = counts > 0
    missing = settle & ~np.isfinite(rate)
    n_missing = int(counts[missing].sum())
    first = tuple(str(t) for t in window.index[np.flatnonzero(missing)[:3]])
    if n_missing and not allow_missing:
        where = (
            "the market has no `funding_rate` column"
            if "funding_rate" not in window
            else f"`funding_rate` is NaN at {n_missing} of them (first bars: "
            f"{', '.join(first)})"
        )
        raise DataContractError(
            f"Funding is enabled, so every settlement in the backtest window needs a "
            f"rate; {int(counts.sum())} settlements fall in it but {where}. Load "
            "funding rates for the whole period, or disable funding (funding=False / "
            "[backtest].funding = false), or charge missing settlements as zero and "
            "flag it (allow_missing_funding=True / [backtest].allow_missing_funding = "
            "true)."
        )
    rates = np.where(settle & np.isfinite(rate), rate, 0.0)
    return FundingSchedule(
        counts=counts,
        rates=rates,
        n_settlements=int(counts.sum()),
        n_missing=n_missing,
        first_missing=first,
    )
