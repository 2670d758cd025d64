"""Optional: a real archive metrics day (shared sample) served by the fake archive."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from perpml.data.sources.archive import ArchiveSource

from ._exchange import NOW

SHARED = Path(
    os.environ.get(
        "PERPML_REAL_DATA", Path(__file__).resolve().parents[4] / "shared" / "data"
    )
)
METRICS = SHARED / "real" / "ETHUSDT_metrics_5m_2021-12_2022-12.csv.gz"

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(not METRICS.exists(), reason=f"{METRICS} not present"),
]


def _day_zip(day: str) -> bytes:
    with gzip.open(METRICS, "rt") as fh:
        lines = fh.read().splitlines()
    body = [lines[0], *(line for line in lines[1:] if line.startswith(day))]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"ETHUSDT-metrics-{day}.csv", "\n".join(body) + "\n")
    return buf.getvalue()


def test_real_metrics_day_with_empty_ratio_columns(exchange, tmp_path):
    # 2022-01-02 has open interest but empty ratio columns, as published.
    exchange.listed = pd.Timestamp("2021-12-01", tz="UTC")
    path = "/data/futures/um/daily/metrics/ETHUSDT/ETHUSDT-metrics-2022-01-02.zip"
    exchange.files[path] = _day_zip("2022-01-02")
    frame = ArchiveSource(
        base_url=exchange.url, cache_dir=tmp_path, feeds=["klines", "metrics"], now=NOW
    ).load("ETHUSDT", None, "5m", start="2022-01-02", end="2022-01-02 23:50")
    assert frame["open_interest"].notna().all()
    assert frame["open_interest"].iloc[0] == pytest.approx(469432.281)  # 00:05 snapshot
    assert frame["top_trader_long_short_ratio"].isna().all()
    assert frame.attrs["ledger"]["feeds"]["metrics"]["present"] == 1
