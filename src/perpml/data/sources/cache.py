"""The local Parquet cache of fetched market data, and its range arithmetic.

Layout: ``<root>/<source>/<kind>/<SYMBOL>/<interval>/<YYYY-MM>.parquet`` (a month) or
``.../<YYYY-MM-DD>.parquet`` (a day); feeds without an interval (funding) use ``-``.
A period the server does not have is recorded by an empty ``<period>.missing``
marker, so a rerun does not ask again. Every write goes to a temporary file in the
same folder and is renamed into place (``os.replace``): an interrupted fetch leaves
complete files or none. Only complete periods are written: the day (or month) that is
still open is always fetched again.

``root`` defaults to ``PERPML_CACHE_DIR`` or the platform's user cache folder
(``~/.cache/perpml`` on Linux).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from perpml.exceptions import ConfigError

__all__ = [
    "MarketCache",
    "Period",
    "default_cache_dir",
    "missing_runs",
    "plan_periods",
    "utc_days",
]

PeriodKind = Literal["day", "month"]

#: How long after a period ends a 404 still means "not published yet" rather than
#: "never will be": Binance uploads daily files the next day, monthly files in the
#: first days of the next month.
PUBLISH_GRACE = pd.Timedelta(days=3)


def default_cache_dir() -> Path:
    """``PERPML_CACHE_DIR`` if set, else the platform's user cache folder for perpml."""
    env = os.environ.get("PERPML_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("perpml", appauthor=False))


@dataclass(frozen=True, order=True)
class Period:
    """One day or one calendar month, UTC.

    Attributes
    ----------
    start : Timestamp
        Midnight UTC opening the period.
    kind : {"day", "month"}
    """

    start: pd.Timestamp
    kind: PeriodKind

    @property
    def end(self) -> pd.Timestamp:
        """Midnight UTC after the period (exclusive end)."""
        if self.kind == "day":
            return self.start + pd.Timedelta(days=1)
        return self.start + pd.offsets.MonthBegin(1)

    @property
    def label(self) -> str:
        """``YYYY-MM-DD`` for a day, ``YYYY-MM`` for a month (the archive's naming)."""
        return self.start.strftime("%Y-%m-%d" if self.kind == "day" else "%Y-%m")

    def days(self) -> list[pd.Timestamp]:
        """Midnights of the days the period covers."""
        return list(pd.date_range(self.start, self.end, freq="D", inclusive="left"))

    def complete(self, now: pd.Timestamp) -> bool:
        """True once the period has ended (its last bar closed) at ``now``."""
        return self.end <= now


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def utc_days(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """Midnights of the UTC days holding any instant of ``[start, end]``."""
    first = _utc(start).floor("D")
    last = _utc(end).floor("D")
    return list(pd.date_range(first, last, freq="D"))


def plan_periods(
    start: pd.Timestamp,
    end: pd.Timestamp,
    now: pd.Timestamp,
    *,
    monthly: bool = True,
    daily: bool = True,
) -> list[Period]:
    """Files covering ``[start, end]``: whole months where complete, days otherwise.

    Parameters
    ----------
    start, end : Timestamp
        Inclusive range of bar open times, UTC.
    now : Timestamp
        Current time; a month is complete when it ended at or before ``now``. Days
        that have not started yet are left out; the open day is included (its data
        can only come from a server that publishes intraday, i.e. REST).
    monthly, daily : bool
        Which file granularities the feed has (``metrics``: daily only; funding:
        monthly only).

    Returns
    -------
    list of Period
        Sorted, non-overlapping.
    """
    if not (monthly or daily):
        raise ConfigError("plan_periods needs monthly=True or daily=True.")
    out: list[Period] = []
    days = [d for d in utc_days(start, end) if d <= _utc(now)]
    by_month: dict[pd.Timestamp, list[pd.Timestamp]] = {}
    for day in days:
        by_month.setdefault(day.replace(day=1), []).append(day)
    for month, month_days in by_month.items():
        period = Period(month, "month")
        if monthly and (period.complete(now) or not daily):
            out.append(period)
        else:
            out.extend(Period(d, "day") for d in month_days)
    return out


def missing_runs(
    days: Sequence[pd.Timestamp], have: Iterable[pd.Timestamp]
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Contiguous runs of ``days`` not in ``have``, as ``(first_day, last_day)``.

    Used to ask a REST endpoint for as few, as long ranges as possible.
    """
    held = set(have)
    runs: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    one = pd.Timedelta(days=1)
    for day in sorted(days):
        if day in held:
            continue
        if runs and runs[-1][1] + one == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


class MarketCache:
    """Parquet files of fetched data, one per (source, kind, symbol, interval, period).

    Parameters
    ----------
    root : str or Path, optional
        Cache folder; default :func:`default_cache_dir`.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def path(
        self, source: str, kind: str, symbol: str, interval: str | None, period: Period
    ) -> Path:
        """Where the period's Parquet file lives (it may not exist)."""
        return (
            self.root
            / source
            / kind
            / symbol
            / (interval or "-")
            / f"{period.label}.parquet"
        )

    def read(
        self, source: str, kind: str, symbol: str, interval: str | None, period: Period
    ) -> pd.DataFrame | None:
        """The cached frame of a period, or None when not cached (or unreadable)."""
        path = self.path(source, kind, symbol, interval, period)
        if not path.exists():
            return None
        try:
            frame = pq.read_table(path, use_threads=False).to_pandas()
        except (OSError, pa.ArrowException):
            return None  # a damaged file is fetched again
        if isinstance(frame.index, pd.DatetimeIndex):
            frame.index = frame.index.as_unit("ns")
        return frame

    def write(
        self,
        source: str,
        kind: str,
        symbol: str,
        interval: str | None,
        period: Period,
        frame: pd.DataFrame,
    ) -> Path:
        """Store a complete period atomically (temp file in the folder + rename)."""
        path = self.path(source, kind, symbol, interval, period)
        table = pa.Table.from_pandas(frame, preserve_index=True)
        self._atomic(path, lambda tmp: pq.write_table(table, tmp))
        path.with_suffix(".missing").unlink(missing_ok=True)
        return path

    def is_missing(
        self, source: str, kind: str, symbol: str, interval: str | None, period: Period
    ) -> bool:
        """True when the server said the (complete) period does not exist."""
        path = self.path(source, kind, symbol, interval, period).with_suffix(".missing")
        return path.exists()

    def mark_missing(
        self,
        source: str,
        kind: str,
        symbol: str,
        interval: str | None,
        period: Period,
        now: pd.Timestamp,
    ) -> bool:
        """Record a 404 once the period is past its publishing grace; True if recorded.

        A period that ended recently may still be uploaded, so it is asked again next
        time instead.
        """
        if period.end + PUBLISH_GRACE > now:
            return False
        path = self.path(source, kind, symbol, interval, period).with_suffix(".missing")
        self._atomic(path, lambda tmp: Path(tmp).write_bytes(b""))
        return True

    @staticmethod
    def _atomic(path: Path, write: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        os.close(fd)
        try:
            write(tmp)  # type: ignore[operator]
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
