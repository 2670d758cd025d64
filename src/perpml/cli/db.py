"""``perpml db init`` / ``perpml db load``: the market database (docs/database.md)."""

from __future__ import annotations

import typer

from perpml.cli._app import app, console, escape, fail
from perpml.cli._data_options import (
    ConfigOpt,
    DaysOpt,
    DropLastBarOpt,
    EndOpt,
    FundingScaleOpt,
    GapsOpt,
    IntervalOpt,
    MaxGapOpt,
    MockOpt,
    PathOpt,
    SeedOpt,
    SourceOpt,
    StartOpt,
    SymbolOpt,
    apply_data_options,
)
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

db_app = typer.Typer(
    help="The PostgreSQL market database: create its schema, load market data.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("init")
def init(
    config: ConfigOpt = None,
    db_url: DbUrlOpt = None,
    db_host: DbHostOpt = None,
    db_port: DbPortOpt = None,
    db_name: DbNameOpt = None,
    db_user: DbUserOpt = None,
    db_password: DbPasswordOpt = None,
) -> None:
    """Create the tables (primary key (symbol, timestamp)); hypertables with TimescaleDB.

    Safe to run again: existing tables are kept as they are.
    """
    from perpml.config import load_config
    from perpml.data.database import connect, init_schema, resolve_db_url

    try:
        cfg = apply_db_options(
            load_config(config), url=db_url, host=db_host, port=db_port,
            name=db_name, user=db_user, password=db_password, destination=True,
        )  # fmt: skip
        engine = connect(resolve_db_url(cfg.database))
        try:
            timescale = init_schema(engine, cfg.database)
        finally:
            engine.dispose()
    except PerpmlError as exc:
        fail(exc)
        return
    kind = "TimescaleDB hypertables" if timescale else "plain tables"
    console.print(f"Schema ready ({kind}).")


@db_app.command("load")
def load(
    symbol: SymbolOpt = None,
    days: DaysOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    source: SourceOpt = None,
    mock: MockOpt = False,
    path: PathOpt = None,
    interval: IntervalOpt = None,
    gaps: GapsOpt = None,
    max_gap: MaxGapOpt = None,
    funding_rate_scale: FundingScaleOpt = None,
    drop_last_bar: DropLastBarOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    db_url: DbUrlOpt = None,
    db_host: DbHostOpt = None,
    db_port: DbPortOpt = None,
    db_name: DbNameOpt = None,
    db_user: DbUserOpt = None,
    db_password: DbPasswordOpt = None,
) -> None:
    """Load market data from any source (same options as `perpml run`) into the database.

    Idempotent: rows are upserted on (symbol, timestamp) with COPY into a staging
    table, in one transaction, so a repeated or interrupted load can be re-run.
    The schema is created first when missing.
    """
    from perpml.config import load_config
    from perpml.data.database import (
        _describe,
        connect,
        init_schema,
        resolve_db_url,
        write_market,
    )
    from perpml.pipeline.run import _load_market

    try:
        cfg = apply_data_options(
            load_config(config), symbol=symbol, days=days, start=start, end=end,
            source=source, mock=mock, path=path, interval=interval, gaps=gaps,
            max_gap=max_gap, seed=seed, funding_rate_scale=funding_rate_scale,
            drop_last_bar=drop_last_bar,
        )  # fmt: skip
        cfg = apply_db_options(
            cfg, url=db_url, host=db_host, port=db_port, name=db_name, user=db_user,
            password=db_password, destination=True,
        )  # fmt: skip
        url = resolve_db_url(cfg.database)
        engine = connect(url)
        try:
            market, cfg = _load_market(cfg)
            init_schema(engine, cfg.database)
            written = write_market(
                engine,
                market,
                symbol=market.attrs["symbol"],
                interval=market.attrs["interval"],
                config=cfg.database,
            )
        finally:
            engine.dispose()
    except PerpmlError as exc:
        fail(exc)
        return
    rows = ", ".join(f"{table} {n:,}" for table, n in written.items())
    console.print(
        f"Loaded {market.attrs['symbol']} {market.attrs['interval']} from "
        f"{cfg.data.source}, {market.index[0].isoformat()} to "
        f"{market.index[-1].isoformat()} into {escape(_describe(url))}: {escape(rows)}."
    )
