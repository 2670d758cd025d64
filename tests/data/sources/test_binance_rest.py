"""BinanceRestSource against a local fake fapi.binance.com + archive; paging units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpml.data import load_market_data
from perpml.data.sources.binance import BinanceRestSource, page_range
from perpml.exceptions import DataSourceError

from ._exchange import NOW, kline_rows, metrics_rows


def source(exchange, tmp_path, sleeps, **kwargs):
    return BinanceRestSource(
        base_url=exchange.url,
        archive_url=exchange.url,
        cache_dir=tmp_path / "cache",
        now=NOW,
        sleep=sleeps,
        backoff=0.001,
        **kwargs,
    )


def ms(text: str) -> int:
    return pd.Timestamp(text, tz="UTC").value // 1_000_000


# -- paging units ------------------------------------------------------------------


def _server(times, *, limit, overlap=0, empty=()):
    """A fake endpoint over ``times`` answering from startTime, like /fapi/v1/klines."""
    calls = []

    def get(a, b):
        calls.append((a, b))
        if len(calls) - 1 in empty:
            return []
        inside = [t for t in times if a - overlap <= t <= b][:limit]
        return [(t, {"v": float(t)}) for t in inside]

    return get, calls


@pytest.mark.parametrize("overlap", [0, 3], ids=["exact", "overlapping-pages"])
def test_pages_join_without_repeated_or_missing_rows(overlap):
    times = list(range(0, 10_000, 5))
    get, calls = _server(times, limit=100, overlap=overlap * 5)
    rows = page_range(get, 0, 9_995, step_ms=5, limit=100)
    assert [t for t, _ in rows] == times
    if not overlap:
        # Each window starts right after the previous window's last row.
        assert [a for a, _ in calls] == list(range(0, 10_000, 500))
        assert [b for _, b in calls][:2] == [499, 999]


def test_an_empty_page_is_a_gap_not_the_end():
    times = list(range(0, 3_000, 5))
    get, calls = _server(times, limit=100, empty={2})
    rows = page_range(get, 0, 2_995, step_ms=5, limit=100)
    got = [t for t, _ in rows]
    assert got == [t for t in times if not 1_000 <= t < 1_500]
    assert len(calls) == 6


def test_a_short_page_moves_on_and_a_full_page_continues_inside_the_window():
    # Twice as dense as step_ms says: a window holds 2 * limit rows.
    times = list(range(0, 1_000, 1))
    get, calls = _server(times, limit=100)
    rows = page_range(get, 0, 999, step_ms=2, limit=100)
    assert [t for t, _ in rows] == times
    assert calls[1][0] == 100  # continued after the full page's last row


@settings(max_examples=60, deadline=None)
@given(
    times=st.sets(st.integers(0, 3_000), max_size=400),
    limit=st.integers(2, 60),
    overlap=st.integers(0, 1),
    start=st.integers(0, 500),
    end=st.integers(2_500, 3_000),
)
def test_paging_returns_each_row_once_for_any_data(times, limit, overlap, start, end):
    ordered = sorted(times)
    get, _ = _server(ordered, limit=limit, overlap=overlap)
    rows = page_range(get, start, end, step_ms=1, limit=limit)
    assert [t for t, _ in rows] == [t for t in ordered if start <= t <= end]


def test_rows_outside_the_window_are_dropped():
    def get(a, b):
        return [(a - 5, {}), (a, {}), (b, {}), (b + 5, {})]

    rows = page_range(get, 0, 99, step_ms=5, limit=1500)
    assert [t for t, _ in rows] == [0, 99]


# -- against the fake exchange -----------------------------------------------------


def test_recent_range_comes_from_rest_and_matches_the_series(
    exchange, tmp_path, sleeps
):
    frame = source(exchange, tmp_path, sleeps).load(
        "BTCUSDT", None, "5m", start="2024-03-04", end="2024-03-09 23:55"
    )
    rows = kline_rows(ms("2024-03-04"), ms("2024-03-10"), 300_000)
    assert len(frame) == len(rows) == 6 * 288
    assert (frame.index.asi8 // 1_000_000 == rows[:, 0]).all()
    np.testing.assert_allclose(frame["close"], rows[:, 4])
    np.testing.assert_allclose(frame["quote_volume"], rows[:, 7], rtol=1e-9)
    np.testing.assert_allclose(frame["index_price"], rows[:, 4] * 0.9999, rtol=1e-9)
    assert frame["funding_rate"].notna().all()
    # Pages of 1500 bars: 6 days of 5m bars = 1728 bars -> 2 kline requests.
    assert exchange.count("/fapi/v1/klines") == 2
    ledger = frame.attrs["ledger"]["feeds"]
    assert ledger["klines"]["origins"] == {"rest": "2024-03-04..2024-03-09"}
    # Metrics: the archive first (it has these days), REST for nothing older.
    assert ledger["metrics"]["origins"] == {"archive": "2024-03-04..2024-03-09"}
    assert exchange.count("/futures/data/") == 0


def test_open_day_tail_of_metrics_comes_from_rest(exchange, tmp_path, sleeps):
    frame = source(exchange, tmp_path, sleeps).load("BTCUSDT", 1.5, "5m")
    assert frame.index[-1] == pd.Timestamp("2024-03-10 11:55", tz="UTC")
    metrics = frame.attrs["ledger"]["feeds"]["metrics"]
    assert metrics["origins"] == {"archive": "2024-03-09", "rest": "2024-03-10"}
    snap = metrics_rows(ms("2024-03-10 12:00"), ms("2024-03-10 12:01"))
    assert frame["open_interest"].iloc[-1] == snap[0, 1]
    assert frame["long_short_ratio"].iloc[-1] == pytest.approx(snap[0, 5])
    assert frame["taker_long_short_ratio"].iloc[-1] == pytest.approx(snap[0, 6])
    assert exchange.count("/futures/data/openInterestHist") >= 1
    # The still-open day is never cached.
    assert not list((tmp_path / "cache").rglob("binance/**/2024-03-10*"))


def test_history_older_than_30_days_fills_from_the_archive(exchange, tmp_path, sleeps):
    frame = source(exchange, tmp_path, sleeps).load(
        "BTCUSDT", None, "1h", start="2024-01-20", end="2024-01-21 23:00"
    )
    assert frame["open_interest"].notna().all()
    origins = frame.attrs["ledger"]["feeds"]["metrics"]["origins"]
    assert origins == {"archive": "2024-01-20..2024-01-21"}
    assert exchange.count("/futures/data/") == 0  # never asked outside its window


def test_old_day_missing_in_archive_is_reported_not_asked_by_rest(
    exchange, tmp_path, sleeps
):
    exchange.missing.add(
        "/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-20.zip"
    )
    frame = source(exchange, tmp_path, sleeps).load(
        "BTCUSDT", None, "1h", start="2024-01-20", end="2024-01-21 23:00"
    )
    metrics = frame.attrs["ledger"]["feeds"]["metrics"]
    assert metrics["missing_days"] == ["2024-01-20"]
    assert "30 days" in metrics["treatment"]
    assert exchange.count("/futures/data/") == 0
    assert (
        frame.loc["2024-01-20 01:00":"2024-01-20 22:00", "open_interest"].isna().all()
    )


def test_second_run_makes_zero_requests(exchange, tmp_path, sleeps):
    src = source(exchange, tmp_path, sleeps)
    first = src.load("BTCUSDT", None, "5m", start="2024-03-05", end="2024-03-06 23:55")
    n = len(exchange.requests)
    again = src.load("BTCUSDT", None, "5m", start="2024-03-05", end="2024-03-06 23:55")
    assert len(exchange.requests) == n and again.attrs["ledger"]["requests"] == 0
    pd.testing.assert_frame_equal(first, again)
    assert again.attrs["ledger"]["feeds"]["klines"]["origins"] == {
        "cache:binance": "2024-03-05..2024-03-06"
    }
    longer = src.load("BTCUSDT", None, "5m", start="2024-03-05", end="2024-03-07 23:55")
    assert len(longer) == 3 * 288
    day = ms("2024-03-07")
    for request in exchange.requests[n:]:
        if "startTime=" in request:  # REST asks only for the new day
            assert int(request.split("startTime=")[1].split("&")[0]) >= day, request
        else:  # the archive only for that day's metrics
            assert "2024-03-07" in request, request


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 429, "headers": {"Retry-After": "3"}}, id="429"),
        pytest.param({"status": 418, "headers": {"Retry-After": "4"}}, id="418"),
        pytest.param({"status": 500}, id="500"),
        pytest.param({"status": 503}, id="503"),
        pytest.param({"delay": 0.6}, id="timeout"),
        pytest.param({"shift": 7}, id="overlapping-page"),
    ],
)
def test_faults_end_in_the_correct_frame(fault, exchange, tmp_path, sleeps):
    exchange.faults["/fapi/v1/klines"] = [dict(fault), dict(fault)]
    frame = source(exchange, tmp_path, sleeps, timeout=0.3, feeds=["klines"]).load(
        "BTCUSDT", None, "5m", start="2024-03-04", end="2024-03-09 23:55"
    )
    rows = kline_rows(ms("2024-03-04"), ms("2024-03-10"), 300_000)
    assert (frame.index.asi8 // 1_000_000 == rows[:, 0]).all()
    np.testing.assert_allclose(frame["close"], rows[:, 4])
    if "Retry-After" in fault.get("headers", {}):
        assert sleeps == [float(fault["headers"]["Retry-After"])] * 2


def test_empty_page_is_a_clear_gap_error_and_nothing_wrong_is_cached(
    exchange, tmp_path, sleeps
):
    exchange.faults["/fapi/v1/klines"] = [{}, {"empty": True}]
    src = source(exchange, tmp_path, sleeps, feeds=["klines"])
    with pytest.raises(DataSourceError, match=r"kline bar\(s\) are missing"):
        src.load("BTCUSDT", None, "5m", start="2024-03-04", end="2024-03-09 23:55")
    # Complete days were cached; the days the empty page hid were not.
    cached = sorted(
        p.stem for p in (tmp_path / "cache").rglob("binance/klines/**/*.parquet")
    )
    assert cached == [f"2024-03-0{d}" for d in range(4, 9)]
    n = len(exchange.requests)
    frame = src.load("BTCUSDT", None, "5m", start="2024-03-04", end="2024-03-09 23:55")
    assert len(frame) == 6 * 288
    assert len(exchange.requests) == n + 1  # only 2024-03-09 again
    assert exchange.requests[-1].startswith("/fapi/v1/klines")


def test_used_weight_near_the_limit_pauses_until_the_next_minute(
    exchange, tmp_path, sleeps
):
    exchange.faults["/fapi/v1/klines"] = [{"headers": {"X-MBX-USED-WEIGHT-1M": "2300"}}]
    source(exchange, tmp_path, sleeps, feeds=["klines"]).load(
        "BTCUSDT", None, "5m", start="2024-03-09", end="2024-03-09 23:55"
    )
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 60.1


def test_retries_exhausted_is_a_clear_error(exchange, tmp_path, sleeps):
    exchange.faults["/fapi/v1/fundingRate"] = [{"status": 503}] * 3
    src = source(exchange, tmp_path, sleeps, max_retries=2, feeds=["klines", "funding"])
    with pytest.raises(
        DataSourceError, match="funding BTCUSDT.*HTTP 503 after 3 attempts"
    ):
        src.load("BTCUSDT", None, "5m", start="2024-03-08", end="2024-03-08 23:55")
    # The klines fetched before the failure are cached: the rerun asks only funding.
    n = len(exchange.requests)
    src.load("BTCUSDT", None, "5m", start="2024-03-08", end="2024-03-08 23:55")
    assert all("fundingRate" in r for r in exchange.requests[n:])


def test_load_market_data_binance_with_env(exchange, tmp_path, monkeypatch):
    monkeypatch.setenv("PERPML_BINANCE_URL", exchange.url)
    monkeypatch.setenv("PERPML_ARCHIVE_URL", exchange.url)
    monkeypatch.setenv("PERPML_CACHE_DIR", str(tmp_path / "c"))
    frame = load_market_data(
        "binance", symbol="BTCUSDT", interval="1h", start="2024-02-01", end="2024-02-02"
    )
    assert len(frame) == 25 and frame.attrs["source"] == "binance"


def test_stats_requests_stay_inside_the_30_day_window(exchange, tmp_path, sleeps):
    # The archive lacks the last five days (and one day 29 days back): REST fills
    # exactly those, never asking for anything older than now - 30 days.
    for day in ["2024-02-10", *[f"2024-03-0{d}" for d in range(5, 10)]]:
        exchange.missing.add(
            f"/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-{day}.zip"
        )
    frame = source(exchange, tmp_path, sleeps, feeds=["klines", "metrics"]).load(
        "BTCUSDT", None, "1h", start="2024-02-08", end="2024-03-10 11:00"
    )
    origins = frame.attrs["ledger"]["feeds"]["metrics"]["origins"]
    assert origins["rest"] == "2024-02-10, 2024-03-05..2024-03-10"
    assert origins["archive"].startswith("2024-02-08..2024-02-09, 2024-02-11..")
    horizon = ms("2024-03-10 12:00") - 30 * 86_400_000
    stats = [r for r in exchange.requests if r.startswith("/futures/data/")]
    assert stats
    for request in stats:
        start = int(request.split("startTime=")[1].split("&")[0])
        assert start >= horizon, request
    assert (
        frame.loc["2024-02-10 01:00":"2024-02-10 22:00", "open_interest"].notna().all()
    )
    assert frame["open_interest"].iloc[-1] > 0


def test_a_day_straddling_the_30_day_limit_is_filled_from_it_with_the_gap_reported(
    exchange, tmp_path, sleeps
):
    exchange.missing.add(
        "/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-02-09.zip"
    )
    frame = source(exchange, tmp_path, sleeps, feeds=["klines", "metrics"]).load(
        "BTCUSDT", None, "1h", start="2024-02-09", end="2024-02-10 23:00"
    )
    metrics = frame.attrs["ledger"]["feeds"]["metrics"]
    # now - 30 days = 2024-02-09 12:00: REST serves the afternoon only.
    assert metrics["origins"] == {"rest": "2024-02-09", "archive": "2024-02-10"}
    assert metrics["gap_days"]["2024-02-09"] > 100
    assert (
        frame.loc["2024-02-09 00:00":"2024-02-09 10:00", "open_interest"].isna().all()
    )
    assert frame.loc["2024-02-09 13:00":, "open_interest"].notna().all()
    horizon = ms("2024-03-10 12:00") - 30 * 86_400_000
    for request in exchange.requests:
        if request.startswith("/futures/data/"):
            assert int(request.split("startTime=")[1].split("&")[0]) >= horizon
    # A partial day is never cached.
    assert not list((tmp_path / "cache").rglob("binance/metrics/**/2024-02-09*"))
