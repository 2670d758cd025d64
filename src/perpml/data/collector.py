"""Record live liquidations from Binance's ``forceOrder`` WebSocket stream.

:func:`collect_liquidations` connects to ``<base>/ws/<symbol>@forceOrder``, parses
each message (:func:`perpml.data.liquidations.parse_force_order`) and hands batches
of events to a sink (the database: :func:`perpml.data.database.write_liquidation_events`,
which ignores events already stored). A dropped connection is re-opened with
exponential backoff; an event received twice across a reconnect has the same
identity and is stored once. ``max_events`` / ``duration`` bound a run (tests, cron).

The base URL is ``PERPML_BINANCE_WS_URL`` or ``wss://fstream.binance.com``; the
collector never connects anywhere else.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from perpml.data.liquidations import LiquidationEvent, parse_force_order
from perpml.exceptions import ConfigError, DataFormatError

__all__ = [
    "DEFAULT_WS_URL",
    "CollectStats",
    "collect_liquidations",
    "stream_url",
]

DEFAULT_WS_URL = "wss://fstream.binance.com"


def stream_url(symbol: str, base: str | None = None) -> str:
    """``<base>/ws/<symbol>@forceOrder`` (base: ``PERPML_BINANCE_WS_URL`` or Binance)."""
    root = (base or os.environ.get("PERPML_BINANCE_WS_URL") or DEFAULT_WS_URL).rstrip(
        "/"
    )
    if not root.startswith(("ws://", "wss://")):
        raise ConfigError(
            f"The WebSocket base URL must start with ws:// or wss://, got {root!r}. "
            "Pass --ws-url (or PERPML_BINANCE_WS_URL) like wss://fstream.binance.com."
        )
    return f"{root}/ws/{symbol.lower()}@forceOrder"


@dataclass
class CollectStats:
    """What a collection run did.

    Attributes
    ----------
    events : int
        Distinct forced orders received (duplicates across reconnects counted once).
    stored : int
        Rows handed to the sink.
    connections : int
        Successful connections (1 + reconnects).
    skipped : int
        Messages that were not forceOrder events of the symbol.
    """

    events: int = 0
    stored: int = 0
    connections: int = 0
    skipped: int = 0


async def _run(
    url: str,
    symbol: str,
    sink: Callable[[Sequence[LiquidationEvent]], int],
    *,
    max_events: int | None,
    duration: float | None,
    backoff: tuple[float, float],
    flush_seconds: float,
    on_status: Callable[[str], None],
) -> CollectStats:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

    stats = CollectStats()
    seen: set[tuple[object, str]] = set()
    buffer: list[LiquidationEvent] = []
    started = time.monotonic()
    last_flush = started
    delay = backoff[0]

    def remaining() -> float | None:
        return None if duration is None else duration - (time.monotonic() - started)

    def done() -> bool:
        left = remaining()
        return (max_events is not None and stats.events >= max_events) or (
            left is not None and left <= 0
        )

    def flush() -> None:
        nonlocal last_flush
        if buffer:
            stats.stored += sink(list(buffer))
            buffer.clear()
        last_flush = time.monotonic()

    while not done():
        try:
            async with connect(url, open_timeout=10, ping_interval=20) as ws:
                stats.connections += 1
                on_status(f"connected to {url}")
                while not done():
                    left = remaining()
                    wait = flush_seconds if left is None else min(flush_seconds, left)
                    try:
                        message = await asyncio.wait_for(ws.recv(), timeout=wait)
                    except TimeoutError:
                        flush()
                        continue
                    try:
                        event = parse_force_order(message)
                    except DataFormatError:
                        stats.skipped += 1
                        continue
                    if event.symbol != symbol:
                        stats.skipped += 1
                        continue
                    delay = backoff[0]  # a healthy stream resets the backoff
                    identity = (event.timestamp, event.order_id)
                    if identity in seen:
                        continue
                    seen.add(identity)
                    buffer.append(event)
                    stats.events += 1
                    if time.monotonic() - last_flush >= flush_seconds:
                        flush()
        except InvalidURI as err:
            raise ConfigError(f"Invalid WebSocket URL {url!r}: {err}.") from None
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as err:
            flush()
            if done():
                break
            left = remaining()
            pause = delay if left is None else max(0.0, min(delay, left))
            on_status(
                f"connection lost ({type(err).__name__}: {err}); reconnecting in "
                f"{pause:.1f} s"
            )
            await asyncio.sleep(pause)
            delay = min(backoff[1], delay * 2)
    flush()
    return stats


def collect_liquidations(
    symbol: str,
    sink: Callable[[Sequence[LiquidationEvent]], int],
    *,
    base_url: str | None = None,
    max_events: int | None = None,
    duration: float | None = None,
    backoff: tuple[float, float] = (1.0, 60.0),
    flush_seconds: float = 1.0,
    on_status: Callable[[str], None] | None = None,
) -> CollectStats:
    """Record ``symbol``'s forced orders until ``max_events`` or ``duration``.

    Parameters
    ----------
    symbol : str
        Exchange symbol (checked upper-case letters and digits).
    sink : callable
        Receives batches of new events and returns the number of rows written.
    base_url : str, optional
        WebSocket base (default ``PERPML_BINANCE_WS_URL``, else Binance USD-M).
    max_events : int, optional
        Stop after this many distinct events.
    duration : float, optional
        Stop after this many seconds. Without either bound the run never ends.
    backoff : (float, float), default (1, 60)
        First and largest pause between reconnection attempts, doubling in between.
    flush_seconds : float, default 1
        Longest time a received event waits in memory before reaching the sink.

    Returns
    -------
    CollectStats
    """
    from perpml.data.loading import check_symbol

    symbol = check_symbol(symbol)
    for name, value in (("max_events", max_events), ("duration", duration)):
        if value is not None and not value > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {value!r}.")
    url = stream_url(symbol, base_url)
    return asyncio.run(
        _run(
            url,
            symbol,
            sink,
            max_events=max_events,
            duration=duration,
            backoff=backoff,
            flush_seconds=flush_seconds,
            on_status=on_status or (lambda _msg: None),
        )
    )
