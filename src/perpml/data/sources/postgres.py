"""Market data from the seed's Phase 1 PostgreSQL database (``source="postgres"``).

Reads ``ohlcv`` (the bar grid), the feed tables ``open_interest``, ``funding_rate``,
``long_short_ratio`` (aligned *as of* the time each row became known,
:func:`perpml.data.alignment.align_asof`) and the forced orders in ``liquidations``
(summed per bar, :mod:`perpml.data.liquidations`) for one symbol and time range,
with parameterised queries (SQLAlchemy 2 Core, psycopg 3). Table and column names
come from ``[database]`` (:class:`perpml.config.DatabaseConfig`); tables or optional
columns a database lacks are skipped (the seed's minimal tables work). See
:mod:`perpml.data.database` for the schema and docs/database.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from perpml.config import DatabaseConfig
from perpml.data.alignment import DEFAULT_SNAP_TOLERANCE, align_asof
from perpml.data.contract import validate_market_data
from perpml.data.database import BAR_COLUMNS, FEEDS, Tables, connect, resolve_db_url
from perpml.data.gaps import add_quality_note
from perpml.data.liquidations import aggregate_liquidations
from perpml.data.schema import (
    CANONICAL_COLUMNS,
    INDEX_NAME,
    LIQUIDATION_COLUMNS,
    infer_interval,
    interval_to_timedelta,
)
from perpml.exceptions import ConfigError, DataFormatError, DataSourceError

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection, Engine

__all__ = ["PostgresSource"]

#: How far before the first bar feed rows are read, so the first bars have the
#: value known at their close (funding settles every 8 h; twice that and a margin).
FEED_LOOKBACK = pd.Timedelta(days=2)


def _frame_of(rows: Sequence[Any], names: Sequence[str]) -> pd.DataFrame:
    """Float64 frame of query rows ``(timestamp, *values)``, indexed by UTC time.

    Built column-wise: pandas' row-wise construction from SQLAlchemy rows is ~10x
    slower on a million bars.
    """
    columns = list(zip(*rows, strict=True))
    index = pd.DatetimeIndex(pd.to_datetime(list(columns[0]), utc=True)).as_unit("ns")
    return pd.DataFrame(
        {
            name: np.array(values, dtype="float64")
            for name, values in zip(names, columns[1:], strict=True)
        },
        index=index,
    )


class PostgresSource:
    """Load a canonical market frame from the market database.

    Parameters
    ----------
    url : str, optional
        ``postgresql://USER[:PASSWORD]@HOST:PORT/NAME``; default: ``[database] url``,
        ``PERPML_DB_URL``, else the parts of ``config``.
    config : DatabaseConfig, optional
        Connection parts and table / column names (default: the seed's schema).
    max_staleness : Timedelta or str, optional
        Age after which an aligned feed value becomes NaN (default: twice each feed's
        median spacing).

    Notes
    -----
    ``ohlcv`` holds one bar interval (it has no interval column); asking for another
    interval raises. Symbols are bound as query parameters, never formatted into SQL.
    """

    name = "postgres"
    supports_range = True
    infers_market = True

    def __init__(
        self,
        url: str | None = None,
        *,
        config: DatabaseConfig | None = None,
        max_staleness: pd.Timedelta | str | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.url = url
        self.config = config
        self.max_staleness = max_staleness
        self.engine = engine

    # -- helpers --------------------------------------------------------------------

    def _columns(self, conn: Connection, table: str) -> list[str]:
        import sqlalchemy as sa

        schema, _, name = table.rpartition(".")
        inspector = sa.inspect(conn)
        if not inspector.has_table(name, schema=schema or None):
            return []
        return [c["name"] for c in inspector.get_columns(name, schema=schema or None)]

    @staticmethod
    def _table(table: str, columns: list[str]) -> Any:
        import sqlalchemy as sa

        schema, _, name = table.rpartition(".")
        return sa.table(name, *(sa.column(c) for c in columns), schema=schema or None)

    def _symbol(self, conn: Connection, tables: Tables, ohlcv: Any) -> str:
        import sqlalchemy as sa

        sym = ohlcv.c[tables.column("symbol")]
        found = [r[0] for r in conn.execute(sa.select(sym).distinct().limit(11))]
        if len(found) == 1:
            return str(found[0])
        raise ConfigError(
            f"Table {tables.table('ohlcv')!r} holds "
            f"{'no symbol' if not found else f'several symbols {found[:10]}'}; pass "
            "--symbol (config key [data] symbol) naming one."
        )

    def _bars(
        self,
        conn: Connection,
        tables: Tables,
        symbol: str,
        days: float | None,
        interval: str | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
    ) -> pd.DataFrame:
        import sqlalchemy as sa

        col = tables.column
        name = tables.table("ohlcv")
        present = self._columns(conn, name)
        if not present:
            raise DataSourceError(
                f"The database has no table {name!r}. Create the schema with `perpml "
                "db init` and fill it with `perpml db load`, or set [database] "
                "ohlcv_table to your table's name."
            )
        wanted = [c for c in BAR_COLUMNS if c in present]
        missing = [c for c in BAR_COLUMNS[:5] if c not in wanted]
        if missing or col("timestamp") not in present or col("symbol") not in present:
            raise DataFormatError(
                f"Table {name!r} must have columns {col('timestamp')!r}, "
                f"{col('symbol')!r} and open, high, low, close, volume; it has "
                f"{present}. Set [database] timestamp_column / symbol_column."
            )
        ohlcv = self._table(name, [col("timestamp"), col("symbol"), *wanted])
        ts, sym = ohlcv.c[col("timestamp")], ohlcv.c[col("symbol")]
        if symbol is None:
            symbol = self._symbol(conn, tables, ohlcv)
        cond = [sym == sa.bindparam("symbol", symbol)]
        if end is not None:
            cond.append(ts <= sa.bindparam("end", end.to_pydatetime()))
        if start is not None:
            cond.append(ts >= sa.bindparam("start", start.to_pydatetime()))
        elif days is not None:
            recent = [
                pd.Timestamp(r[0])
                for r in conn.execute(
                    sa.select(ts).where(*cond).order_by(ts.desc()).limit(2)
                )
            ]
            if recent:
                if interval:
                    step = interval_to_timedelta(interval)
                else:  # the stored spacing; checked against the whole range below
                    step = (
                        recent[0] - recent[-1] if len(recent) == 2 else pd.Timedelta(0)
                    )
                first = recent[0] + step - pd.Timedelta(days=float(days))
                cond.append(ts >= sa.bindparam("first", first.to_pydatetime()))
        query = sa.select(ts, *(ohlcv.c[c] for c in wanted)).where(*cond).order_by(ts)
        rows = conn.execute(query).all()
        if not rows:
            have = [r[0] for r in conn.execute(sa.select(sym).distinct().limit(10))]
            raise DataSourceError(
                f"Table {name!r} has no bar of symbol {symbol!r} in the requested "
                f"range (start {start}, end {end}, days {days}); it holds symbols "
                f"{have}. Load data with `perpml db load` or change --symbol / "
                "--start / --end."
            )
        frame = _frame_of(rows, wanted).rename_axis(INDEX_NAME)
        frame.attrs["symbol"] = symbol
        return frame

    def _feed(
        self,
        conn: Connection,
        tables: Tables,
        feed: str,
        symbol: str,
        first: pd.Timestamp,
        last: pd.Timestamp,
    ) -> pd.DataFrame | None:
        import sqlalchemy as sa

        col = tables.column
        name = tables.table(feed)
        present = self._columns(conn, name)
        wanted = [c for c in FEEDS[feed] if col(c) in present]
        if not wanted:
            return None
        table = self._table(name, [col("timestamp"), col("symbol"), *map(col, wanted)])
        ts = table.c[col("timestamp")]
        query = (
            sa.select(ts, *(table.c[col(c)] for c in wanted))
            .where(
                table.c[col("symbol")] == sa.bindparam("symbol", symbol),
                ts >= sa.bindparam("first", (first - FEED_LOOKBACK).to_pydatetime()),
                # a row stamped a few ms late still belongs to the last bar
                ts
                <= sa.bindparam(
                    "last", (last + DEFAULT_SNAP_TOLERANCE).to_pydatetime()
                ),
            )
            .order_by(ts)
        )
        rows = conn.execute(query).all()
        if not rows:
            return None
        return _frame_of(rows, wanted)

    def _liquidations(
        self, conn: Connection, tables: Tables, symbol: str, index: pd.DatetimeIndex,
        interval: str,
    ) -> pd.DataFrame | None:  # fmt: skip
        import sqlalchemy as sa

        col = tables.column
        name = tables.table("liquidations")
        present = self._columns(conn, name)
        needed = [col("timestamp"), col("symbol"), col("quantity"), col("side")]
        if not set(needed) <= set(present):
            return None
        has_orders = "orders" in present
        table = self._table(name, [*needed, *(["orders"] if has_orders else [])])
        ts, sym = table.c[col("timestamp")], table.c[col("symbol")]
        qty, side = table.c[col("quantity")], table.c[col("side")]
        span = conn.execute(
            sa.select(sa.func.min(ts), sa.func.max(ts)).where(
                sym == sa.bindparam("symbol", symbol)
            )
        ).one()
        if span[0] is None:
            return None
        step = interval_to_timedelta(interval)
        origin = index[0]
        # bars are counted from the first bar's open, so any grid alignment works
        bar = sa.func.floor(
            (sa.extract("epoch", ts) - sa.bindparam("origin", origin.timestamp()))
            / sa.bindparam("step", step.total_seconds())
        ).label("bar")
        is_long = sa.func.upper(side) == sa.bindparam(
            "long_side", tables.config.long_liquidation_side.upper()
        )
        count = (
            sa.func.sum(sa.func.coalesce(table.c["orders"], 1))
            if has_orders
            else (sa.func.count())
        )
        query = (
            sa.select(
                bar,
                sa.func.coalesce(sa.func.sum(qty).filter(is_long), 0.0),
                sa.func.coalesce(sa.func.sum(qty).filter(sa.not_(is_long)), 0.0),
                count,
            )
            .where(
                sym == sa.bindparam("symbol", symbol),
                ts >= sa.bindparam("first", origin.to_pydatetime()),
                ts < sa.bindparam("end", (index[-1] + step).to_pydatetime()),
            )
            .group_by(sa.text("bar"))
        )
        rows = conn.execute(query).all()
        events = pd.DataFrame(
            [(float(b), float(lv), float(sv), float(c)) for b, lv, sv, c in rows],
            columns=["bar", *LIQUIDATION_COLUMNS],
        )
        stamps = origin + pd.to_timedelta(events.pop("bar").to_numpy() * step.value)
        events.index = pd.DatetimeIndex(stamps).as_unit("ns")
        return aggregate_liquidations(
            events,
            index,
            interval,
            coverage=(pd.Timestamp(span[0]), pd.Timestamp(span[1])),
        )

    # -- public ---------------------------------------------------------------------

    def load(
        self,
        symbol: str | None,
        days: float | None,
        interval: str | None,
        *,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Query one symbol's bars and feeds, align them and validate.

        Parameters
        ----------
        symbol : str or None
            Exchange symbol; None works when ``ohlcv`` holds one symbol.
        days : float or None
            Bars within ``days`` of the last bar's close (None: all, or
            ``start`` .. ``end``).
        interval : str or None
            Must equal the bar spacing stored in ``ohlcv``; None infers it.
        start, end : Timestamp, optional
            First / last bar open time (inclusive), UTC.

        Returns
        -------
        DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
            ``attrs``: ``symbol``, ``interval``, ``source`` (``"postgres"``),
            ``database`` (URL without password), ``quality_notes``.

        Raises
        ------
        perpml.exceptions.DataSourceError
            Database unreachable, ``ohlcv`` missing or without bars in range.
        perpml.exceptions.DataFormatError
            ``ohlcv`` lacks required columns or holds another interval.
        """
        from perpml.data.database import _describe

        config = self.config or DatabaseConfig()
        tables = Tables(config)
        url = resolve_db_url(config, self.url)
        engine = self.engine or connect(url)
        try:
            with engine.connect() as conn:
                bars = self._bars(conn, tables, symbol, days, interval, start, end)  # type: ignore[arg-type]
                symbol = bars.attrs["symbol"]
                stored = infer_interval(bars.index) if len(bars) >= 2 else interval
                if interval is None:
                    interval = stored
                if stored != interval or interval is None:
                    raise DataFormatError(
                        f"Table {tables.table('ohlcv')!r} holds {stored} bars of "
                        f"{symbol}, but interval={interval!r} was requested. Pass "
                        f"--interval {stored} (resampling is not supported yet)."
                    )
                step = interval_to_timedelta(interval)
                notes: list[str] = []
                out = bars.copy()
                for feed in FEEDS:
                    raw = self._feed(
                        conn, tables, feed, symbol, out.index[0], out.index[-1] + step
                    )
                    if raw is None:
                        continue
                    aligned = align_asof(
                        raw,
                        out.index,
                        interval=interval,
                        max_staleness=self.max_staleness,
                    )
                    for column in aligned.columns:
                        out[column] = aligned[column]
                    notes.append(
                        f"{', '.join(aligned.columns)} from table "
                        f"{tables.table(feed)!r}: aligned as of the time known "
                        f"(max_staleness {aligned.attrs['max_staleness']})."
                    )
                liq = self._liquidations(conn, tables, symbol, out.index, interval)
                if liq is not None:
                    for column in liq.columns:
                        out[column] = liq[column]
                    n_unknown = int(np.isnan(liq.iloc[:, 0]).sum())
                    notes.append(
                        f"liquidations from table {tables.table('liquidations')!r}: "
                        f"forced orders summed per bar; {n_unknown} bar(s) outside the "
                        "recorded period are NaN."
                    )
        finally:
            if self.engine is None:
                engine.dispose()
        out = out[[c for c in CANONICAL_COLUMNS if c in out.columns]].astype("float64")
        out.index.name = INDEX_NAME
        out.attrs = {
            "symbol": symbol,
            "interval": interval,
            "source": self.name,
            "database": _describe(url),
            "quality_notes": [],
        }
        for note in notes:
            add_quality_note(out, note)
        return validate_market_data(out, interval=interval, min_rows=1)
