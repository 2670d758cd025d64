"""``perpml collect``: record live liquidations into the market database."""

from __future__ import annotations

from typing import Annotated

import typer

from perpml.cli._app import app, console, err_console, escape, fail
from perpml.cli._data_options import ConfigOpt
from perpml.cli._db_options import (
    DbHostOpt,
    DbNameOpt,
    DbPasswordOpt,
    DbPortOpt,
    DbUrlOpt,
    DbUserOpt,
    apply_db_options,
)
from perpml.exceptions import PerpmlError


@app.command()
def collect(
    symbol: Annotated[
        str, typer.Option(help="Exchange symbol whose forced orders to record.")
    ] = "BTCUSDT",
    max_events: Annotated[
        int | None,
        typer.Option("--max-events", help="Stop after this many distinct events."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Stop after this many seconds (cron)."),
    ] = None,
    ws_url: Annotated[
        str | None,
        typer.Option(
            "--ws-url",
            help="WebSocket base URL (default env PERPML_BINANCE_WS_URL, else "
            "wss://fstream.binance.com).",
        ),
    ] = None,
    backoff: Annotated[
        float,
        typer.Option(help="First pause before reconnecting, seconds (doubles, <= 60)."),
    ] = 1.0,
    config: ConfigOpt = None,
    db_url: DbUrlOpt = None,
    db_host: DbHostOpt = None,
    db_port: DbPortOpt = None,
    db_name: DbNameOpt = None,
    db_user: DbUserOpt = None,
    db_password: DbPasswordOpt = None,
) -> None:
    """Record live liquidations (the forceOrder stream) into the `liquidations` table.

    Reconnects with exponential backoff; an event received again after a reconnect
    is stored once (upsert on its identity). Runs until --max-events or --duration.
    """
    from perpml.config import load_config
    from perpml.data.collector import collect_liquidations
    from perpml.data.database import (
        connect,
        init_schema,
        resolve_db_url,
        write_liquidation_events,
    )

    try:
        cfg = apply_db_options(
            load_config(config), url=db_url, host=db_host, port=db_port,
            name=db_name, user=db_user, password=db_password, destination=True,
        )  # fmt: skip
        engine = connect(resolve_db_url(cfg.database))
        try:
            init_schema(engine, cfg.database)
            stats = collect_liquidations(
                symbol,
                lambda events: write_liquidation_events(engine, events, cfg.database),
                base_url=ws_url,
                max_events=max_events,
                duration=duration,
                backoff=(backoff, max(backoff, 60.0)),
                on_status=lambda msg: err_console.print(escape(msg)),
            )
        finally:
            engine.dispose()
    except PerpmlError as exc:
        fail(exc)
        return
    console.print(
        f"Recorded {stats.events} liquidation(s) of {symbol.upper()} "
        f"({stats.connections} connection(s), {stats.skipped} other message(s))."
    )
