"""The per-day ledger of a fetch: what each feed holds, lacks, and how it was treated.

After every fetch the exchange sources return a :class:`FetchLedger` (also stored in
``frame.attrs["ledger"]`` as a dict and summarised in ``attrs["quality_notes"]``, so
it reaches the run's ``data_quality``). For each feed (klines, mark, index, funding,
metrics, ...) and each UTC day of the requested range it records one status:

``present``      the day's data was read (from the server or the cache);
``missing``      the server does not have it (HTTP 404 / empty answer);
``unpublished``  not available *yet* (the open day, or a file Binance uploads later);
``checksum``     the file failed its ``.CHECKSUM`` or was not a readable zip, after
                 retries: it was never parsed;

plus where each present day came from (``archive``, ``rest`` or ``cache:<source>``)
and the bars missing *inside* present days (``gaps``). ``treatment`` says what the
source did about it (default: report; missing kline bars raise unless ``gaps=`` asks
for a repair; feed values stay NaN, never fabricated).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["FeedLedger", "FetchLedger", "ledger_frame", "ledger_table"]

STATUSES = ("present", "missing", "unpublished", "checksum")


def _day(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d")


def _ranges(days: list[str]) -> str:
    """Compress sorted ISO days into ``a..b`` runs."""
    if not days:
        return "-"
    stamps = [pd.Timestamp(d) for d in sorted(days)]
    runs: list[list[pd.Timestamp]] = [[stamps[0], stamps[0]]]
    for day in stamps[1:]:
        if day - runs[-1][1] == pd.Timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    parts = [_day(a) if a == b else f"{_day(a)}..{_day(b)}" for a, b in runs]
    return ", ".join(parts[:4]) + (
        f" (+{len(parts) - 4} more)" if len(parts) > 4 else ""
    )


@dataclass
class FeedLedger:
    """What one feed holds over the requested days.

    Attributes
    ----------
    feed : str
        ``klines``, ``mark``, ``index``, ``funding``, ``metrics``, ``open_interest``...
    days : dict of str to str
        ISO day -> status (one of ``present``, ``missing``, ``unpublished``,
        ``checksum``).
    origins : dict of str to str
        ISO day -> where a present day came from.
    gaps : dict of str to int
        ISO day -> bars (snapshots) missing inside that present day.
    errors : list of str
        One line per checksum / format failure (URL and reason).
    treatment : str
        What was done about missing data.
    """

    feed: str
    days: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    gaps: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    treatment: str = "report"

    def mark(self, day: pd.Timestamp, status: str, origin: str | None = None) -> None:
        """Record ``status`` for ``day`` (a later ``present`` wins over a failure)."""
        key = _day(day)
        if self.days.get(key) == "present" and status != "present":
            return
        self.days[key] = status
        if origin is not None and status == "present":
            self.origins[key] = origin

    def with_status(self, status: str) -> list[str]:
        """Sorted ISO days with that status."""
        return sorted(d for d, s in self.days.items() if s == status)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary (counts, day ranges, origins)."""
        counts = Counter(self.days.values())
        by_origin: dict[str, list[str]] = {}
        for day, origin in self.origins.items():
            by_origin.setdefault(origin, []).append(day)
        return {
            "feed": self.feed,
            **{status: counts.get(status, 0) for status in STATUSES},
            "missing_days": self.with_status("missing"),
            "unpublished_days": self.with_status("unpublished"),
            "checksum_days": self.with_status("checksum"),
            "origins": {k: _ranges(v) for k, v in sorted(by_origin.items())},
            "gap_bars": int(sum(self.gaps.values())),
            "gap_days": dict(sorted(self.gaps.items())),
            "errors": list(self.errors),
            "treatment": self.treatment,
        }


@dataclass
class FetchLedger:
    """The ledger of one fetch: one :class:`FeedLedger` per feed.

    Attributes
    ----------
    source : str
    symbol : str
    interval : str
    start, end : Timestamp
        Requested range of bar open times.
    feeds : dict of str to FeedLedger
    requests : int
        HTTP requests this fetch made (0 when everything came from the cache).
    """

    source: str
    symbol: str
    interval: str
    start: pd.Timestamp
    end: pd.Timestamp
    feeds: dict[str, FeedLedger] = field(default_factory=dict)
    requests: int = 0

    def feed(self, name: str) -> FeedLedger:
        """The feed's ledger, created on first use."""
        if name not in self.feeds:
            self.feeds[name] = FeedLedger(name)
        return self.feeds[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored in ``frame.attrs["ledger"]``)."""
        return {
            "source": self.source,
            "symbol": self.symbol,
            "interval": self.interval,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "requests": self.requests,
            "feeds": {name: f.summary() for name, f in self.feeds.items()},
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per feed: counts per status, gap bars, origins, treatment."""
        return ledger_frame(self.to_dict())

    def notes(self) -> list[str]:
        """One quality note per feed with anything other than complete days."""
        out = []
        for name, feed in self.feeds.items():
            s = feed.summary()
            origins = "; ".join(f"{k}: {v}" for k, v in s["origins"].items()) or "-"
            line = f"{self.source} {name}: {s['present']} day(s) present ({origins})"
            for status in ("missing", "unpublished", "checksum"):
                if s[status]:
                    line += f", {s[status]} {status} ({_ranges(s[f'{status}_days'])})"
            if s["gap_bars"]:
                line += f", {s['gap_bars']} bar(s) missing inside files"
            out.append(f"{line}; treatment: {s['treatment']}.")
        return out

    def table(self) -> Any:
        """A rich :class:`~rich.table.Table` of :meth:`to_frame` (text markup-escaped)."""
        return ledger_table(self.to_dict())

    def __str__(self) -> str:
        return self.to_frame().to_string(index=False)


def ledger_frame(ledger: dict[str, Any]) -> pd.DataFrame:
    """One row per feed of a ledger dict (``frame.attrs["ledger"]``, run.json)."""
    rows = []
    for name, s in ledger.get("feeds", {}).items():
        rows.append(
            {
                "feed": name,
                "present": s["present"],
                "missing": s["missing"],
                "unpublished": s["unpublished"],
                "checksum": s["checksum"],
                "gap_bars": s["gap_bars"],
                "origins": "; ".join(f"{k}: {v}" for k, v in s["origins"].items())
                or "-",
                "treatment": s["treatment"],
            }
        )
    return pd.DataFrame(rows)


def ledger_table(ledger: dict[str, Any]) -> Any:
    """A rich :class:`~rich.table.Table` of a ledger dict (text markup-escaped).

    ``console.print(ledger_table(market.attrs["ledger"]))`` shows what a fetch held.
    """
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=escape(
            f"{ledger.get('source')} {ledger.get('symbol')} {ledger.get('interval')}: "
            f"{ledger.get('start')} to {ledger.get('end')} "
            f"({ledger.get('requests', 0)} request(s))"
        ),
        box=box.SIMPLE_HEAD,
    )
    frame = ledger_frame(ledger)
    for col in frame.columns:
        table.add_column(
            col, justify="left" if col in ("feed", "origins", "treatment") else "right"
        )
    for row in frame.itertuples(index=False):
        table.add_row(*(escape(str(v)) for v in row))
    return table
