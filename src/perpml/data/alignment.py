"""As-of alignment of slower feeds (funding, open interest, ratios) onto a kline grid.

Follows the time rule of :mod:`perpml.data.schema`: a feed value that became known at
time ``S`` is visible in every bar whose **close** (open + interval) is at or after
``S``, until a newer value replaces it or it grows older than ``max_staleness`` (then
NaN). Values are never interpolated and never back-filled.

Timestamp jitter
----------------
Binance stamps funding settlements a few milliseconds late (``08:00:00.007``) and some
open-interest snapshots seconds late (``08:05:02``). A feed time lying at most
``snap_tolerance`` (default 10 s) after a whole minute is snapped down to that minute,
so the 08:00 settlement is visible in the bar closing at 08:00 (opening 07:55 on 5m
bars). This is the only place where a value is used up to ``snap_tolerance`` before
its raw stamp; keep the tolerance well below one bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from perpml.data.schema import interval_to_timedelta
from perpml.exceptions import ConfigError, DataContractError

__all__ = ["DEFAULT_SNAP_TOLERANCE", "align_asof", "default_staleness", "snap_times"]

DEFAULT_SNAP_TOLERANCE = pd.Timedelta(seconds=10)
_MINUTE_NS = pd.Timedelta(minutes=1).value


def _as_timedelta(value: object, name: str) -> pd.Timedelta:
    try:
        out = pd.Timedelta(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(
            f"`{name}` must be a pandas Timedelta or a string like '10s', got {value!r}."
        ) from None
    if pd.isna(out) or out < pd.Timedelta(0):
        raise ConfigError(f"`{name}` must be a non-negative duration, got {value!r}.")
    return out


def snap_times(
    times: pd.DatetimeIndex, tolerance: pd.Timedelta | str = DEFAULT_SNAP_TOLERANCE
) -> pd.DatetimeIndex:
    """Floor times lying within ``tolerance`` after a whole minute to that minute.

    Parameters
    ----------
    times : DatetimeIndex, UTC
        Raw "known at" stamps of a feed.
    tolerance : Timedelta, default 10 s
        Must be below one minute. Times further past the minute are left unchanged.

    Returns
    -------
    DatetimeIndex
        Same length and order, nanosecond unit.
    """
    tol = _as_timedelta(tolerance, "snap_tolerance")
    if tol >= pd.Timedelta(minutes=1):
        raise ConfigError(f"`snap_tolerance` must be below 1 minute, got {tol}.")
    ns = times.as_unit("ns").asi8
    past_minute = ns % _MINUTE_NS
    snapped = np.where(past_minute <= tol.value, ns - past_minute, ns)
    return pd.DatetimeIndex(
        pd.to_datetime(snapped, unit="ns", utc=True), name=times.name
    )


def default_staleness(known_at: pd.DatetimeIndex, interval: str) -> pd.Timedelta:
    """Twice the feed's median spacing, and at least one bar.

    One missed snapshot keeps the previous value for one more period; two missed in a
    row turn the value into NaN instead of silently carrying it on.
    """
    step = interval_to_timedelta(interval)
    if len(known_at) < 2:
        return step
    spacing = pd.Timedelta(
        int(np.median(np.diff(known_at.as_unit("ns").asi8))), unit="ns"
    )
    return max(2 * spacing, step)


def align_asof(
    feed: pd.DataFrame,
    index: pd.DatetimeIndex,
    *,
    interval: str,
    columns: Sequence[str] | None = None,
    max_staleness: pd.Timedelta | str | None = None,
    snap_tolerance: pd.Timedelta | str = DEFAULT_SNAP_TOLERANCE,
) -> pd.DataFrame:
    """Align a feed stamped by "known at" time onto bars stamped by open time.

    Parameters
    ----------
    feed : DataFrame of shape (n_obs, n_cols), indexed by the time each row became known, UTC
        Numeric columns. A NaN cell means "not known in that snapshot" and stays NaN
        (the previous snapshot's value is *not* carried into it).
    index : DatetimeIndex of shape (n_bars,), UTC
        Bar open times of the grid, sorted and unique.
    interval : str
        Bar length of ``index`` (``"5m"`` ...); the bar opening at ``t`` closes at
        ``t + interval``.
    columns : sequence of str, optional
        Feed columns to align (default: all).
    max_staleness : Timedelta or str, optional
        A value older than this at a bar's close becomes NaN. Default:
        :func:`default_staleness` (twice the feed's median spacing).
    snap_tolerance : Timedelta or str, default 10 s
        Jitter tolerance, see the module docstring. ``0`` disables snapping.

    Returns
    -------
    DataFrame of shape (n_bars, n_cols), indexed by ``index``
        Row ``t`` holds the latest feed row with snapped known-time ``<= t + interval``
        and age ``<= max_staleness``; NaN otherwise. ``attrs["max_staleness"]`` holds
        the staleness used.

    Raises
    ------
    perpml.exceptions.DataContractError
        If ``feed`` or ``index`` is not UTC-timestamped or ``index`` is unsorted.
    perpml.exceptions.ConfigError
        On a bad ``interval``, ``max_staleness`` or ``snap_tolerance``.
    """
    step = interval_to_timedelta(interval)
    for what, idx in (("feed index", getattr(feed, "index", None)), ("index", index)):
        if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
            raise DataContractError(
                f"`align_asof` needs a tz-aware UTC DatetimeIndex as {what}; got "
                f"{type(idx).__name__}{'' if idx is None else f' ({idx.dtype})'}. "
                "Convert with pd.to_datetime(..., utc=True)."
            )
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataContractError(
            "`align_asof` needs a sorted grid of unique bar open times; got an unsorted "
            "or repeated index. Call perpml.data.sort_bars / drop_duplicate_bars first."
        )
    cols = list(feed.columns if columns is None else columns)
    missing = [c for c in cols if c not in feed.columns]
    if missing:
        raise ConfigError(
            f"`columns` must name feed columns {list(feed.columns)}; got unknown {missing}."
        )
    known = snap_times(feed.index.tz_convert("UTC"), snap_tolerance)
    right = pd.DataFrame(
        {c: pd.to_numeric(feed[c]).astype("float64").to_numpy() for c in cols}
    )
    right["_known_at"] = known
    # Latest row wins when several rows become known at the same (snapped) time.
    right = right.sort_values("_known_at", kind="stable")
    right = right.drop_duplicates("_known_at", keep="last")
    if max_staleness is None:
        stale = default_staleness(pd.DatetimeIndex(right["_known_at"]), interval)
    else:
        stale = _as_timedelta(max_staleness, "max_staleness")
    close = index.tz_convert("UTC").as_unit("ns") + step
    left = pd.DataFrame({"_close": close})
    merged = pd.merge_asof(
        left,
        right,
        left_on="_close",
        right_on="_known_at",
        direction="backward",
        allow_exact_matches=True,
        tolerance=stale,
    )
    out = pd.DataFrame(
        merged[cols].to_numpy(dtype="float64"), index=index, columns=cols
    )
    out.attrs["max_staleness"] = str(stale)
    return out
