"""The PostgreSQL market database: connection, schema, bulk loading.

The schema is the seed's Phase 1 one (table and column names configurable in
``[database]``, :class:`perpml.config.DatabaseConfig`), widened with nullable
columns for the rest of the canonical frame::

    ohlcv(timestamp, symbol, open, high, low, close, volume, quote_volume, trades,
          taker_buy_volume, taker_buy_quote_volume, mark_price, index_price)
    open_interest(timestamp, symbol, open_interest, open_interest_value)
    funding_rate(timestamp, symbol, funding_rate)
    long_short_ratio(timestamp, symbol, long_short_ratio,
                     top_trader_long_short_ratio, taker_long_short_ratio)
    liquidations(timestamp, symbol, quantity, side, order_id, price, orders)

Time semantics: ``ohlcv.timestamp`` is the bar **open** time; every feed row is
stamped with the time its value became **known** (a snapshot's time, a funding
settlement, a forced order's trade time). :func:`write_market` therefore writes a
canonical frame's feed values at the bar's close, so reading them back with the
known-at rule gives the same bars. Keys: ``(symbol, timestamp)`` everywhere, plus
``order_id`` for liquidations (a TimescaleDB hypertable needs the time column in
every unique key).

Loading is bulk and idempotent: each table is ``COPY``-ed into a temporary staging
table and merged with ``INSERT ... ON CONFLICT ... DO UPDATE``, all tables in one
transaction, so loading the same range twice changes nothing and an interrupted load
leaves the database as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from perpml.config import DatabaseConfig
from perpml.data.schema import LIQUIDATION_COLUMNS, interval_to_timedelta
from perpml.exceptions import ConfigError, DataSourceError

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from perpml.data.liquidations import LiquidationEvent

__all__ = [
    "BAR_COLUMNS",
    "FEEDS",
    "Tables",
    "connect",
    "init_schema",
    "resolve_db_url",
    "write_liquidation_events",
    "write_market",
]

#: Canonical bar columns stored in the ohlcv table (beyond OHLCV, all nullable).
BAR_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "mark_price",
    "index_price",
)

#: Feed tables: config key of the table -> canonical columns it stores (first one is
#: the seed's column, renamed by the config's ``*_column`` key).
FEEDS: dict[str, tuple[str, ...]] = {
    "open_interest": ("open_interest", "open_interest_value"),
    "funding_rate": ("funding_rate",),
    "long_short_ratio": (
        "long_short_ratio",
        "top_trader_long_short_ratio",
        "taker_long_short_ratio",
    ),
}

#: Prefix of the ``order_id`` of per-bar aggregate liquidation rows (db load).
BAR_ROW_PREFIX = "bar:"


@dataclass(frozen=True)
class Tables:
    """Resolved table and column names of one database (from ``[database]``)."""

    config: DatabaseConfig

    def table(self, feed: str) -> str:
        """Table name of ``"ohlcv"``, a :data:`FEEDS` key or ``"liquidations"``."""
        return str(getattr(self.config, f"{feed}_table"))

    def column(self, canonical: str) -> str:
        """Database column of a canonical column (the seed's names are configurable)."""
        mapped = {
            "timestamp": self.config.timestamp_column,
            "symbol": self.config.symbol_column,
            "open_interest": self.config.open_interest_column,
            "funding_rate": self.config.funding_rate_column,
            "long_short_ratio": self.config.long_short_ratio_column,
            "quantity": self.config.liquidation_quantity_column,
            "side": self.config.liquidation_side_column,
            "order_id": self.config.liquidation_id_column,
        }
        return mapped.get(canonical, canonical)


# --------------------------------------------------------------------- connection
def resolve_db_url(config: DatabaseConfig | None = None, url: str | None = None) -> str:
    """The database URL: ``url``, else ``[database] url``, ``PERPML_DB_URL``, parts.

    Parts are ``[database] host / port / name / user / password`` (the seed's
    ``--db-host --db-port --db-name --db-user --db-password``).
    """
    cfg = config or DatabaseConfig()
    chosen = url or cfg.url or os.environ.get("PERPML_DB_URL")
    if chosen:
        return chosen
    from urllib.parse import quote

    auth = quote(cfg.user, safe="")
    if cfg.password:
        auth += ":" + quote(cfg.password, safe="")
    return f"postgresql://{auth}@{cfg.host}:{cfg.port}/{cfg.name}"


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ConfigError(
        f"The database URL must start with postgresql:// (or postgres://), got "
        f"{_describe(url)!r}. Pass --db-url postgresql://USER@HOST:PORT/NAME."
    )


def _describe(url: str) -> str:
    """``url`` without its password, for messages."""
    from perpml.config import _without_password

    return _without_password(url)


def _host_of(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(_sqlalchemy_url(url))
        return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    except Exception:
        return _describe(url)


def connect(url: str, *, timeout: float = 5.0) -> Engine:
    """An SQLAlchemy engine (psycopg 3) on ``url``, checked by one round trip.

    Raises
    ------
    perpml.exceptions.DataSourceError
        The server cannot be reached or refuses the login; the message names the
        host and database and suggests ``--mock``.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(
        _sqlalchemy_url(url),
        connect_args={"connect_timeout": max(1, int(timeout))},
        pool_pre_ping=True,
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as err:
        engine.dispose()
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise DataSourceError(
            f"Cannot connect to the market database at {_host_of(url)} "
            f"({_describe(url)}): {reason}. Start PostgreSQL or fix --db-url / "
            "--db-host / --db-port (PERPML_DB_URL, [database] in the config); "
            "pass --mock to run on the offline simulator instead."
        ) from None
    return engine


# ------------------------------------------------------------------------ schema
def _ident(name: str) -> Any:
    """A possibly schema-qualified identifier (``public.ohlcv``) for psycopg."""
    from psycopg import sql

    return sql.Identifier(*name.split(".", 1))


def _ddl(tables: Tables) -> list[tuple[str, Any]]:
    from psycopg import sql

    col = tables.column
    ts, sym = sql.Identifier(col("timestamp")), sql.Identifier(col("symbol"))
    out: list[tuple[str, Any]] = []

    def numeric(names: Iterable[str]) -> Any:
        return sql.SQL(", ").join(
            sql.SQL("{} DOUBLE PRECISION").format(sql.Identifier(col(n))) for n in names
        )

    for feed, columns in (("ohlcv", BAR_COLUMNS), *FEEDS.items()):
        out.append(
            (
                tables.table(feed),
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ({} TIMESTAMPTZ NOT NULL, "
                    "{} TEXT NOT NULL, {}, PRIMARY KEY ({}, {}))"
                ).format(
                    _ident(tables.table(feed)), ts, sym, numeric(columns), sym, ts
                ),
            )
        )
    oid = sql.Identifier(col("order_id"))
    out.append(
        (
            tables.table("liquidations"),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ({} TIMESTAMPTZ NOT NULL, {} TEXT NOT "
                "NULL, {} DOUBLE PRECISION NOT NULL, {} TEXT NOT NULL, {} TEXT NOT "
                "NULL, price DOUBLE PRECISION, orders BIGINT, PRIMARY KEY ({}, {}, {}))"
            ).format(
                _ident(tables.table("liquidations")),
                ts,
                sym,
                sql.Identifier(col("quantity")),
                sql.Identifier(col("side")),
                oid,
                sym,
                ts,
                oid,
            ),
        )
    )
    return out


def init_schema(engine: Engine, config: DatabaseConfig | None = None) -> bool:
    """Create the tables (if absent); hypertables when TimescaleDB is installed.

    Returns
    -------
    bool
        True when the ``timescaledb`` extension is installed in the database and
        the tables were made hypertables (partitioned on the timestamp column).
    """
    tables = Tables(config or DatabaseConfig())
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:  # type: ignore[union-attr]
            cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
            timescale = cur.fetchone() is not None
            for name, statement in _ddl(tables):
                cur.execute(statement)
                if timescale:
                    cur.execute(
                        "SELECT create_hypertable(%s, %s, if_not_exists => TRUE, "
                        "migrate_data => TRUE)",
                        (name, tables.column("timestamp")),
                    )
        conn.commit()  # type: ignore[union-attr]
    finally:
        raw.close()
    return timescale


# ------------------------------------------------------------------------ writing
def _column_values(series: pd.Series) -> tuple[str, list[Any]]:
    """(PostgreSQL type, Python values with NaN / NaT as None) of one column."""
    if isinstance(
        series.dtype, pd.DatetimeTZDtype
    ) or pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = pd.DatetimeIndex(series).floor("us")
        values: list[Any] = list(stamps.to_pydatetime())
        return "timestamptz", values
    if pd.api.types.is_integer_dtype(series.dtype):
        return "int8", series.astype("int64").tolist()
    if pd.api.types.is_numeric_dtype(series.dtype):
        array = series.to_numpy(dtype="float64")
        values = array.tolist()
        if np.isnan(array).any():  # NULL, not a NaN value, marks "unknown"
            values = [None if v != v else v for v in values]
        return "float8", values
    return "text", [None if v is None else str(v) for v in series.tolist()]


def _merge(
    cur: Any,
    table: str,
    columns: Sequence[str],
    keys: Sequence[str],
    rows: pd.DataFrame,
) -> int:
    """COPY ``rows`` into a staging copy of ``table`` and upsert them on ``keys``."""
    from psycopg import sql

    stage = sql.Identifier("perpml_stage")
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
    cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
        ).format(stage, _ident(table))
    )
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    typed = [_column_values(rows[c]) for c in columns]
    # binary COPY of Python values: no text formatting of floats and timestamps
    with cur.copy(
        sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, cols)
    ) as copy:
        copy.set_types([t for t, _ in typed])
        for row in zip(*(v for _, v in typed), strict=True):
            copy.write_row(row)
    others = [c for c in columns if c not in keys]
    action = (
        sql.SQL("DO UPDATE SET {}").format(
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in others
            )
        )
        if others
        else sql.SQL("DO NOTHING")
    )
    cur.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
            _ident(table),
            cols,
            cols,
            stage,
            sql.SQL(", ").join(sql.Identifier(k) for k in keys),
            action,
        )
    )
    return len(rows)


def _liquidation_rows(frame: pd.DataFrame, symbol: str, long_side: str) -> pd.DataFrame:
    """Per-bar aggregate rows of the liquidation columns (plus coverage markers)."""
    short_side = "BUY" if long_side.upper() == "SELL" else "SELL"
    liq = frame[list(LIQUIDATION_COLUMNS)].dropna(how="any")
    if liq.empty:
        return pd.DataFrame()
    ms = liq.index.as_unit("ms").asi8
    long_v = liq["liquidation_long_volume"].to_numpy()
    short_v = liq["liquidation_short_volume"].to_numpy()
    count = liq["liquidation_count"].to_numpy()
    has_long = long_v > 0
    has_short = short_v > 0
    # the bar's count goes on its first row; a bar with orders but no volume, and
    # the first / last bar (coverage: bars in between without rows are 0), get a
    # long row anyway
    edge = np.zeros(len(liq), dtype=bool)
    edge[[0, -1]] = True
    need_long = has_long | (~has_short & ((count > 0) | edge))
    parts = []
    for mask, side, vol, tag, orders in (
        (need_long, long_side.upper(), long_v, "L", count),
        (has_short, short_side, short_v, "S", np.where(need_long, 0.0, count)),
    ):
        if mask.any():
            parts.append(
                pd.DataFrame(
                    {
                        "timestamp": liq.index[mask],
                        "symbol": symbol,
                        "quantity": vol[mask],
                        "side": side,
                        "order_id": [f"{BAR_ROW_PREFIX}{m}:{tag}" for m in ms[mask]],
                        "orders": np.round(orders[mask]).astype(np.int64),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def write_market(
    engine: Engine,
    frame: pd.DataFrame,
    *,
    symbol: str,
    interval: str,
    config: DatabaseConfig | None = None,
) -> dict[str, int]:
    """Upsert a canonical frame into the database in one transaction (COPY + merge).

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Canonical market frame (validated by the caller).
    symbol, interval : str
        The frame's market; feed values are stamped at ``open + interval``.

    Returns
    -------
    dict
        Rows written per table.
    """
    from psycopg import sql

    tables = Tables(config or DatabaseConfig())
    col = tables.column
    step = interval_to_timedelta(interval)
    written: dict[str, int] = {}
    keys = [col("symbol"), col("timestamp")]
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.transaction(), conn.cursor() as cur:  # type: ignore[union-attr]
            plan: list[tuple[str, tuple[str, ...], pd.Timedelta]] = [
                ("ohlcv", BAR_COLUMNS, pd.Timedelta(0))
            ]
            plan += [(feed, columns, step) for feed, columns in FEEDS.items()]
            for feed, columns, shift in plan:
                present = [c for c in columns if c in frame.columns]
                if not present:
                    continue
                rows = pd.DataFrame(
                    {
                        col("timestamp"): frame.index + shift,
                        col("symbol"): symbol,
                        **{col(c): frame[c].to_numpy() for c in present},
                    }
                )
                table = tables.table(feed)
                written[table] = _merge(cur, table, list(rows.columns), keys, rows)
            liq = (
                _liquidation_rows(frame, symbol, tables.config.long_liquidation_side)
                if set(LIQUIDATION_COLUMNS) <= set(frame.columns)
                else pd.DataFrame()
            )
            if not liq.empty:
                table = tables.table("liquidations")
                cur.execute(
                    sql.SQL(
                        "DELETE FROM {} WHERE {} = %s AND {} BETWEEN %s AND %s AND "
                        "{} LIKE %s"
                    ).format(
                        _ident(table),
                        sql.Identifier(col("symbol")),
                        sql.Identifier(col("timestamp")),
                        sql.Identifier(col("order_id")),
                    ),
                    (
                        symbol,
                        frame.index[0].to_pydatetime(),
                        frame.index[-1].to_pydatetime(),
                        BAR_ROW_PREFIX + "%",
                    ),
                )
                liq.columns = [col(c) for c in liq.columns]
                written[table] = _merge(
                    cur,
                    table,
                    list(liq.columns),
                    [*keys, col("order_id")],
                    liq,
                )
    finally:
        raw.close()
    return written


def write_liquidation_events(
    engine: Engine,
    events: Sequence[LiquidationEvent],
    config: DatabaseConfig | None = None,
) -> int:
    """Insert forced orders, ignoring ones already stored (same identity)."""
    if not events:
        return 0
    tables = Tables(config or DatabaseConfig())
    col = tables.column
    rows = pd.DataFrame(
        {
            col("timestamp"): [e.timestamp for e in events],
            col("symbol"): [e.symbol for e in events],
            col("quantity"): [e.quantity for e in events],
            col("side"): [e.side for e in events],
            col("order_id"): [e.order_id for e in events],
            "price": [e.price for e in events],
        }
    )
    rows = rows.drop_duplicates([col("symbol"), col("timestamp"), col("order_id")])
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.transaction(), conn.cursor() as cur:  # type: ignore[union-attr]
            _merge(
                cur,
                tables.table("liquidations"),
                list(rows.columns),
                [col("symbol"), col("timestamp"), col("order_id")],
                rows,
            )
    finally:
        raw.close()
    return len(rows)
