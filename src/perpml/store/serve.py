"""Keep the online store up to date as bars close: feeds and the serving loop.

A *feed* yields the market frame up to the newest closed bar; the loop computes the
newest rows' features incrementally (:func:`perpml.store.incremental.latest_features`,
from the trailing window the warm-ups need) and commits them to Redis.

Feeds:

* :class:`SimulatorReplay` — the built-in simulator, its clock aligned so the newest
  history bar closes now, then one bar every ``interval / speed`` of wall time;
* :class:`AppendedFile` — a market file (CSV/Parquet, canonical or Binance format)
  that another process appends to, polled for new closed bars.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from perpml.exceptions import ConfigError, PerpmlError
from perpml.store.incremental import latest_features, trailing_window
from perpml.store.online import OnlineStore
from perpml.store.run_spec import ServingRun

__all__ = [
    "AppendedFile",
    "MarketFeed",
    "ServedBar",
    "SimulatorReplay",
    "serve_features",
    "write_newest",
]


_HISTORY_ATTEMPTS = 5


class MarketFeed(Protocol):
    """A source of closed bars for :func:`serve_features`."""

    def history(self) -> pd.DataFrame:
        """The market up to the newest closed bar (called once, first)."""
        ...

    def next(self) -> pd.DataFrame | None:
        """Block until a new bar closes; the market up to it (``None``: no more)."""
        ...


@dataclass(frozen=True)
class ServedBar:
    """One committed vector: its bar and how long features + write took."""

    timestamp: pd.Timestamp
    feature_seconds: float
    write_seconds: float


class SimulatorReplay:
    """The simulator replayed in (scaled) real time.

    History of ``history_bars`` bars ends with a bar closing at the current interval
    boundary; ``next()`` then reveals one more simulated bar every
    ``interval / speed`` seconds (``speed=0``: no waiting), ``bars`` times.
    """

    def __init__(
        self,
        symbol: str,
        interval: str,
        *,
        history_bars: int,
        bars: int = 288,
        speed: float = 1.0,
        seed: int = 42,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from perpml.data.schema import interval_to_timedelta
        from perpml.data.sources.synthetic import simulate_market

        if speed < 0:
            raise ConfigError(f"--speed must be >= 0 (0 = no waiting), got {speed}.")
        step = interval_to_timedelta(interval)
        now = pd.Timestamp(clock(), unit="s", tz="UTC").floor(step)
        start = now - history_bars * step
        total = history_bars + max(0, int(bars))
        self.frame = simulate_market(
            symbol,
            days=total * step / pd.Timedelta(days=1),
            interval=interval,
            seed=seed,
            start=start,
        ).frame
        self._shown = min(history_bars, len(self.frame))
        self._step = step.total_seconds() / speed if speed > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._t0 = clock()
        self._emitted = 0

    def history(self) -> pd.DataFrame:
        return self.frame.iloc[: self._shown]

    def next(self) -> pd.DataFrame | None:
        if self._shown >= len(self.frame):
            return None
        self._emitted += 1
        wait = self._t0 + self._emitted * self._step - self._clock()
        if wait > 0:
            self._sleep(wait)
        self._shown += 1
        return self.frame.iloc[: self._shown]


class AppendedFile:
    """A market file another process appends to, polled every ``poll`` seconds.

    ``load_options`` are passed to ``load_market_data("file", ...)`` (the run's data
    options: funding scale, newest-bar dropping, gap policy). ``idle_timeout``: give
    up (``next()`` returns ``None``) after that many seconds without a new bar.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        symbol: str,
        interval: str,
        poll: float = 1.0,
        idle_timeout: float | None = None,
        load_options: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not paths:
            raise ConfigError(
                "--source file needs --path FILE (the file being appended to)."
            )
        self.paths = [Path(p) for p in paths]
        self.symbol, self.interval = symbol, interval
        self.poll, self.idle_timeout = float(poll), idle_timeout
        self.options = dict(load_options or {})
        self._sleep = sleep
        self._seen: tuple[Any, ...] | None = None
        self._last: pd.Timestamp | None = None

    def _signature(self) -> tuple[Any, ...]:
        stats = [p.stat() for p in self.paths if p.exists()]
        return tuple((s.st_size, s.st_mtime_ns) for s in stats)

    def _load(self) -> pd.DataFrame:
        from perpml.data import load_market_data

        self._seen = self._signature()
        market = load_market_data(
            "file",
            path=[str(p) for p in self.paths],
            symbol=self.symbol,
            interval=self.interval,
            **self.options,
        )
        self._last = market.index[-1]
        return market

    def history(self) -> pd.DataFrame:
        # The writer may be mid-write at start-up too: a few polls before giving up.
        for _ in range(_HISTORY_ATTEMPTS - 1):
            try:
                return self._load()
            except PerpmlError:
                self._sleep(self.poll)
        return self._load()

    def next(self) -> pd.DataFrame | None:
        waited = 0.0
        while self.idle_timeout is None or waited < self.idle_timeout:
            self._sleep(self.poll)
            waited += self.poll
            if self._signature() == self._seen:
                continue
            last = self._last
            try:
                market = self._load()
            except PerpmlError:
                # Caught the writer mid-write (a truncated Parquet file, a half line
                # of CSV): read it again at the next poll.
                self._seen = None
                continue
            if last is None or market.index[-1] > last:
                return market
        return None


def write_newest(
    run: ServingRun, market: pd.DataFrame, online: OnlineStore, *, symbol: str
) -> ServedBar:
    """Compute the newest ``run.window_rows`` rows incrementally and commit them."""
    start = time.perf_counter()
    window = latest_features(market, run.features, rows=run.window_rows)
    computed = time.perf_counter()
    stamp = online.write(
        symbol=symbol,
        interval=run.interval,
        feature_set_id=run.feature_set_id,
        window=window,
    )
    return ServedBar(stamp, computed - start, time.perf_counter() - computed)


def serve_features(
    run: ServingRun,
    feed: MarketFeed,
    online: OnlineStore,
    *,
    symbol: str,
    once: bool = False,
    max_bars: int | None = None,
    on_write: Callable[[ServedBar], None] | None = None,
) -> int:
    """Write the newest bar's vector, then one per new bar; return vectors written.

    ``once``: write the newest bar and return. ``max_bars``: stop after that many
    new bars (besides the first write). Redis is checked before any features are
    computed, so an unreachable server fails at once.
    """
    online.ping()
    written = 0
    market: pd.DataFrame | None = feed.history()
    while market is not None:
        served = write_newest(run, market, online, symbol=symbol)
        written += 1
        if on_write is not None:
            on_write(served)
        if once or (max_bars is not None and written > max_bars):
            break
        market = feed.next()
    return written


def history_bars(run: ServingRun) -> int:
    """Bars of history a feed must provide so every feature is computable exactly."""
    return trailing_window(run.features, rows=run.window_rows)
