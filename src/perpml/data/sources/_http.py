"""The one HTTP client of the exchange sources: retries, back-off and rate limits.

Every request of :class:`~perpml.data.sources.archive.ArchiveSource` and
:class:`~perpml.data.sources.binance.BinanceRestSource` goes through
:class:`HttpClient`, a thin layer over one :class:`httpx.Client`. Tests inject an
``httpx`` transport or point ``base_url`` at a local server; nothing else in perpml
opens a network connection.

What a response triggers
------------------------
* ``2xx``: returned. ``X-MBX-USED-WEIGHT-1M`` is read; above ``weight_share`` of
  ``weight_limit`` the client sleeps until the next minute starts (Binance's weight
  window is the calendar minute), so the limit itself is never hit.
* ``404``: returned to the caller (the archive's "file not published").
* ``429`` / ``418``: wait ``Retry-After`` seconds (Binance sends it with both: for 429
  to avoid a ban, for 418 until the ban ends), then retry. A wait longer than
  ``max_retry_after`` raises instead of hanging for hours.
* ``5xx``, timeouts, connection errors: retried with jittered exponential back-off,
  ``min(backoff_cap, backoff * 2**attempt) * U(0.5, 1)``.
* After ``max_retries`` retries, or on any other status, a
  :class:`~perpml.exceptions.DataSourceError` names the URL, the last failure and
  what it was for.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from perpml.exceptions import ConfigError, DataSourceError

__all__ = ["BINANCE_URL", "ARCHIVE_URL", "HttpClient", "resolve_base_url"]

#: Production hosts; replaced by ``PERPML_BINANCE_URL`` / ``PERPML_ARCHIVE_URL``.
BINANCE_URL = "https://fapi.binance.com"
ARCHIVE_URL = "https://data.binance.vision"

#: USD-M futures IP weight limit per minute (``REQUEST_WEIGHT`` in exchangeInfo).
WEIGHT_LIMIT = 2400


def resolve_base_url(explicit: str | None, env: str, default: str) -> str:
    """``explicit`` if given, else the environment variable ``env``, else ``default``.

    Raises
    ------
    perpml.exceptions.ConfigError
        The chosen URL does not start with ``http://`` or ``https://``.
    """
    url = explicit or os.environ.get(env) or default
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"The base URL must start with http:// or https://, got {url!r} (from "
            f"{'base_url=' if explicit else env}). Pass e.g. base_url="
            f"{default!r} or set {env}."
        )
    return url.rstrip("/")


class HttpClient:
    """GET with retries, back-off and Binance's rate-limit headers.

    Parameters
    ----------
    base_url : str
        Prefix of every path passed to :meth:`get`.
    transport : httpx.BaseTransport, optional
        Injected transport (tests); default: httpx's network transport.
    timeout : float, default 30
        Seconds per request (connect, read, write, pool).
    max_retries : int, default 5
        Retries after the first attempt for 429/418/5xx/timeouts.
    backoff, backoff_cap : float, default 0.5 and 30
        Seconds of the exponential back-off and its cap.
    max_retry_after : float, default 300
        Longest ``Retry-After`` honoured; a longer one raises.
    weight_limit : int, default 2400
        The IP's request weight per minute.
    weight_share : float, default 0.8
        Share of ``weight_limit`` above which the client pauses until the next minute.
    sleep : callable, default time.sleep
        Injected for fast tests.

    Attributes
    ----------
    n_requests : int
        Requests sent (retries included).
    slept : float
        Seconds spent waiting for rate limits and back-off.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        weight_limit: int = WEIGHT_LIMIT,
        weight_share: float = 0.8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise ConfigError(
                f"`max_retries` must be an int >= 0, got {max_retries!r}."
            )
        if max_retries < 0:
            raise ConfigError(f"`max_retries` must be >= 0, got {max_retries}.")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.backoff_cap = float(backoff_cap)
        self.max_retry_after = float(max_retry_after)
        self.weight_limit = weight_limit
        self.weight_share = weight_share
        self._sleep = sleep
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": "perpml"},
            follow_redirects=True,
        )
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.n_requests = 0
        self.slept = 0.0

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.slept += seconds
            self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        base = min(self.backoff_cap, self.backoff * 2**attempt)
        return base * (0.5 + 0.5 * self._rng.random())

    def _retry_after(self, response: httpx.Response, url: str, what: str) -> float:
        raw = response.headers.get("Retry-After")
        try:
            wait = float(raw) if raw is not None else None
        except ValueError:
            wait = None
        if wait is None:
            return self._backoff(1)
        if wait > self.max_retry_after:
            kind = "banned this IP" if response.status_code == 418 else "rate-limited"
            raise DataSourceError(
                f"The server {kind} requests (HTTP {response.status_code}) and asks "
                f"to wait {wait:.0f} s, longer than max_retry_after="
                f"{self.max_retry_after:.0f} s, while fetching {what} ({url}). Wait "
                "and rerun: everything fetched so far is cached."
            )
        return wait

    def _throttle(self, response: httpx.Response) -> None:
        used = response.headers.get("X-MBX-USED-WEIGHT-1M")
        try:
            weight = int(used) if used is not None else 0
        except ValueError:
            return
        if weight >= self.weight_share * self.weight_limit:
            # The weight counter resets when the calendar minute rolls over.
            self._wait(60.0 - time.time() % 60.0 + 0.05)

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str = "data",
    ) -> httpx.Response:
        """GET ``base_url + path``; a 2xx or 404 response, or raise.

        Parameters
        ----------
        path : str
            Path below the base URL, starting with ``/``.
        params : mapping, optional
            Query parameters.
        what : str
            What the request is for, named in errors ("klines 2024-01-05").

        Raises
        ------
        perpml.exceptions.DataSourceError
            Retries exhausted, a too-long ``Retry-After``, or an unexpected status.
        """
        url = self.base_url + path
        last = "no attempt"
        attempt = 0
        for attempt in range(self.max_retries + 1):
            with self._lock:
                self.n_requests += 1
            try:
                response = self._client.get(url, params=params)
            except httpx.TimeoutException:
                last = "timed out"
                if attempt < self.max_retries:
                    self._wait(self._backoff(attempt))
                continue
            except httpx.TransportError as err:
                last = f"connection failed ({type(err).__name__})"
                # A refused connection rarely heals within seconds: retry it twice.
                if isinstance(err, httpx.ConnectError) and attempt >= 2:
                    break
                if attempt < self.max_retries:
                    self._wait(self._backoff(attempt))
                continue
            status = response.status_code
            if 200 <= status < 300:
                self._throttle(response)
                return response
            if status == 404:
                return response
            if status in (418, 429):
                last = f"HTTP {status}"
                if attempt < self.max_retries:
                    self._wait(self._retry_after(response, url, what))
                continue
            if status >= 500:
                last = f"HTTP {status}"
                if attempt < self.max_retries:
                    self._wait(self._backoff(attempt))
                continue
            body = response.text[:200]
            raise DataSourceError(
                f"{url} answered HTTP {status} while fetching {what}: {body!r}. Check "
                "the symbol and interval (--symbol, --interval) and the base URL."
            )
        raise DataSourceError(
            f"Could not fetch {what} from {url}: {last} after "
            f"{attempt + 1} attempts. Nothing fetched so far is lost (it is "
            "cached); rerun later to continue."
        )
