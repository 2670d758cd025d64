"""From fetched feeds to one canonical market frame (shared by archive and REST).

The kline feed defines the bar grid. Mark- and index-price klines share its open
times, so their closes join on the index. Funding settlements and open-interest /
ratio snapshots are aligned *as of* the time they became known
(:func:`perpml.data.alignment.align_asof`): a snapshot stamped ``T`` lands in the bar
closing at ``T``, a funding rate counts from its settlement on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perpml.data.alignment import align_asof
from perpml.data.contract import validate_market_data
from perpml.data.gaps import fill_gaps
from perpml.data.schema import CANONICAL_COLUMNS, INDEX_NAME, interval_to_timedelta
from perpml.data.sources.ledger import FetchLedger
from perpml.exceptions import ConfigError, DataSourceError

__all__ = ["DEFAULT_DAYS", "FetchRange", "assemble", "resolve_range"]

#: History fetched when neither ``days`` nor ``start`` is given.
DEFAULT_DAYS = 30.0

GAP_POLICIES = ("raise", "flat", "drop_before")

#: Column each bar-aligned feed contributes (the close of its klines).
_PRICE_FEEDS = {"mark": "mark_price", "index": "index_price"}
#: Feeds stamped by the time they became known.
_KNOWN_AT_FEEDS = ("funding", "metrics")
#: Spacing of feeds whose missing snapshots are counted as gaps.
_FEED_SPACING = {"metrics": pd.Timedelta(minutes=5)}


@dataclass(frozen=True)
class FetchRange:
    """A resolved request: bar open times ``[start, end]``, with ``now`` fixed.

    ``end`` is at most the open time of the last bar that has closed by ``now``.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    now: pd.Timestamp


def _utc(value: object) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def resolve_range(
    interval: str,
    *,
    days: float | None,
    start: object = None,
    end: object = None,
    now: pd.Timestamp | None = None,
) -> FetchRange:
    """Turn ``days`` / ``start`` / ``end`` into a closed range of bar open times.

    ``end`` defaults to now; ``start`` to ``end - days`` (``days`` default
    :data:`DEFAULT_DAYS`). Bars still open at ``now`` are excluded.
    """
    from perpml.data.loading import parse_time

    step = interval_to_timedelta(interval)
    clock = _utc(now) or pd.Timestamp.now(tz="UTC")
    last_closed = (clock - step).floor(step)
    last = parse_time(end, "end")
    last = last_closed if last is None else min(last.floor(step), last_closed)
    first = parse_time(start, "start")
    if first is None:
        span = pd.Timedelta(days=float(days if days is not None else DEFAULT_DAYS))
        first = last + step - span
    first = first.ceil(step)
    if first > last:
        raise ConfigError(
            f"No complete {interval} bar lies between {first.isoformat()} and "
            f"{last.isoformat()} (now {clock.isoformat()}); pass an earlier --start "
            "or a later --end (bars still open are never used)."
        )
    return FetchRange(first, last, clock)


def _gap_days(
    times: pd.DatetimeIndex,
    spacing: pd.Timedelta,
    first: pd.Timestamp,
    last: pd.Timestamp,
) -> dict[pd.Timestamp, int]:
    """Missing grid points between ``first`` and ``last``, counted per UTC day."""
    step = spacing.value
    lo, hi = first.value, last.value
    grid = np.arange(lo - lo % step + (step if lo % step else 0), hi + 1, step)
    have = times.as_unit("ns").asi8
    have = have - have % step  # snapshots a few seconds late count for their slot
    have = np.sort(have)
    pos = np.minimum(np.searchsorted(have, grid), max(len(have) - 1, 0))
    missing = grid if not len(have) else grid[have[pos] != grid]
    if not len(missing):
        return {}
    day_ns = 86_400 * 10**9
    days, counts = np.unique(missing - missing % day_ns, return_counts=True)
    return {
        pd.Timestamp(int(d), tz="UTC"): int(n)
        for d, n in zip(days, counts, strict=True)
    }


def _record_gaps(
    ledger: FetchLedger,
    name: str,
    frame: pd.DataFrame,
    spacing: pd.Timedelta,
    window: FetchRange,
) -> None:
    feed = ledger.feed(name)
    if frame.empty:
        return
    last = min(window.end, frame.index.max())
    for day, n in _gap_days(frame.index, spacing, window.start, last).items():
        key = day.strftime("%Y-%m-%d")
        if feed.days.get(key) == "present":
            feed.gaps[key] = n


