"""``perpml fetch``: fill the local cache with exchange data and print its ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpml.cli._app import app, console, escape, fail
from perpml.cli._data_options import (
    ConfigOpt,
    DaysOpt,
    EndOpt,
    IntervalOpt,
    SourceOpt,
    StartOpt,
    SymbolOpt,
    apply_data_options,
)
from perpml.exceptions import ConfigError, PerpmlError

#: Sources ``fetch`` can fill the cache from.
FETCH_SOURCES = ("archive", "binance")


@app.command()
def fetch(
    symbol: SymbolOpt = None,
    days: DaysOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    source: SourceOpt = None,
    interval: IntervalOpt = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Server to fetch from (a mirror): replaces https://data.binance.vision "
            "for --source archive (env PERPML_ARCHIVE_URL) or https://fapi.binance.com "
            "for --source binance (env PERPML_BINANCE_URL)."
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Cache folder (default env PERPML_CACHE_DIR or the user cache folder)."
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Download exchange data into the local cache and print the per-day ledger.

    Only fills the cache (Parquet, one file per feed and day or month); a later
    `perpml run --source archive|binance` over the same range reads it without a
    request. Defaults: --source archive, --interval 5m, --days 30 (back from now).
    """
    from perpml.config import load_config
    from perpml.data.loading import DEFAULT_INTERVAL, DEFAULT_SYMBOL, check_symbol
    from perpml.data.schema import interval_to_timedelta

    try:
        cfg = apply_data_options(
            load_config(config),
            symbol=symbol,
            days=days,
            start=start,
            end=end,
            source=source,
            interval=interval,
        )
        data = cfg.data
        chosen = data.source if source is not None or config is not None else "archive"
        if chosen not in FETCH_SOURCES:
            raise ConfigError(
                f"`perpml fetch` downloads from an exchange: --source must be one of "
                f"{list(FETCH_SOURCES)}, got {chosen!r}."
            )
        name = check_symbol(data.symbol or DEFAULT_SYMBOL)
        bar = data.interval or DEFAULT_INTERVAL
        interval_to_timedelta(bar)
        if chosen == "archive":
            from perpml.data.sources.archive import ArchiveSource

            ledger = (
                ArchiveSource(base_url=base_url, cache_dir=cache_dir)
                .fetch(name, bar, days=data.days, start=data.start, end=data.end)
                .ledger
            )
        else:
            from perpml.data.sources.binance import BinanceRestSource

            source_ = BinanceRestSource(base_url=base_url, cache_dir=cache_dir)
            ledger = source_.fetch(
                name, bar, days=data.days, start=data.start, end=data.end
            ).ledger
    except PerpmlError as exc:
        fail(exc)
        return
    from perpml.data.sources.cache import default_cache_dir

    console.print(ledger.table())
    for line in ledger.notes():
        console.print(escape(line))
    for feed in ledger.feeds.values():
        for error in feed.errors:
            console.print(f"[yellow]defective:[/] {escape(error)}")
    where = cache_dir if cache_dir is not None else default_cache_dir()
    console.print(f"Cache: {escape(str(where))}")
