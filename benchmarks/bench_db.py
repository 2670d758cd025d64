"""Bulk loading into the market database: COPY + upsert vs row-by-row inserts.

    python benchmarks/bench_db.py [--rows 1000000] [--sample 20000] [--url URL] [--write]

Writes ``--rows`` bars of one symbol into ``ohlcv`` with :func:`write_market` (COPY into
a staging table, then ``INSERT ... ON CONFLICT DO UPDATE``), loads them again (the
idempotent re-load: every row conflicts and is updated), reads them back with
:class:`PostgresSource`, and times row-by-row ``executemany`` of the same upsert on a
``--sample`` of the rows, extrapolated to ``--rows``. The server is ``--url``,
``PERPML_TEST_POSTGRES_URL`` or a private one started like the tests do
(``tests/servers.py``, fsync off). ``--write`` records the section in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import nullcontext
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from _common import ROOT, machine, write_section

sys.path.insert(0, str(ROOT / "tests"))

TITLE = "Market database bulk load (perpml db load)"


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    index = pd.date_range(
        "2015-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": rng.lognormal(3, 0.5, n),
        },
        index=index,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--url", default=os.environ.get("PERPML_TEST_POSTGRES_URL"))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import psycopg

    from perpml.data.database import connect, init_schema, write_market
    from perpml.data.sources.postgres import PostgresSource
    from servers import postgres_server

    frame = _frame(args.rows)
    server = nullcontext(args.url) if args.url else postgres_server()
    with server as base:
        if base is None:
            raise SystemExit("PostgreSQL is not installed; pass --url.")
        name = f"perpml_bench_{os.getpid()}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + "/" + name
        try:
            engine = connect(url)
            init_schema(engine)
            t = time.perf_counter()
            write_market(engine, frame, symbol="BTCUSDT", interval="5m")
            copy_s = time.perf_counter() - t
            t = time.perf_counter()
            write_market(engine, frame, symbol="BTCUSDT", interval="5m")
            reload_s = time.perf_counter() - t
            t = time.perf_counter()
            back = PostgresSource(url, engine=engine).load("BTCUSDT", None, "5m")
            read_s = time.perf_counter() - t
            assert len(back) == args.rows
            engine.dispose()
            sample = frame.iloc[: args.sample]
            rows = [
                (ts.to_pydatetime(), "ETHUSDT", *vals)
                for ts, vals in zip(
                    sample.index, sample.itertuples(index=False, name=None), strict=True
                )
            ]
            upsert = (
                "INSERT INTO ohlcv (timestamp, symbol, open, high, low, close, "
                "volume) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
                "(symbol, timestamp) DO UPDATE SET open = EXCLUDED.open, high = "
                "EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, "
                "volume = EXCLUDED.volume"
            )
            with psycopg.connect(url) as conn, conn.cursor() as cur:
                t = time.perf_counter()
                cur.executemany(upsert, rows)  # psycopg 3 pipelines these
                conn.commit()
                row_s = time.perf_counter() - t
                few = [(r[0], "SOLUSDT", *r[2:]) for r in rows[: args.sample // 4]]
                t = time.perf_counter()
                for row in few:  # one statement and round trip per row
                    cur.execute(upsert, row)
                conn.commit()
                single_s = (time.perf_counter() - t) / len(few)
                # the COPY step alone, without the merge into the indexed table
                cur.execute("CREATE TEMP TABLE stage (LIKE ohlcv)")
                t = time.perf_counter()
                with cur.copy(
                    "COPY stage (timestamp, symbol, open, high, low, close, volume) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["timestamptz", "text", *["float8"] * 5])
                    for ts, vals in zip(
                        frame.index.to_pydatetime(),
                        frame.itertuples(index=False, name=None),
                        strict=True,
                    ):
                        copy.write_row((ts, "ADAUSDT", *vals))
                copy_only_s = time.perf_counter() - t
                conn.rollback()
        finally:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    per_row = row_s / args.sample
    extrapolated = per_row * args.rows
    load = os.getloadavg()
    text = f"""`python benchmarks/bench_db.py --write` — {args.rows:,} five-minute bars of
one symbol (OHLCV) into `ohlcv` on a local PostgreSQL (private server, fsync off),
{datetime.now(UTC):%Y-%m-%d}. Machine: {machine()}; **shared with other engineers'
jobs while measured** (load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on 2
cores), so absolute times are pessimistic; the ratio is the point.

| measure | value |
|---|---|
| `write_market` (COPY into staging + `INSERT ... ON CONFLICT`), {args.rows:,} new rows | {copy_s:.1f} s ({args.rows / copy_s:,.0f} rows/s) |
| of which the binary COPY into the staging table alone | {copy_only_s:.1f} s ({args.rows / copy_only_s:,.0f} rows/s) |
| same load again (every row conflicts and is updated) | {reload_s:.1f} s |
| read back with `PostgresSource` (query + validation) | {read_s:.1f} s |
| `executemany` upsert (psycopg 3 pipelines it), {args.sample:,} rows → {args.rows:,} | {row_s:.1f} s → {extrapolated:.0f} s ({1 / per_row:,.0f} rows/s) |
| one `execute` per row, {len(few):,} rows → {args.rows:,} | {single_s * len(few):.1f} s → {single_s * args.rows:.0f} s ({1 / single_s:,.0f} rows/s) |
| speed-up of `write_market` over `executemany` / per-row `execute` | **{extrapolated / copy_s:.1f}×** / **{single_s * args.rows / copy_s:.1f}×** |

The COPY itself moves ~{args.rows / copy_only_s / 1e3:,.0f}k rows/s; most of `write_market`'s time is
the merge into the indexed table (`INSERT ... ON CONFLICT`), which any idempotent
load pays. psycopg 3's `executemany` pipelines the statements, so on a local socket it
is far better than the classic one-round-trip-per-row insert; over a network the gap
to COPY widens with the latency.
"""
    print(text)
    if args.write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
