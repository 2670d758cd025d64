"""Market data from Binance's public bulk archive (data.binance.vision), cached.

Files used (USD-M futures, ``<base>/data/futures/um/{monthly,daily}/...``):

============  =====================================================  ===============
feed          path below ``data/futures/um/<monthly|daily>/``         granularity
============  =====================================================  ===============
klines        ``klines/<SYM>/<iv>/<SYM>-<iv>-<period>.zip``            monthly + daily
mark          ``markPriceKlines/<SYM>/<iv>/<SYM>-<iv>-<period>.zip``   monthly + daily
index         ``indexPriceKlines/<SYM>/<iv>/<SYM>-<iv>-<period>.zip``  monthly + daily
metrics       ``metrics/<SYM>/<SYM>-metrics-<day>.zip``                daily (5-min)
funding       ``fundingRate/<SYM>/<SYM>-fundingRate-<month>.zip``      monthly
============  =====================================================  ===============

A complete month is read from its monthly file (falling back to the daily files if
the monthly one is missing or defective), other days from daily files. Every zip is
checked against its ``<file>.CHECKSUM`` (``<sha256>  <name>``) before it is parsed; a
mismatch or an unreadable zip is downloaded again, then reported in the ledger and
never used. Parsed files are stored in the Parquet cache
(:class:`~perpml.data.sources.cache.MarketCache`), so a second run over the same
range makes no request.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from perpml.data.schema import REQUIRED_COLUMNS, interval_to_timedelta
from perpml.data.sources._assemble import FetchRange, assemble, resolve_range
from perpml.data.sources._http import ARCHIVE_URL, HttpClient, resolve_base_url
from perpml.data.sources.binance_formats import read_market_file
from perpml.data.sources.cache import MarketCache, Period, plan_periods, utc_days
from perpml.data.sources.ledger import FetchLedger
from perpml.exceptions import ConfigError, DataError

__all__ = ["ARCHIVE_FEEDS", "ArchiveFeed", "ArchiveSource", "FetchResult"]


@dataclass(frozen=True)
class ArchiveFeed:
    """How one feed is laid out in the archive.

    Attributes
    ----------
    folder : str
        Folder below ``data/futures/um/<monthly|daily>/``.
    per_interval : bool
        Kline-like feeds have one folder per interval.
    monthly, daily : bool
        Which granularities Binance publishes.
    columns : tuple of str
        Columns kept in the cache.
    """

    folder: str
    per_interval: bool
    monthly: bool
    daily: bool
    columns: tuple[str, ...]


_KLINE_COLUMNS = (
    *REQUIRED_COLUMNS,
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)
_METRIC_COLUMNS = (
    "open_interest",
    "open_interest_value",
    "long_short_ratio",
    "top_trader_long_short_ratio",
    "taker_long_short_ratio",
)

#: The feeds the archive source reads, by name.
ARCHIVE_FEEDS: dict[str, ArchiveFeed] = {
    "klines": ArchiveFeed("klines", True, True, True, _KLINE_COLUMNS),
    "mark": ArchiveFeed("markPriceKlines", True, True, True, ("close",)),
    "index": ArchiveFeed("indexPriceKlines", True, True, True, ("close",)),
    "metrics": ArchiveFeed("metrics", False, False, True, _METRIC_COLUMNS),
    "funding": ArchiveFeed("fundingRate", False, True, False, ("funding_rate",)),
}

_DAY_NS = 86_400 * 10**9

#: Extra history read before ``start`` so the first bars see the feed's last value.
_LOOKBACK = {"funding": pd.Timedelta(days=1)}


@dataclass
class FetchResult:
    """What :meth:`ArchiveSource.fetch` got: one frame per feed plus the ledger."""

    feeds: dict[str, pd.DataFrame]
    ledger: FetchLedger
    window: FetchRange


@dataclass
class _Outcome:
    status: str  # present | missing | unpublished | checksum
    frame: pd.DataFrame | None = None
    origin: str = "archive"
    error: str | None = None


def archive_path(feed: str, symbol: str, interval: str, period: Period) -> str:
    """URL path of one archive zip (below the base URL)."""
    spec = ARCHIVE_FEEDS[feed]
    granularity = "daily" if period.kind == "day" else "monthly"
    if spec.per_interval:
        return (
            f"/data/futures/um/{granularity}/{spec.folder}/{symbol}/{interval}/"
            f"{symbol}-{interval}-{period.label}.zip"
        )
    return (
        f"/data/futures/um/{granularity}/{spec.folder}/{symbol}/"
        f"{symbol}-{spec.folder}-{period.label}.zip"
    )


def _expected_sha256(text: str) -> str | None:
    first = text.strip().split()
    if first and len(first[0]) == 64:
        try:
            int(first[0], 16)
        except ValueError:
            return None
        return first[0].lower()
    return None


class ArchiveSource:
    """Binance USD-M futures data from the public archive, verified and cached.

    Parameters
    ----------
    base_url : str, optional
        Archive host; default ``PERPML_ARCHIVE_URL`` or ``https://data.binance.vision``
        (the path layout below it must be Binance's).
    cache_dir : str or Path, optional
        Parquet cache; default ``PERPML_CACHE_DIR`` or the user cache folder.
    feeds : sequence of str, default all of :data:`ARCHIVE_FEEDS`
        Feeds to read; ``klines`` is always included.
    gaps : {"raise", "flat", "drop_before"}, default "raise"
        Missing kline bars inside the range (a missing daily file, a defective
        file): refuse with the ledger in the message, or repair explicitly with
        :func:`perpml.data.fill_gaps`. Missing feed values stay NaN.
    max_gap : int, optional
        Longest run of bars ``gaps="flat"`` may fill.
    workers : int, default 4
        Parallel downloads.
    checksum_retries : int, default 2
        Downloads repeated after a checksum mismatch or an unreadable zip.
    transport : httpx.BaseTransport, optional
        Injected HTTP transport (tests).
    max_retries, backoff, backoff_cap, max_retry_after, timeout, sleep
        Passed to :class:`~perpml.data.sources._http.HttpClient`.
    now : Timestamp, optional
        Fixed "current time" (tests); default the clock.

    Notes
    -----
    Feed values follow the known-at rule of :mod:`perpml.data.schema`: a metrics
    snapshot stamped ``T`` lands in the bar closing at ``T``; a funding rate counts
    from its settlement on. ``frame.attrs["ledger"]`` holds the per-day ledger.
    """

    name = "archive"
    supports_range = True

    def __init__(
        self,
        *,
        base_url: str | None = None,
        cache_dir: str | Path | None = None,
        feeds: Sequence[str] | None = None,
        gaps: str = "raise",
        max_gap: int | None = None,
        workers: int = 4,
        checksum_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] | None = None,
        now: pd.Timestamp | str | None = None,
    ) -> None:
        self.base_url = base_url
        self.cache_dir = cache_dir
        self.feeds = feeds
        self.gaps = gaps
        self.max_gap = max_gap
        self.workers = workers
        self.checksum_retries = checksum_retries
        self.transport = transport
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.sleep = sleep
        self.now = now

    # -- configuration ----------------------------------------------------------

    def _feed_names(self) -> list[str]:
        names = list(ARCHIVE_FEEDS) if self.feeds is None else list(self.feeds)
        unknown = sorted(set(names) - set(ARCHIVE_FEEDS))
        if unknown:
            raise ConfigError(
                f"Unknown archive feed(s) {unknown}; valid feeds are "
                f"{list(ARCHIVE_FEEDS)}."
            )
        return ["klines", *[n for n in names if n != "klines"]]

    def open_client(self) -> HttpClient:
        """A new HTTP client for the archive host (close it after use)."""
        if isinstance(self.workers, bool) or not isinstance(self.workers, int):
            raise ConfigError(f"`workers` must be an int >= 1, got {self.workers!r}.")
        if self.workers < 1:
            raise ConfigError(f"`workers` must be >= 1, got {self.workers}.")
        url = resolve_base_url(self.base_url, "PERPML_ARCHIVE_URL", ARCHIVE_URL)
        kwargs = {} if self.sleep is None else {"sleep": self.sleep}
        return HttpClient(
            url,
            transport=self.transport,
            timeout=self.timeout,
            max_retries=self.max_retries,
            backoff=self.backoff,
            backoff_cap=self.backoff_cap,
            max_retry_after=self.max_retry_after,
            **kwargs,  # type: ignore[arg-type]
        )

    def _now(self) -> pd.Timestamp | None:
        if self.now is None:
            return None
        stamp = pd.Timestamp(self.now)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp

    # -- one file ---------------------------------------------------------------

    def _download(
        self, client: HttpClient, feed: str, symbol: str, interval: str, period: Period
    ) -> _Outcome:
        path = archive_path(feed, symbol, interval, period)
        name = path.rsplit("/", 1)[1]
        what = f"{feed} {symbol} {period.label}"
        problem = ""
        for _ in range(self.checksum_retries + 1):
            response = client.get(path, what=what)
            if response.status_code == 404:
                return _Outcome("missing")
            body = response.content
            check = client.get(path + ".CHECKSUM", what=f"{what} checksum")
            if check.status_code == 404:
                problem = f"{name}: no .CHECKSUM file"
                continue
            expected = _expected_sha256(check.text)
            actual = hashlib.sha256(body).hexdigest()
            if expected is None:
                problem = f"{name}: unreadable .CHECKSUM {check.text[:80]!r}"
                continue
            if actual != expected:
                problem = (
                    f"{name}: sha256 {actual[:12]}... does not match .CHECKSUM "
                    f"{expected[:12]}... ({len(body)} bytes)"
                )
                continue
            try:
                frame = self._parse(feed, name, body)
            except (DataError, zipfile.BadZipFile, OSError, ValueError) as err:
                problem = f"{name}: checksum ok but unreadable ({err})"
                continue
            return _Outcome("present", frame)
        return _Outcome("checksum", error=problem)

    @staticmethod
    def _parse(feed: str, name: str, body: bytes) -> pd.DataFrame:
        spec = ARCHIVE_FEEDS[feed]
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            if archive.testzip() is not None:
                raise zipfile.BadZipFile("corrupt member")
        with tempfile.TemporaryDirectory(prefix="perpml-archive-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(body)
            parsed = read_market_file(path)
        frame = parsed.frame
        missing = [c for c in spec.columns if c not in frame.columns]
        if feed == "metrics":
            for col in missing:
                frame[col] = float("nan")
        elif missing:
            raise DataError(f"lacks columns {missing}")
        frame = frame[list(spec.columns)].astype("float64")
        return frame.sort_index(kind="stable")

    def _one(
        self,
        client: HttpClient,
        cache: MarketCache,
        feed: str,
        symbol: str,
        interval: str,
        period: Period,
        now: pd.Timestamp,
    ) -> _Outcome:
        spec = ARCHIVE_FEEDS[feed]
        key_iv = interval if spec.per_interval else None
        cached = cache.read("archive", feed, symbol, key_iv, period)
        if cached is not None:
            return _Outcome("present", cached, origin="cache")
        if period.kind == "month" and not spec.monthly:
            return _Outcome("derived")  # no such file upstream: read the days
        if cache.is_missing("archive", feed, symbol, key_iv, period):
            return _Outcome("missing", origin="cache")
        if not period.complete(now):
            return _Outcome("unpublished")  # Binance uploads a file after it ends
        outcome = self._download(client, feed, symbol, interval, period)
        if outcome.status == "present" and outcome.frame is not None:
            cache.write("archive", feed, symbol, key_iv, period, outcome.frame)
        elif outcome.status == "missing":
            if not cache.mark_missing("archive", feed, symbol, key_iv, period, now):
                outcome.status = "unpublished"
        return outcome

    # -- public -----------------------------------------------------------------

    def fetch(
        self,
        symbol: str,
        interval: str,
        *,
        days: float | None = None,
        start: object = None,
        end: object = None,
        feeds: Sequence[str] | None = None,
    ) -> FetchResult:
        """Fill the cache for the range and return the raw feeds and the ledger.

        Parameters
        ----------
        symbol, interval : str
        days : float, optional
            History counted back from ``end`` (default now) when ``start`` is None.
        start, end : str or Timestamp, optional
            Inclusive range of bar open times, UTC.
        feeds : sequence of str, optional
            Override the source's ``feeds``.

        Returns
        -------
        FetchResult
            ``feeds``: one frame per feed (klines by open time, feeds by known-at
            time), trimmed to the range; ``ledger``: per feed and day.
        """
        interval_to_timedelta(interval)
        window = resolve_range(
            interval, days=days, start=start, end=end, now=self._now()
        )
        names = self._feed_names() if feeds is None else list(feeds)
        ledger = FetchLedger(self.name, symbol, interval, window.start, window.end)
        cache = MarketCache(self.cache_dir)
        with self.open_client() as client:
            frames = {
                name: self._fetch_feed(
                    client, cache, ledger, name, symbol, interval, window
                )
                for name in names
            }
            ledger.requests = client.n_requests
        return FetchResult(frames, ledger, window)

    def fetch_feed(
        self,
        client: HttpClient,
        cache: MarketCache,
        ledger: FetchLedger,
        feed: str,
        symbol: str,
        interval: str,
        window: FetchRange,
        days: Sequence[pd.Timestamp] | None = None,
    ) -> pd.DataFrame:
        """One feed over ``window`` (or only the given UTC ``days``), into ``ledger``.

        Used by :class:`~perpml.data.sources.binance.BinanceRestSource` to fill the
        open-interest and ratio history older than the REST endpoints' 30 days.
        """
        return self._fetch_feed(
            client, cache, ledger, feed, symbol, interval, window, days
        )

    def _fetch_feed(
        self,
        client: HttpClient,
        cache: MarketCache,
        ledger: FetchLedger,
        feed: str,
        symbol: str,
        interval: str,
        window: FetchRange,
        only_days: Sequence[pd.Timestamp] | None = None,
    ) -> pd.DataFrame:
        spec = ARCHIVE_FEEDS[feed]
        book = ledger.feed(feed)
        first = window.start - _LOOKBACK.get(feed, pd.Timedelta(0))
        wanted = (
            set(utc_days(window.start, window.end))
            if only_days is None
            else set(only_days)
        )
        # Daily-only feeds (metrics) are planned by month too: a complete month whose
        # days were all fetched is cached as one consolidated file, read in one go.
        periods = plan_periods(first, window.end, window.now, daily=spec.daily)
        if only_days is not None:
            periods = [p for p in periods if wanted & set(p.days())]
        periods = self._prefer_cached_days(
            cache, feed, symbol, interval, periods, window
        )
        outcomes = self._run(client, cache, feed, symbol, interval, periods, window.now)
        retry: list[Period] = []
        retried: set[Period] = set()
        for period, outcome in zip(periods, outcomes, strict=True):
            if period.kind == "month" and spec.daily and outcome.status != "present":
                retried.add(period)
                retry.extend(
                    Period(d, "day")
                    for d in period.days()
                    if d in wanted and d <= window.now
                )
        if retry:
            periods = periods + retry
            outcomes = outcomes + self._run(
                client, cache, feed, symbol, interval, retry, window.now
            )
        parts: list[pd.DataFrame] = []
        daily: dict[pd.Timestamp, pd.DataFrame] = {}
        for period, outcome in zip(periods, outcomes, strict=True):
            days = [d for d in period.days() if d in wanted]
            if outcome.status == "present" and outcome.frame is not None:
                frame = outcome.frame
                parts.append(frame)
                if period.kind == "day":
                    daily[period.start] = frame
                held = set((frame.index.asi8 // _DAY_NS).tolist())
                origin = "archive" if outcome.origin == "archive" else "cache:archive"
                for day in days:
                    status = "present" if day.value // _DAY_NS in held else "missing"
                    book.mark(day, status, origin)
            else:
                if outcome.error:
                    book.errors.append(outcome.error)
                if period in retried:
                    continue  # its days are accounted for by the daily files
                for day in days:
                    book.mark(day, outcome.status)
        if not spec.monthly:
            self._consolidate(cache, feed, symbol, retried, daily, window.now)
        if not parts:
            from perpml.data.sources._assemble import empty_feed

            return empty_feed(list(spec.columns))
        out = pd.concat(parts).sort_index(kind="stable")
        out = out[~out.index.duplicated(keep="first")]
        upper = window.end + interval_to_timedelta(interval)
        return out.loc[(out.index >= first) & (out.index <= upper)]

    @staticmethod
    def _consolidate(
        cache: MarketCache,
        feed: str,
        symbol: str,
        months: set[Period],
        daily: dict[pd.Timestamp, pd.DataFrame],
        now: pd.Timestamp,
    ) -> None:
        """Cache a complete month of a daily-only feed as one file once all days are in."""
        for month in months:
            days = month.days()
            if month.complete(now) and all(d in daily for d in days):
                frame = pd.concat([daily[d] for d in days]).sort_index(kind="stable")
                cache.write("archive", feed, symbol, None, month, frame)

    def _prefer_cached_days(
        self,
        cache: MarketCache,
        feed: str,
        symbol: str,
        interval: str,
        periods: list[Period],
        window: FetchRange,
    ) -> list[Period]:
        """Use cached daily files for a month when they cover its days in range."""
        spec = ARCHIVE_FEEDS[feed]
        if not spec.daily:
            return periods
        key_iv = interval if spec.per_interval else None
        out: list[Period] = []
        wanted = set(utc_days(window.start, window.end))
        for period in periods:
            if (
                period.kind == "month"
                and not cache.path("archive", feed, symbol, key_iv, period).exists()
            ):
                days = [Period(d, "day") for d in period.days() if d in wanted]
                if days and all(
                    cache.path("archive", feed, symbol, key_iv, d).exists()
                    or cache.is_missing("archive", feed, symbol, key_iv, d)
                    for d in days
                ):
                    out.extend(days)
                    continue
            out.append(period)
        return out

    def _run(
        self,
        client: HttpClient,
        cache: MarketCache,
        feed: str,
        symbol: str,
        interval: str,
        periods: list[Period],
        now: pd.Timestamp,
    ) -> list[_Outcome]:
        if self.workers == 1 or len(periods) <= 1:
            return [
                self._one(client, cache, feed, symbol, interval, p, now)
                for p in periods
            ]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(
                pool.map(
                    lambda p: self._one(client, cache, feed, symbol, interval, p, now),
                    periods,
                )
            )

    def load(
        self,
        symbol: str,
        days: float | None,
        interval: str,
        *,
        start: object = None,
        end: object = None,
    ) -> pd.DataFrame:
        """Fetch (or read from the cache) and assemble the validated market frame.

        Parameters
        ----------
        symbol : str
        days : float or None
            History counted back from ``end`` (default now) when ``start`` is None;
            default 30.
        interval : str
        start, end : str or Timestamp, optional
            Inclusive range of bar open times, UTC.

        Returns
        -------
        DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
            Canonical columns incl. ``mark_price``, ``index_price``,
            ``funding_rate`` and the metrics; ``attrs["ledger"]`` is the per-day
            ledger, ``attrs["quality_notes"]`` its summary.

        Raises
        ------
        perpml.exceptions.DataSourceError
            Download failed after retries; no klines; missing bars with
            ``gaps="raise"``.
        """
        result = self.fetch(symbol, interval, days=days, start=start, end=end)
        return assemble(
            result.feeds,
            result.ledger,
            result.window,
            interval=interval,
            gaps=self.gaps,
            max_gap=self.max_gap,
        )
