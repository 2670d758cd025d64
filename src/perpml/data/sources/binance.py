"""Market data from Binance's public USD-M futures REST API (no key), cached.

Endpoints (``<base>`` = ``PERPML_BINANCE_URL`` or ``https://fapi.binance.com``):

==========================================  =======  =====================================
endpoint                                    limit    column(s)
==========================================  =======  =====================================
``/fapi/v1/klines``                         1500     OHLCV, quote volume, trades, taker buy
``/fapi/v1/markPriceKlines``                1500     ``mark_price`` (close)
``/fapi/v1/indexPriceKlines`` (``pair``)    1500     ``index_price`` (close)
``/fapi/v1/fundingRate``                    1000     ``funding_rate`` (by settlement time)
``/futures/data/openInterestHist``          500      ``open_interest(_value)``
``/futures/data/globalLongShortAccountRatio`` 500    ``long_short_ratio``
``/futures/data/topLongShortPositionRatio``  500     ``top_trader_long_short_ratio``
``/futures/data/takerlongshortRatio``        500     ``taker_long_short_ratio`` (buySellRatio)
==========================================  =======  =====================================

Paging: each request asks for a window of at most ``limit`` points
(``startTime``/``endTime`` are inclusive); rows outside the window or at or before the
last row already held are dropped, so pages join without a repeated or a missing bar,
and an overlapping or empty page cannot corrupt the result. Requests are sequential
and the client slows down on ``X-MBX-USED-WEIGHT-1M``
(:mod:`perpml.data.sources._http`).

The ``/futures/data`` statistics serve only the **last 30 days**: older open-interest
and ratio history comes from the archive's daily ``metrics`` files
(:class:`~perpml.data.sources.archive.ArchiveSource`), as do recent days the archive
already has; REST fills only the tail the archive has not published yet. The ledger's
``origins`` say which day came from where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from perpml.data.schema import INDEX_NAME, interval_to_timedelta
from perpml.data.sources._assemble import (
    FetchRange,
    assemble,
    empty_feed,
    resolve_range,
)
from perpml.data.sources._http import BINANCE_URL, HttpClient, resolve_base_url
from perpml.data.sources.archive import ARCHIVE_FEEDS, ArchiveSource, FetchResult
from perpml.data.sources.cache import MarketCache, Period, missing_runs, utc_days
from perpml.data.sources.ledger import FetchLedger
from perpml.exceptions import ConfigError, DataFormatError

__all__ = ["REST_FEEDS", "BinanceRestSource", "page_range"]

#: How far back the /futures/data statistics go.
STATS_WINDOW = pd.Timedelta(days=30)
#: Snapshot period asked of the statistics endpoints (the archive's metrics period).
STATS_PERIOD = "5m"

REST_FEEDS = ("klines", "mark", "index", "funding", "metrics")

_KLINE_PATHS = {
    "klines": ("/fapi/v1/klines", "symbol"),
    "mark": ("/fapi/v1/markPriceKlines", "symbol"),
    "index": ("/fapi/v1/indexPriceKlines", "pair"),
}
#: Statistics endpoint -> {JSON field: canonical column}.
_STATS: dict[str, dict[str, str]] = {
    "/futures/data/openInterestHist": {
        "sumOpenInterest": "open_interest",
        "sumOpenInterestValue": "open_interest_value",
    },
    "/futures/data/globalLongShortAccountRatio": {"longShortRatio": "long_short_ratio"},
    "/futures/data/topLongShortPositionRatio": {
        "longShortRatio": "top_trader_long_short_ratio"
    },
    "/futures/data/takerlongshortRatio": {"buySellRatio": "taker_long_short_ratio"},
}
_MS = 1_000_000  # ns per ms

Row = tuple[int, dict[str, float]]


def _ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // _MS)


def page_range(
    get_page: Callable[[int, int], list[Row]],
    start_ms: int,
    end_ms: int,
    *,
    step_ms: int,
    limit: int,
) -> list[Row]:
    """Collect every row in ``[start_ms, end_ms]`` from a paged endpoint.

    Parameters
    ----------
    get_page : callable ``(start_ms, end_ms) -> list of (time_ms, row)``
        One request with inclusive ``startTime`` / ``endTime``.
    step_ms : int
        Smallest spacing of the rows (a bar; 1 h for funding): a window of
        ``limit * step_ms`` holds at most ``limit`` rows.
    limit : int
        The endpoint's maximum page size.

    Returns
    -------
    list of (time_ms, row)
        Strictly increasing times: rows outside the window asked for, or at or before
        the last row kept, are dropped (overlapping pages); an empty page means the
        window has no data (a gap, or before the listing) and paging moves on.
    """
    rows: list[Row] = []
    cursor = start_ms
    while cursor <= end_ms:
        window_end = min(end_ms, cursor + limit * step_ms - 1)
        page = get_page(cursor, window_end)
        last_kept = rows[-1][0] if rows else cursor - 1
        fresh = sorted(
            (r for r in page if cursor <= r[0] <= window_end and r[0] > last_kept),
            key=lambda r: r[0],
        )
        for row in fresh:
            if not rows or row[0] > rows[-1][0]:
                rows.append(row)
        if len(page) >= limit and fresh and fresh[-1][0] + step_ms <= window_end:
            cursor = fresh[-1][0] + 1  # a full page: the window may hold more
        else:
            cursor = window_end + 1
    return rows


def _number(value: object, where: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataFormatError(
            f"{where}: expected a number, got {value!r}. The server does not answer "
            "in Binance's format; check the base URL (PERPML_BINANCE_URL, base_url=)."
        ) from None


def _json_list(response: httpx.Response, where: str) -> list[Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, list):
        raise DataFormatError(
            f"{where}: expected a JSON array, got {response.text[:120]!r}. Check the "
            "base URL (PERPML_BINANCE_URL, base_url=)."
        )
    return data


class BinanceRestSource:
    """Binance USD-M futures data from the public REST API, cached per day.

    Parameters
    ----------
    base_url : str, optional
        REST host; default ``PERPML_BINANCE_URL`` or ``https://fapi.binance.com``.
    archive_url : str, optional
        Archive host for history older than 30 days; default ``PERPML_ARCHIVE_URL``
        or ``https://data.binance.vision``.
    cache_dir : str or Path, optional
        Parquet cache; default ``PERPML_CACHE_DIR`` or the user cache folder.
    feeds : sequence of str, default all of :data:`REST_FEEDS`
    gaps, max_gap
        Missing kline bars: see :class:`~perpml.data.sources.archive.ArchiveSource`.
    transport, archive_transport : httpx.BaseTransport, optional
        Injected transports (tests).
    max_retries, backoff, backoff_cap, max_retry_after, timeout, sleep, now
        See :class:`~perpml.data.sources._http.HttpClient`; ``now`` fixes the clock.
    """

    name = "binance"
    supports_range = True

    def __init__(
        self,
        *,
        base_url: str | None = None,
        archive_url: str | None = None,
        cache_dir: str | Path | None = None,
        feeds: Sequence[str] | None = None,
        gaps: str = "raise",
        max_gap: int | None = None,
        transport: httpx.BaseTransport | None = None,
        archive_transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        now: pd.Timestamp | str | None = None,
    ) -> None:
        self.base_url = base_url
        self.archive_url = archive_url
        self.cache_dir = cache_dir
        self.feeds = feeds
        self.gaps = gaps
        self.max_gap = max_gap
        self.transport = transport
        self.archive_transport = archive_transport
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.sleep = sleep
        self.now = now

    def _http(self, url: str, transport: httpx.BaseTransport | None) -> HttpClient:
        kwargs = {} if self.sleep is None else {"sleep": self.sleep}
        return HttpClient(
            url,
            transport=transport,
            timeout=self.timeout,
            max_retries=self.max_retries,
            backoff=self.backoff,
            backoff_cap=self.backoff_cap,
            max_retry_after=self.max_retry_after,
            **kwargs,  # type: ignore[arg-type]
        )

    def _archive(self) -> ArchiveSource:
        return ArchiveSource(
            base_url=self.archive_url,
            cache_dir=self.cache_dir,
            workers=1,
            transport=self.archive_transport,
            max_retries=self.max_retries,
            backoff=self.backoff,
            backoff_cap=self.backoff_cap,
            max_retry_after=self.max_retry_after,
            sleep=self.sleep,
            now=self.now,
        )

    def _feed_names(self) -> list[str]:
        names = list(REST_FEEDS) if self.feeds is None else list(self.feeds)
        unknown = sorted(set(names) - set(REST_FEEDS))
        if unknown:
            raise ConfigError(
                f"Unknown REST feed(s) {unknown}; valid feeds are {list(REST_FEEDS)}."
            )
        return ["klines", *[n for n in names if n != "klines"]]

    # -- requests ---------------------------------------------------------------

    def _kline_rows(
        self, client: HttpClient, feed: str, symbol: str, interval: str, a: int, b: int
    ) -> list[Row]:
        path, key = _KLINE_PATHS[feed]
        step = int(interval_to_timedelta(interval).value // _MS)

        def get(start: int, end: int) -> list[Row]:
            params = {
                key: symbol,
                "interval": interval,
                "startTime": start,
                "endTime": end,
                "limit": 1500,
            }
            response = client.get(path, params, what=f"{feed} {symbol} {interval}")
            if response.status_code == 404:
                return []
            out: list[Row] = []
            for item in _json_list(response, path):
                if not isinstance(item, list) or len(item) < 11:
                    raise DataFormatError(
                        f"{path}: each kline must be a 12-field array, got {item!r}."
                    )
                row = {
                    "open": _number(item[1], path),
                    "high": _number(item[2], path),
                    "low": _number(item[3], path),
                    "close": _number(item[4], path),
                }
                if feed == "klines":
                    row |= {
                        "volume": _number(item[5], path),
                        "quote_volume": _number(item[7], path),
                        "trades": _number(item[8], path),
                        "taker_buy_volume": _number(item[9], path),
                        "taker_buy_quote_volume": _number(item[10], path),
                    }
                out.append((int(item[0]), row))
            return out

        return page_range(get, a, b, step_ms=step, limit=1500)

    def _funding_rows(
        self, client: HttpClient, symbol: str, a: int, b: int
    ) -> list[Row]:
        path = "/fapi/v1/fundingRate"

        def get(start: int, end: int) -> list[Row]:
            params = {
                "symbol": symbol,
                "startTime": start,
                "endTime": end,
                "limit": 1000,
            }
            response = client.get(path, params, what=f"funding {symbol}")
            if response.status_code == 404:
                return []
            return [
                (
                    int(_number(item["fundingTime"], path)),
                    {"funding_rate": _number(item["fundingRate"], path)},
                )
                for item in _json_list(response, path)
                if isinstance(item, dict)
            ]

        hour = 3_600_000
        return page_range(get, a, b, step_ms=hour, limit=1000)

    def _stats_rows(self, client: HttpClient, symbol: str, a: int, b: int) -> list[Row]:
        merged: dict[int, dict[str, float]] = {}
        five = 300_000
        for path, fields in _STATS.items():

            def get(
                start: int, end: int, path: str = path, fields: dict = fields
            ) -> list[Row]:  # type: ignore[type-arg]
                params = {
                    "symbol": symbol,
                    "period": STATS_PERIOD,
                    "startTime": start,
                    "endTime": end,
                    "limit": 500,
                }
                response = client.get(
                    path, params, what=f"{path.rsplit('/', 1)[1]} {symbol}"
                )
                if response.status_code == 404:
                    return []
                return [
                    (
                        int(_number(item["timestamp"], path)),
                        {
                            col: _number(item.get(key), path)
                            for key, col in fields.items()
                        },
                    )
                    for item in _json_list(response, path)
                    if isinstance(item, dict)
                ]

            for t, row in page_range(get, a, b, step_ms=five, limit=500):
                merged.setdefault(t, {}).update(row)
        return sorted(merged.items())

    # -- per feed ---------------------------------------------------------------

    @staticmethod
    def _frame(rows: list[Row], columns: Sequence[str]) -> pd.DataFrame:
        if not rows:
            return empty_feed(list(columns))
        index = pd.DatetimeIndex(
            pd.to_datetime(
                np.array([t for t, _ in rows], dtype="int64"), unit="ms", utc=True
            ),
            name=INDEX_NAME,
        ).as_unit("ns")
        data = {c: [r.get(c, np.nan) for _, r in rows] for c in columns}
        return pd.DataFrame(data, index=index).astype("float64")

    def _rest_days(
        self,
        client: HttpClient,
        cache: MarketCache,
        ledger: FetchLedger,
        feed: str,
        symbol: str,
        interval: str,
        days: list[pd.Timestamp],
        window: FetchRange,
        earliest: pd.Timestamp | None = None,
    ) -> list[pd.DataFrame]:
        """Fetch whole UTC days by REST (as few requests as possible), cache them."""
        book = ledger.feed(feed)
        columns = self._columns(feed)
        key_iv = interval if feed in _KLINE_PATHS else None
        step = interval_to_timedelta(interval)
        last_closed = window.now - (step if feed in _KLINE_PATHS else pd.Timedelta(0))
        parts: list[pd.DataFrame] = []
        for first, last in missing_runs(days, []):
            lo = first if earliest is None else max(first, earliest)
            hi = min(last + pd.Timedelta(days=1), last_closed + pd.Timedelta(1, "ms"))
            a, b = _ms(lo), _ms(hi) - 1
            if b < a:
                continue
            if feed in _KLINE_PATHS:
                rows = self._kline_rows(client, feed, symbol, interval, a, b)
            elif feed == "funding":
                rows = self._funding_rows(client, symbol, a, b)
            else:
                rows = self._stats_rows(client, symbol, a, b)
            frame = self._frame(rows, columns)
            parts.append(frame)
            by_day = frame.index.floor("D")
            for day in pd.date_range(first, last, freq="D"):
                piece = frame.loc[by_day == day]
                period = Period(day, "day")
                if len(piece):
                    book.mark(day, "present", "rest")
                    # Only a whole, finished day with every point is cached: a short
                    # or empty page must not freeze a hole into the cache.
                    if (
                        lo <= day
                        and period.complete(window.now)
                        and len(piece) >= self._points_per_day(feed, step)
                    ):
                        cache.write("binance", feed, symbol, key_iv, period, piece)
                else:
                    book.mark(
                        day, "missing" if period.complete(window.now) else "unpublished"
                    )
        return parts

    @staticmethod
    def _points_per_day(feed: str, step: pd.Timedelta) -> int:
        if feed in _KLINE_PATHS:
            return int(pd.Timedelta(days=1) / step)
        if feed == "metrics":
            return 288
        return 1

    @staticmethod
    def _columns(feed: str) -> tuple[str, ...]:
        if feed == "klines":
            return ARCHIVE_FEEDS["klines"].columns
        if feed in ("mark", "index"):
            return ("close",)
        return ARCHIVE_FEEDS[feed].columns

    def _fetch_feed(
        self,
        client: HttpClient,
        archive: tuple[ArchiveSource, HttpClient] | None,
        cache: MarketCache,
        ledger: FetchLedger,
        feed: str,
        symbol: str,
        interval: str,
        window: FetchRange,
    ) -> pd.DataFrame:
        book = ledger.feed(feed)
        key_iv = interval if feed in _KLINE_PATHS else None
        lookback = pd.Timedelta(days=1) if feed == "funding" else pd.Timedelta(0)
        wanted = utc_days(window.start, window.end)
        days = utc_days(window.start - lookback, window.end)
        parts: list[pd.DataFrame] = []
        todo: list[pd.Timestamp] = []
        for day in days:
            period = Period(day, "day")
            cached = cache.read("binance", feed, symbol, key_iv, period)
            if cached is not None:
                parts.append(cached)
                book.mark(day, "present", "cache:binance")
            elif cache.is_missing("binance", feed, symbol, key_iv, period):
                book.mark(day, "missing")
            else:
                todo.append(day)
        if feed == "metrics" and todo and archive is not None:
            source, archive_client = archive
            # Older than 30 days only the archive has; newer the archive first too.
            archived = [d for d in todo if d < window.now.floor("D")]
            if archived:
                got = source.fetch_feed(
                    archive_client,
                    cache,
                    ledger,
                    "metrics",
                    symbol,
                    interval,
                    window,
                    archived,
                )
                if not got.empty:
                    parts.append(got)
            todo = [
                d for d in todo if book.days.get(d.strftime("%Y-%m-%d")) != "present"
            ]
            horizon = (window.now - STATS_WINDOW).ceil("5min") + pd.Timedelta(minutes=5)
            old = [d for d in todo if d + pd.Timedelta(days=1) <= horizon]
            for day in old:
                book.mark(day, "missing")
            if old:
                book.treatment = (
                    "report; days older than the REST statistics' 30 days come only "
                    "from the archive"
                )
            todo = [d for d in todo if d not in set(old)]
            parts += self._rest_days(
                client, cache, ledger, feed, symbol, interval, todo, window, horizon
            )
        elif todo:
            parts += self._rest_days(
                client, cache, ledger, feed, symbol, interval, todo, window
            )
        for key in [
            k for k in book.days if pd.Timestamp(k, tz="UTC") not in set(wanted)
        ]:
            book.days.pop(key)
            book.origins.pop(key, None)
        parts = [p for p in parts if not p.empty]
        if not parts:
            return empty_feed(list(self._columns(feed)))
        out = pd.concat(parts).sort_index(kind="stable")
        return out[~out.index.duplicated(keep="first")]

    # -- public -----------------------------------------------------------------

    def fetch(
        self,
        symbol: str,
        interval: str,
        *,
        days: float | None = None,
        start: object = None,
        end: object = None,
    ) -> FetchResult:
        """Fill the cache for the range; return the raw feeds, the ledger and range.

        Same as :meth:`ArchiveSource.fetch
        <perpml.data.sources.archive.ArchiveSource.fetch>`.
        """
        interval_to_timedelta(interval)
        now = None
        if self.now is not None:
            now = pd.Timestamp(self.now)
            now = now.tz_localize("UTC") if now.tzinfo is None else now
        window = resolve_range(interval, days=days, start=start, end=end, now=now)
        names = self._feed_names()
        ledger = FetchLedger(self.name, symbol, interval, window.start, window.end)
        cache = MarketCache(self.cache_dir)
        rest_url = resolve_base_url(self.base_url, "PERPML_BINANCE_URL", BINANCE_URL)
        feeds: dict[str, pd.DataFrame] = {}
        with self._http(rest_url, self.transport) as client:
            archive: tuple[ArchiveSource, HttpClient] | None = None
            if "metrics" in names:
                source = self._archive()
                archive = (source, source.open_client())
            try:
                for name in names:
                    feeds[name] = self._fetch_feed(
                        client, archive, cache, ledger, name, symbol, interval, window
                    )
            finally:
                ledger.requests = client.n_requests
                if archive is not None:
                    ledger.requests += archive[1].n_requests
                    archive[1].close()
        return FetchResult(feeds, ledger, window)

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

        See :meth:`ArchiveSource.load <perpml.data.sources.archive.ArchiveSource.load>`
        for the parameters and the result; ``attrs["ledger"]`` also says which days
        of each feed came from REST, the archive or the cache.
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
