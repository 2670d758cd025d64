"""`perpml fetch` and `perpml run --source archive` against the local fake exchange."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app

from ._exchange import Exchange, ExchangeServer

runner = CliRunner()


@pytest.fixture
def live(monkeypatch, tmp_path):
    """A fake exchange on the real clock (the CLI cannot be given a clock)."""
    now = pd.Timestamp.now(tz="UTC")
    ex = Exchange(now=now, listed=(now - pd.Timedelta(days=60)).floor("D"))
    with ExchangeServer(ex) as running:
        monkeypatch.setenv("PERPML_ARCHIVE_URL", running.url)
        monkeypatch.setenv("PERPML_BINANCE_URL", running.url)
        monkeypatch.setenv("PERPML_CACHE_DIR", str(tmp_path / "cache"))
        yield running


def days_ago(n: int) -> str:
    return (pd.Timestamp.now(tz="UTC").floor("D") - pd.Timedelta(days=n)).strftime(
        "%Y-%m-%d"
    )


def test_fetch_fills_the_cache_and_prints_the_ledger(live, tmp_path):
    args = [
        "fetch",
        "--source",
        "archive",
        "--symbol",
        "ethusdt",
        "--interval",
        "1h",
        "--start",
        days_ago(4),
        "--end",
        f"{days_ago(3)}T23:00",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "klines" in result.output and "metrics" in result.output
    assert "archive ETHUSDT 1h" in result.output
    assert list(
        (tmp_path / "cache" / "archive" / "klines" / "ETHUSDT").rglob("*.parquet")
    )
    n = len(live.requests)
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and len(live.requests) == n
    assert "(0 request(s))" in again.output


def test_fetch_binance_reports_origins_into_cache_dir(live, tmp_path):
    where = tmp_path / "elsewhere"
    result = runner.invoke(
        app,
        [
            "fetch",
            "--source",
            "binance",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1h",
            "--days",
            "2",
            "--cache-dir",
            str(where),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rest:" in result.output and "archive:" in result.output
    assert list((where / "binance" / "klines").rglob("*.parquet"))
    assert not (tmp_path / "cache" / "binance").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--source", "synthetic"], "--source must be one of", id="source"),
        pytest.param(["--interval", "7m"], "interval", id="interval"),
        pytest.param(["--symbol", "BTC/USDT"], "not an exchange symbol", id="symbol"),
        pytest.param(["--start", "yesterday-ish"], "--start", id="start"),
        pytest.param(["--base-url", "ftp://x"], "http://", id="base-url"),
    ],
)
def test_fetch_bad_input_is_a_one_line_error(args, message, live):
    result = runner.invoke(app, ["fetch", *args])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert message in text and "Traceback" not in text


def test_fetch_server_down_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PERPML_CACHE_DIR", str(tmp_path))
    result = runner.invoke(
        app,
        ["fetch", "--base-url", "http://127.0.0.1:9", "--days", "1"],
    )
    assert result.exit_code == 2
    assert "Could not fetch" in result.output


@pytest.mark.slow
def test_run_source_archive_end_to_end(live, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            "--source",
            "archive",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "5m",
            "--start",
            days_ago(8),
            "--end",
            f"{days_ago(2)}T23:55",
            "--features",
            "5",
            "--skip-lstm",
            "--skip-catboost",
            "--skip-nn",
            "--no-report",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads((out / "run.json").read_text())
    assert info["source"] == "archive"
    notes = " ".join(info["data_quality"]["notes"])
    assert "archive klines: 7 day(s) present" in notes
    assert info["data_quality"]["optional_columns"]["mark_price"]["nan_count"] == 0
    text = (out / "config.toml").read_text()
    assert 'source = "archive"' in text
    # The run prints the fetch ledger (what came from where), like `perpml fetch`.
    assert "archive BTCUSDT 5m" in result.output
