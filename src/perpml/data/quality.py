"""Data quality of a market frame: report, plausibility warnings, feed coverage.

Everything here counts over the frame it is given, so a run that trims the data
reports over its own window.

Warnings (:func:`plausibility_warnings`) flag what is possible but suspicious:

* a column that is zero on every bar where it is known (``volume``, open interest,
  ratios, funding): a broken export, and every feature computed from it is
  constant (see :func:`constant_columns`);
* prices that never change;
* a median ``|funding_rate|`` above :data:`FUNDING_PERCENT_HINT` (0.1 % per
  settlement, ten times the usual 0.01 %): likely a file that stores percent.

Values that cannot be real are errors of the contract (``implausible_funding``,
``price_jump``; see :mod:`perpml.data.contract`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from perpml.data.plausibility import plausibility_warnings
from perpml.data.schema import (
    CANONICAL_COLUMNS,
    INTERVALS,
    OPTIONAL_COLUMNS,
    infer_interval,
)
from perpml.exceptions import ConfigError, DataContractError

__all__ = [
    "FEEDS",
    "FeedCoverage",
    "constant_columns",
    "data_quality_report",
    "feed_coverage",
    "plausibility_warnings",
]

#: Optional columns grouped by the feed that provides them.
FEEDS: dict[str, tuple[str, ...]] = {
    "open interest": ("open_interest", "open_interest_value"),
    "funding": ("funding_rate",),
    "long/short ratios": (
        "long_short_ratio",
        "top_trader_long_short_ratio",
        "taker_long_short_ratio",
    ),
    "taker flow": ("taker_buy_volume", "taker_buy_quote_volume"),
    "quote volume": ("quote_volume",),
    "trade count": ("trades",),
    "mark price": ("mark_price",),
    "index price": ("index_price",),
    "liquidations": (
        "liquidation_long_volume",
        "liquidation_short_volume",
        "liquidation_count",
    ),
}


def _iso(stamp: object) -> str | None:
    return stamp.isoformat() if isinstance(stamp, pd.Timestamp) else None


def data_quality_report(frame: pd.DataFrame) -> dict[str, Any]:
    """Summarise what is known and what is missing in a market frame.

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        A market frame (ideally validated). Optional columns may hold NaN, meaning
        "not known at that bar"; they are counted here, never filled.

    Returns
    -------
    dict
        JSON-serialisable: ``n_rows``, ``start`` / ``end`` (first / last bar open time,
        ISO 8601), ``interval``, ``symbol``, ``source``, ``missing_optional_columns``
        (optional columns absent from the frame), ``optional_columns``
        (``{column: {"nan_count", "nan_share", "first_valid", "last_valid"}}``) and
        ``notes`` (``frame.attrs["quality_notes"]``: repairs, dropped partial bars,
        alignment remarks), ``warnings`` (:func:`plausibility_warnings`) and
        ``constant_columns`` (:func:`constant_columns`); all counted over ``frame``.
    """
    if not isinstance(frame, pd.DataFrame) or not isinstance(
        frame.index, pd.DatetimeIndex
    ):
        raise DataContractError(
            "`data_quality_report` needs a DataFrame indexed by bar open time "
            f"(DatetimeIndex); got {type(frame).__name__}. Validate it with "
            "perpml.data.validate_market_data first."
        )
    interval = frame.attrs.get("interval")
    if interval not in INTERVALS:
        try:
            interval = infer_interval(frame.index)
        except DataContractError:
            interval = None
    n = len(frame)
    optional: dict[str, dict[str, Any]] = {}
    for col in OPTIONAL_COLUMNS:
        if col not in frame.columns:
            continue
        series = frame[col]
        nan_count = int(series.isna().sum())
        optional[col] = {
            "nan_count": nan_count,
            "nan_share": round(nan_count / n, 6) if n else 0.0,
            "first_valid": _iso(series.first_valid_index()),
            "last_valid": _iso(series.last_valid_index()),
        }
    return {
        "n_rows": n,
        "start": _iso(frame.index[0]) if n else None,
        "end": _iso(frame.index[-1]) if n else None,
        "interval": interval,
        "symbol": frame.attrs.get("symbol"),
        "source": frame.attrs.get("source"),
        "missing_optional_columns": [
            c for c in OPTIONAL_COLUMNS if c not in frame.columns
        ],
        "optional_columns": optional,
        "notes": [str(note) for note in frame.attrs.get("quality_notes", [])],
        "warnings": plausibility_warnings(frame),
        "constant_columns": constant_columns(frame),
    }


def constant_columns(frame: pd.DataFrame) -> dict[str, float]:
    """Canonical columns holding one value on every bar where they are known.

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC

    Returns
    -------
    dict
        ``{column: value}`` in canonical order, for columns with at least two known
        values that are all equal (e.g. ``{"volume": 0.0}``). Features computed
        from such a column are constant or undefined; a pipeline dropping them
        should say so (rather than blaming warm-up).
    """
    out: dict[str, float] = {}
    for col in CANONICAL_COLUMNS:
        if col not in frame.columns:
            continue
        known = pd.to_numeric(frame[col], errors="coerce").dropna()
        if len(known) >= 2 and known.nunique() == 1:
            out[col] = float(known.iloc[0])
    return out


@dataclass(frozen=True)
class FeedCoverage:
    """How well one optional feed covers a window of bars.

    Attributes
    ----------
    feed : str
        Feed name, a key of :data:`FEEDS`.
    columns : tuple of str
        The feed's columns present in the frame.
    first_valid, last_valid : Timestamp or None
        First / last bar of the whole frame where any of them is known.
    share : float
        Share of the window's bars where every column of the feed is known.
    covered : bool
        ``share >= min_share``.
    reason : str
        Empty when covered; else why not, in words (starts after the window ends,
        ...).
    """

    feed: str
    columns: tuple[str, ...]
    first_valid: pd.Timestamp | None
    last_valid: pd.Timestamp | None
    share: float
    covered: bool
    reason: str


def feed_coverage(
    market: pd.DataFrame,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    *,
    min_share: float = 0.9,
) -> list[FeedCoverage]:
    """Which optional feeds cover the bars in ``[start, end]``, and why not.

    Call it with the training period to tell the user which feeds (and so which
    features) a run cannot use, e.g. open interest that starts after training ends.

    Parameters
    ----------
    market : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
    start, end : Timestamp, optional
        First / last bar open time of the window (default: the whole frame).
    min_share : float, default 0.9
        Share of the window's bars a feed must be known on to count as covering it.

    Returns
    -------
    list of FeedCoverage
        One per feed of :data:`FEEDS` with a column in ``market``, in that order.
    """
    if not isinstance(market, pd.DataFrame) or not isinstance(
        market.index, pd.DatetimeIndex
    ):
        raise DataContractError(
            "`feed_coverage` needs a market frame indexed by bar open time; got "
            f"{type(market).__name__}."
        )
    if not 0 < min_share <= 1:
        raise ConfigError(f"`min_share` must be in (0, 1], got {min_share!r}.")
    keep = np.ones(len(market), dtype=bool)
    if start is not None:
        keep &= market.index >= start
    if end is not None:
        keep &= market.index <= end
    window = market.loc[keep]
    lo = window.index[0] if len(window) else start
    hi = window.index[-1] if len(window) else end
    out: list[FeedCoverage] = []
    for feed, cols in FEEDS.items():
        present = tuple(c for c in cols if c in market.columns)
        if not present:
            continue
        known_any = market[list(present)].notna().any(axis=1)
        first = known_any.idxmax() if known_any.any() else None
        last = known_any[::-1].idxmax() if known_any.any() else None
        share = (
            float(window[list(present)].notna().all(axis=1).mean())
            if len(window)
            else 0.0
        )
        covered = share >= min_share
        reason = ""
        if not covered:
            span = f"the window {_iso(lo)} to {_iso(hi)}"
            if first is None:
                reason = "no value anywhere in the data"
            elif hi is not None and first > hi:
                reason = f"starts {first.isoformat()}, after {span} ends"
            elif lo is not None and last is not None and last < lo:
                reason = f"ends {last.isoformat()}, before {span} starts"
            else:
                reason = (
                    f"known on {share:.0%} of the bars of {span} (needs "
                    f"{min_share:.0%}; data from {first.isoformat()} to "
                    f"{_iso(last)})"
                )
        out.append(
            FeedCoverage(feed, present, first, last, round(share, 6), covered, reason)
        )
    return out
