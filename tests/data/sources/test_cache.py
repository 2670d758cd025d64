"""Cache range arithmetic, file selection across month ends, atomic writes, ledger."""

from __future__ import annotations

import pandas as pd
import pytest

from perpml.data.sources._assemble import resolve_range
from perpml.data.sources.cache import (
    MarketCache,
    Period,
    default_cache_dir,
    missing_runs,
    plan_periods,
    utc_days,
)
from perpml.data.sources.ledger import FetchLedger
from perpml.exceptions import ConfigError


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def labels(periods):
    return [p.label for p in periods]


@pytest.mark.parametrize(
    ("start", "end", "now", "expected"),
    [
        pytest.param(
            "2024-01-30",
            "2024-02-02 23:55",
            "2024-03-10",
            ["2024-01", "2024-02"],
            id="two-complete-months",
        ),
        pytest.param(
            "2024-02-28",
            "2024-03-02 23:55",
            "2024-03-10",
            ["2024-02", "2024-03-01", "2024-03-02"],
            id="into-the-open-month",
        ),
        pytest.param(
            "2024-02-28",
            "2024-03-02",
            "2024-03-01 00:00",
            ["2024-02", "2024-03-01"],
            id="month-just-ended-future-days-dropped",
        ),
        pytest.param(
            "2024-02-28 12:00",
            "2024-02-29 06:00",
            "2024-02-29 07:00",
            ["2024-02-28", "2024-02-29"],
            id="all-in-the-open-month",
        ),
        pytest.param(
            "2023-12-31 23:00",
            "2024-01-01 01:00",
            "2024-03-10",
            ["2023-12", "2024-01"],
            id="year-end",
        ),
    ],
)
def test_monthly_where_complete_daily_otherwise(start, end, now, expected):
    assert labels(plan_periods(ts(start), ts(end), ts(now))) == expected


def test_daily_only_and_monthly_only_feeds():
    start, end, now = ts("2024-02-28"), ts("2024-03-01"), ts("2024-03-10")
    assert labels(plan_periods(start, end, now, monthly=False)) == [
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
    ]
    assert labels(plan_periods(start, end, now, daily=False)) == ["2024-02", "2024-03"]
    with pytest.raises(ConfigError):
        plan_periods(start, end, now, monthly=False, daily=False)


def test_periods_know_their_end_and_completeness():
    feb = Period(ts("2024-02-01"), "month")
    assert feb.end == ts("2024-03-01") and len(feb.days()) == 29
    assert feb.complete(ts("2024-03-01")) and not feb.complete(ts("2024-02-29 23:59"))
    assert Period(ts("2024-02-29"), "day").end == ts("2024-03-01")


def test_missing_runs_are_contiguous_and_skip_held_days():
    days = utc_days(ts("2024-01-01"), ts("2024-01-10 12:00"))
    assert len(days) == 10
    have = [ts("2024-01-03"), ts("2024-01-04"), ts("2024-01-08")]
    assert missing_runs(days, have) == [
        (ts("2024-01-01"), ts("2024-01-02")),
        (ts("2024-01-05"), ts("2024-01-07")),
        (ts("2024-01-09"), ts("2024-01-10")),
    ]
    assert missing_runs(days, days) == []


def test_cache_round_trip_atomic_and_missing_markers(tmp_path):
    cache = MarketCache(tmp_path)
    day = Period(ts("2024-01-02"), "day")
    frame = pd.DataFrame(
        {"close": [1.0, 2.0]},
        index=pd.DatetimeIndex(
            [ts("2024-01-02"), ts("2024-01-02 00:05")], name="timestamp"
        ).as_unit("ns"),
    )
    path = cache.write("archive", "klines", "BTCUSDT", "5m", day, frame)
    assert path == tmp_path / "archive/klines/BTCUSDT/5m/2024-01-02.parquet"
    pd.testing.assert_frame_equal(
        cache.read("archive", "klines", "BTCUSDT", "5m", day), frame
    )
    assert not list(tmp_path.rglob("*.tmp"))
    # A 404 within the publishing grace is not final; later it is recorded.
    assert not cache.mark_missing(
        "archive", "metrics", "BTCUSDT", None, day, ts("2024-01-04")
    )
    assert cache.mark_missing(
        "archive", "metrics", "BTCUSDT", None, day, ts("2024-01-06")
    )
    assert cache.is_missing("archive", "metrics", "BTCUSDT", None, day)
    # A damaged file reads as "not cached" (fetched again), never as data.
    path.write_bytes(b"PAR1 broken")
    assert cache.read("archive", "klines", "BTCUSDT", "5m", day) is None


def test_default_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PERPML_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("PERPML_CACHE_DIR")
    assert default_cache_dir().name == "perpml"


def test_resolve_range_days_start_end_and_the_open_bar():
    now = ts("2024-03-10 12:02")
    r = resolve_range("5m", days=1, now=now)
    assert r.end == ts("2024-03-10 11:55") and r.start == ts("2024-03-09 12:00")
    r = resolve_range("1h", days=None, start="2024-03-01", end="2024-03-02", now=now)
    assert (r.start, r.end) == (ts("2024-03-01"), ts("2024-03-02"))
    r = resolve_range("1h", days=None, start="2024-03-10", end="2030-01-01", now=now)
    assert r.end == ts("2024-03-10 11:00")
    with pytest.raises(ConfigError, match="No complete 1h bar"):
        resolve_range("1h", days=None, start="2024-03-10 11:30", now=now)


def test_ledger_table_and_notes():
    ledger = FetchLedger("archive", "BTCUSDT", "5m", ts("2024-01-01"), ts("2024-01-03"))
    feed = ledger.feed("klines")
    feed.mark(ts("2024-01-01"), "present", "archive")
    feed.mark(ts("2024-01-02"), "missing")
    feed.mark(ts("2024-01-03"), "checksum")
    feed.mark(ts("2024-01-03"), "present", "cache:archive")
    feed.mark(ts("2024-01-03"), "missing")  # present wins
    summary = ledger.to_dict()["feeds"]["klines"]
    assert summary["present"] == 2 and summary["missing_days"] == ["2024-01-02"]
    assert summary["origins"] == {
        "archive": "2024-01-01",
        "cache:archive": "2024-01-03",
    }
    assert "1 missing (2024-01-02)" in ledger.notes()[0]
    assert list(ledger.to_frame().columns)[:3] == ["feed", "present", "missing"]
    assert "klines" in str(ledger)


def test_ledger_table_from_the_attrs_dict():
    from rich.console import Console

    from perpml.data.sources.ledger import ledger_table

    ledger = FetchLedger("archive", "BTCUSDT", "5m", ts("2024-01-01"), ts("2024-01-01"))
    ledger.feed("metrics").mark(ts("2024-01-01"), "present", "[archive]")
    console = Console(record=True, width=200)
    console.print(ledger_table(ledger.to_dict()))
    text = console.export_text()
    assert "metrics" in text and "[archive]" in text  # markup escaped, not eaten
