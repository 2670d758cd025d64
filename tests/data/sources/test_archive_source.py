"""ArchiveSource against a local fake data.binance.vision (real formats, own numbers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data import load_market_data
from perpml.data.sources.archive import ArchiveSource, archive_path
from perpml.data.sources.cache import Period
from perpml.exceptions import DataSourceError

from ._exchange import NOW, kline_rows

UM = "/data/futures/um"


def source(exchange, tmp_path, sleeps, **kwargs):
    return ArchiveSource(
        base_url=exchange.url,
        cache_dir=tmp_path / "cache",
        now=NOW,
        sleep=sleeps,
        backoff=0.001,
        **kwargs,
    )


def expected_klines(start: str, end: str) -> np.ndarray:
    a = pd.Timestamp(start, tz="UTC").value // 1_000_000
    b = pd.Timestamp(end, tz="UTC").value // 1_000_000
    return kline_rows(a, b + 1, 300_000)


def test_month_end_range_is_complete_aligned_and_valid(exchange, tmp_path, sleeps):
    frame = source(exchange, tmp_path, sleeps).load(
        "BTCUSDT", None, "5m", start="2024-02-28", end="2024-03-02 23:55"
    )
    rows = expected_klines("2024-02-28", "2024-03-02 23:55")
    assert len(frame) == len(rows) == 4 * 288  # 2024 is a leap year
    assert (frame.index.asi8 // 1_000_000 == rows[:, 0]).all()
    np.testing.assert_allclose(frame["close"], rows[:, 4])
    np.testing.assert_allclose(frame["taker_buy_volume"], rows[:, 9])
    np.testing.assert_allclose(frame["mark_price"], rows[:, 4] * 1.0001)
    np.testing.assert_allclose(frame["index_price"], rows[:, 4] * 0.9999)
    # Known-at rule: the snapshot stamped T is in the bar closing at T.
    bar = pd.Timestamp("2024-03-01 07:55", tz="UTC")
    t = (bar + pd.Timedelta(minutes=5)).value // 1_000_000
    assert frame.loc[bar, "open_interest"] == 1000.0 + (t // 300_000) % 100
    # The 08:00:00.007 settlement counts from the bar closing at 08:00 on.
    feb = pd.Timestamp("2024-02-29 07:55", tz="UTC")
    before = frame.loc[feb - pd.Timedelta("5min"), "funding_rate"]
    assert before != frame.loc[feb, "funding_rate"]
    assert frame.loc[:"2024-02-29 23:55", "funding_rate"].notna().all()
    # Funding is published monthly: March is not out yet, and stays NaN, reported.
    funding = frame.attrs["ledger"]["feeds"]["funding"]
    assert funding["unpublished_days"] == ["2024-03-01", "2024-03-02"]
    assert frame.loc["2024-03-02", "funding_rate"].isna().all()
    # February is complete: one monthly file; March is open: daily files.
    assert exchange.hits(f"{UM}/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2024-02.zip") == 1
    assert exchange.hits(f"{UM}/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-03-01.zip") == 1
    assert exchange.count(f"{UM}/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-02") == 0
    assert (
        exchange.hits(f"{UM}/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-02-28.zip") == 1
    )
    ledger = frame.attrs["ledger"]
    assert ledger["feeds"]["klines"]["present"] == 4
    assert ledger["feeds"]["klines"]["missing"] == 0
    assert frame.attrs["source"] == "archive"


def test_second_run_makes_no_request_and_extension_fetches_only_new_days(
    exchange, tmp_path, sleeps
):
    src = source(exchange, tmp_path, sleeps)
    first = src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-03 23:55")
    n = len(exchange.requests)
    again = src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-03 23:55")
    assert len(exchange.requests) == n
    assert again.attrs["ledger"]["requests"] == 0
    pd.testing.assert_frame_equal(first, again, check_like=False)
    longer = src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-04 23:55")
    new = exchange.requests[n:]
    assert new and all("2024-03-04" in r for r in new), new
    assert len(longer) == 3 * 288


def test_open_day_is_unpublished_never_cached(exchange, tmp_path, sleeps):
    frame = source(exchange, tmp_path, sleeps).load("BTCUSDT", 2.0, "5m")
    klines = frame.attrs["ledger"]["feeds"]["klines"]
    assert klines["unpublished_days"] == ["2024-03-10"]
    assert frame.index[-1] == pd.Timestamp("2024-03-09 23:55", tz="UTC")
    assert not list((tmp_path / "cache").rglob("2024-03-10*"))


def test_missing_day_is_reported_and_refused_for_klines(exchange, tmp_path, sleeps):
    day = Period(pd.Timestamp("2024-03-03", tz="UTC"), "day")
    exchange.missing.add(archive_path("klines", "BTCUSDT", "5m", day))
    src = source(exchange, tmp_path, sleeps)
    with pytest.raises(
        DataSourceError, match=r"288 5m kline bar\(s\) are missing"
    ) as err:
        src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-04 23:55")
    assert "2024-03-03" in str(err.value) and "gaps='flat'" in str(err.value)
    tail = source(exchange, tmp_path, sleeps, gaps="drop_before").load(
        "BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-04 23:55"
    )
    assert tail.index[0] == pd.Timestamp("2024-03-04", tz="UTC")
    assert tail.attrs["ledger"]["feeds"]["klines"]["missing_days"] == ["2024-03-03"]


def test_missing_metrics_day_stays_nan_and_is_in_the_ledger(exchange, tmp_path, sleeps):
    day = Period(pd.Timestamp("2024-03-03", tz="UTC"), "day")
    exchange.missing.add(archive_path("metrics", "BTCUSDT", "5m", day))
    frame = source(exchange, tmp_path, sleeps).load(
        "BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-04 23:55"
    )
    hole = frame.loc["2024-03-03 00:10":"2024-03-03 23:50", "open_interest"]
    assert hole.isna().all()
    assert frame.loc["2024-03-04 00:10":, "open_interest"].notna().all()
    assert frame.attrs["ledger"]["feeds"]["metrics"]["missing_days"] == ["2024-03-03"]
    assert any("metrics" in n and "missing" in n for n in frame.attrs["quality_notes"])


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated"])
def test_defective_zip_is_retried_reported_never_parsed(
    fault, exchange, tmp_path, sleeps
):
    day = Period(pd.Timestamp("2024-03-03", tz="UTC"), "day")
    path = archive_path("metrics", "BTCUSDT", "5m", day)
    getattr(exchange, fault).add(path)
    src = source(exchange, tmp_path, sleeps, checksum_retries=1)
    frame = src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-04 23:55")
    assert exchange.count(path) == 4  # zip + checksum, twice
    metrics = frame.attrs["ledger"]["feeds"]["metrics"]
    assert metrics["checksum_days"] == ["2024-03-03"]
    assert "sha256" in metrics["errors"][0]
    assert (
        frame.loc["2024-03-03 00:10":"2024-03-03 23:50", "open_interest"].isna().all()
    )
    assert not list((tmp_path / "cache").rglob("*metrics*/**/2024-03-03*"))
    # The defect is not cached: once fixed upstream, a rerun picks the day up.
    getattr(exchange, fault).clear()
    fixed = src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-04 23:55")
    assert fixed["open_interest"].notna().all()


def test_defective_monthly_file_falls_back_to_daily_files(exchange, tmp_path, sleeps):
    month = Period(pd.Timestamp("2024-02-01", tz="UTC"), "month")
    exchange.bad_checksum.add(archive_path("klines", "BTCUSDT", "5m", month))
    frame = source(exchange, tmp_path, sleeps, checksum_retries=0).load(
        "BTCUSDT", None, "5m", start="2024-02-27", end="2024-02-28 23:55"
    )
    assert len(frame) == 2 * 288
    assert exchange.hits(f"{UM}/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-02-27.zip") == 1
    assert frame.attrs["ledger"]["feeds"]["klines"]["errors"]


@pytest.mark.parametrize(
    ("fault", "waits"),
    [
        pytest.param({"status": 429, "headers": {"Retry-After": "7"}}, [7.0], id="429"),
        pytest.param({"status": 418, "headers": {"Retry-After": "9"}}, [9.0], id="418"),
        pytest.param({"status": 503}, None, id="503"),
        pytest.param({"status": 500}, None, id="500"),
        pytest.param({"delay": 0.6}, None, id="timeout"),
    ],
)
def test_transient_failures_are_retried(fault, waits, exchange, tmp_path, sleeps):
    path = f"{UM}/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-03-03.zip"
    exchange.faults[path] = [dict(fault), dict(fault)]
    src = source(exchange, tmp_path, sleeps, timeout=0.3)
    frame = src.load("BTCUSDT", None, "5m", start="2024-03-03", end="2024-03-03 23:55")
    assert len(frame) == 288
    assert exchange.hits(path) == 3
    if waits is not None:
        assert sleeps == waits * 2
    else:
        assert len(sleeps) == 2 and all(0 < s < 1 for s in sleeps)


def test_retries_exhausted_name_what_is_missing_and_keep_the_cache(
    exchange, tmp_path, sleeps
):
    src = source(exchange, tmp_path, sleeps, max_retries=2, workers=1)
    src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-02 23:55")
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*.parquet"))
    path = f"{UM}/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-03-03.zip"
    exchange.faults[path] = [{"status": 503}] * 3
    with pytest.raises(
        DataSourceError, match="klines BTCUSDT 2024-03-03.*HTTP 503 after 3"
    ):
        src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-03 23:55")
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.parquet")) == cached
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    n = len(exchange.requests)
    src.load("BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-03 23:55")
    assert all("2024-03-03" in r for r in exchange.requests[n:])


def test_too_long_retry_after_raises_instead_of_hanging(exchange, tmp_path, sleeps):
    path = f"{UM}/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-03-03.zip"
    exchange.faults[path] = [{"status": 418, "headers": {"Retry-After": "7200"}}]
    src = source(exchange, tmp_path, sleeps, max_retry_after=60)
    with pytest.raises(DataSourceError, match="banned this IP.*7200"):
        src.load("BTCUSDT", None, "5m", start="2024-03-03", end="2024-03-03 23:55")
    assert sleeps == []


def test_env_base_url_and_load_market_data(exchange, tmp_path, monkeypatch):
    monkeypatch.setenv("PERPML_ARCHIVE_URL", exchange.url)
    monkeypatch.setenv("PERPML_CACHE_DIR", str(tmp_path / "envcache"))
    frame = load_market_data(
        "archive",
        symbol="BTCUSDT",
        interval="1h",
        start="2024-03-01",
        end="2024-03-02 23:00",
    )
    assert len(frame) == 48 and frame.attrs["interval"] == "1h"
    assert list((tmp_path / "envcache").rglob("*.parquet"))
    assert frame["mark_price"].notna().all()


def test_unknown_symbol_is_a_clear_error(exchange, tmp_path, sleeps):
    exchange.listed = pd.Timestamp("2030-01-01", tz="UTC")
    with pytest.raises(DataSourceError, match=r"(?s)no BTCUSDT 5m klines.*--symbol"):
        source(exchange, tmp_path, sleeps).load(
            "BTCUSDT", None, "5m", start="2024-03-02", end="2024-03-02 23:55"
        )