def assemble(
    feeds: Mapping[str, pd.DataFrame],
    ledger: FetchLedger,
    window: FetchRange,
    *,
    interval: str,
    gaps: str = "raise",
    max_gap: int | None = None,
) -> pd.DataFrame:
    """Build and validate the canonical frame; ``attrs`` carry the ledger.

    Parameters
    ----------
    feeds : mapping of feed name to DataFrame
        ``klines`` (required: canonical kline columns, indexed by open time),
        ``mark`` / ``index`` (a ``close`` column, by open time), ``funding`` /
        ``metrics`` (canonical feed columns, by known-at time).
    gaps : {"raise", "flat", "drop_before"}
        Missing kline bars inside the range: refuse with the ledger (default) or
        repair with :func:`perpml.data.fill_gaps`.

    Raises
    ------
    perpml.exceptions.DataSourceError
        No kline bar in the range, or missing bars with ``gaps="raise"``.
    """
    if gaps not in GAP_POLICIES:
        raise ConfigError(
            f"`gaps` must be one of {list(GAP_POLICIES)}, got {gaps!r}. Pass "
            "gaps='flat' (--gaps flat) to fill missing bars explicitly."
        )
    step = interval_to_timedelta(interval)
    klines = feeds.get("klines")
    if klines is None or klines.empty:
        raise DataSourceError(
            f"{ledger.source} has no {ledger.symbol} {interval} klines between "
            f"{window.start.isoformat()} and {window.end.isoformat()}.\n{ledger}\n"
            "Check the symbol (--symbol), the range (--start/--end, --days) and the "
            "server (--base-url, PERPML_ARCHIVE_URL / PERPML_BINANCE_URL)."
        )
    klines = klines.loc[(klines.index >= window.start) & (klines.index <= window.end)]
    klines = klines[~klines.index.duplicated(keep="first")].sort_index()
    for name in ("klines", *_PRICE_FEEDS):
        if name in feeds:
            _record_gaps(ledger, name, feeds[name], step, window)
    for name, spacing in _FEED_SPACING.items():
        if name in feeds:
            _record_gaps(ledger, name, feeds[name], spacing, window)
    notes = ledger.notes()
    # Bars are expected up to the end of the last day the server should have (present
    # or reported missing); days not published yet only shorten the frame.
    settled = [
        pd.Timestamp(day, tz="UTC")
        for day, status in ledger.feed("klines").days.items()
        if status != "unpublished"
    ]
    grid_end = klines.index[-1]
    if settled:
        grid_end = max(
            grid_end, min(window.end, max(settled) + pd.Timedelta(days=1) - step)
        )
    grid = pd.date_range(klines.index[0], grid_end, freq=step)
    missing = grid.difference(klines.index)
    frame = pd.DataFrame(index=klines.index)
    for col in CANONICAL_COLUMNS:
        if col in klines.columns:
            frame[col] = klines[col].astype("float64")
    frame.attrs = {"interval": interval, "quality_notes": list(notes)}
    if len(missing):
        ledger.feed("klines").treatment = (
            "refused (gaps='raise')" if gaps == "raise" else f"repaired (gaps={gaps!r})"
        )
        if gaps == "raise":
            shown = ", ".join(t.isoformat() for t in missing[:3])
            raise DataSourceError(
                f"{len(missing)} {interval} kline bar(s) are missing inside "
                f"{klines.index[0].isoformat()} .. {klines.index[-1].isoformat()} "
                f"(first: {shown}); perpml never fabricates bars.\n{ledger}\n"
                "Pick a range without the hole (--start/--end), or repair explicitly "
                "with gaps='flat' (flat bars, --gaps flat) or gaps='drop_before'."
            )
        frame = fill_gaps(
            frame,
            policy=gaps,  # type: ignore[arg-type]  # checked above
            interval=interval,
            max_gap=max_gap,
        )
    index = pd.DatetimeIndex(frame.index, name=INDEX_NAME)
    for name, col in _PRICE_FEEDS.items():
        feed = feeds.get(name)
        if feed is not None and not feed.empty:
            series = feed["close"][~feed.index.duplicated(keep="first")]
            frame[col] = series.reindex(index).astype("float64").to_numpy()
    for name in _KNOWN_AT_FEEDS:
        feed = feeds.get(name)
        if feed is None or feed.empty:
            continue
        feed = feed[~feed.index.duplicated(keep="first")].sort_index()
        aligned = align_asof(feed, index, interval=interval)
        for col in aligned.columns:
            frame[col] = aligned[col].to_numpy()
    notes = list(frame.attrs.get("quality_notes", [])) + [
        n for n in ledger.notes() if n not in notes
    ]
    out = frame[[c for c in CANONICAL_COLUMNS if c in frame.columns]].astype("float64")
    out.index = index
    out.attrs = {
        "symbol": ledger.symbol,
        "interval": interval,
        "source": ledger.source,
        "ledger": ledger.to_dict(),
        "quality_notes": notes,
    }
    return validate_market_data(out, interval=interval, min_rows=1)


def empty_feed(columns: list[str]) -> pd.DataFrame:
    """An empty feed frame with a UTC index (for feeds with no data at all)."""
    index = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME)
    return pd.DataFrame(
        {c: np.array([], dtype="float64") for c in columns}, index=index
    )
