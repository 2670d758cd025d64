"""Benchmark the archive source: one year of 5m data from a local fake archive.

Run::

    python benchmarks/bench_fetch.py [--write] [--all-feeds]

* Server: the tests' fake data.binance.vision (``tests/data/sources/_exchange.py``) on
  127.0.0.1, answering with real-format zips + ``.CHECKSUM`` files. Every zip is
  built before timing starts, so the figures are the client's: HTTP, sha256, zip and
  CSV parsing, Parquet writes, alignment and validation.
* Data: BTCUSDT, 2023-01-01 .. 2023-12-31 23:55, 5m klines (12 monthly files),
  metrics (365 daily files) and funding (13 monthly files, one for the look-back).
* Cold: empty cache, ``ArchiveSource.load`` to a validated frame. Warm: the same call
  again (every file from the Parquet cache, zero requests).

Prints a table; ``--write`` puts it in BENCHMARKS.md under "## Archive fetch".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.data.sources._exchange import (  # noqa: E402
    Exchange,
    ExchangeServer,
    archive_file,
)

from perpml.data.sources.archive import ArchiveSource, archive_path  # noqa: E402
from perpml.data.sources.cache import plan_periods  # noqa: E402

NOW = pd.Timestamp("2024-03-10 12:00", tz="UTC")
START, END = (
    pd.Timestamp("2023-01-01", tz="UTC"),
    pd.Timestamp("2023-12-31 23:55", tz="UTC"),
)


def prebuild(feeds: list[str]) -> int:
    """Build every zip the fetch will ask for (outside the timed region)."""
    from perpml.data.sources.archive import ARCHIVE_FEEDS

    n = 0
    for feed in feeds:
        spec = ARCHIVE_FEEDS[feed]
        first = START - pd.Timedelta(days=1) if feed == "funding" else START
        for period in plan_periods(
            first, END, NOW, monthly=spec.monthly, daily=spec.daily
        ):
            archive_file(archive_path(feed, "BTCUSDT", "5m", period))
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument(
        "--all-feeds", action="store_true", help="add mark + index klines"
    )
    args = parser.parse_args()
    feeds = ["klines", "metrics", "funding"] + (
        ["mark", "index"] if args.all_feeds else []
    )
    n_files = prebuild(feeds)
    rows = []
    with ExchangeServer(Exchange(now=NOW)) as ex, tempfile.TemporaryDirectory() as tmp:
        source = ArchiveSource(base_url=ex.url, cache_dir=tmp, feeds=feeds, now=NOW)
        for label in ("cold (empty cache)", "warm (all cached)", "warm", "warm"):
            before = len(ex.requests)
            t0 = time.perf_counter()
            frame = source.load("BTCUSDT", None, "5m", start=START, end=END)
            wall = time.perf_counter() - t0
            rows.append((label, wall, len(ex.requests) - before, len(frame)))
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet")) / 2**20
    load = os.getloadavg()[0]
    table = [
        "| run | wall time | requests | bars | columns |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, wall, n_req, n_bars in rows:
        table.append(
            f"| {label} | {wall:.2f} s | {n_req} | {n_bars:,} | {frame.shape[1]} |"
        )
    text = "\n".join(
        [
            "## Archive fetch",
            "",
            f"`python benchmarks/bench_fetch.py{' --all-feeds' if args.all_feeds else ''}`"
            f" — {dt.date.today().isoformat()}, {machine()}; load average "
            f"{load:.1f} on a shared machine (other engineers' jobs were running, so "
            "wall times are upper bounds).",
            "",
            f"One year (2023) of BTCUSDT 5m data from a local fake data.binance.vision "
            f"(127.0.0.1; zips pre-built, so the client is measured): feeds "
            f"{', '.join(feeds)} = {n_files} files (+ as many .CHECKSUM files), "
            "each sha256-verified, parsed, cached as Parquet "
            f"({size:.1f} MiB), aligned and validated. Warm target: ≤ 2 s; the warm "
            "call is repeated three times to show the spread under the shared load.",
            "",
            *table,
        ]
    )
    print(text)
    if args.write:
        write_section("Archive fetch", text)


if __name__ == "__main__":
    main()
