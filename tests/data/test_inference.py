"""FileSource infers symbol and interval, takes start/end, counts over its window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.data import FileSource, load_market_data
from perpml.data.sources.file_checks import symbol_from_file_name
from perpml.exceptions import ConfigError, DataFormatError

from ._helpers import binance_klines

FIXTURES = Path(__file__).parent / "fixtures"


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("ETHUSDT.csv", "ETHUSDT", id="stem"),
        pytest.param("ETHUSDT_1h_2020-03_2026-03.csv", "ETHUSDT", id="leading-token"),
        pytest.param("1000PEPEUSDT-klines.csv.gz", "1000PEPEUSDT", id="digits"),
        pytest.param("ETH_oi_5m.csv", None, id="no-quote-asset"),
        pytest.param("klines.csv", None, id="lower-case-word"),
        pytest.param("USDT.csv", "USDT", id="stem-is-a-symbol"),
    ],
)
def test_symbol_from_file_name(name: str, expected: str | None) -> None:
    assert symbol_from_file_name(name) == expected


def test_symbol_and_interval_inferred(tmp_path: Path) -> None:
    hourly = _write(tmp_path / "klines.csv", binance_klines(48, freq="1h"))
    funding = pd.DataFrame(
        {"fundingTime": [1704067200000], "fundingRate": [1e-4], "symbol": ["SOLUSDT"]}
    )
    out = FileSource([hourly, _write(tmp_path / "f.csv", funding)]).load()
    assert out.attrs["symbol"] == "SOLUSDT" and out.attrs["interval"] == "1h"
    assert out.attrs["resolved"] == {
        "symbol": "from f.csv",
        "interval": "from the bar spacing",
    }
    market = load_market_data("file", path=FIXTURES / "ETHUSDT-5m-klines.csv")
    assert market.attrs["symbol"] == "ETHUSDT" and market.attrs["interval"] == "5m"
    assert len(market) == 35  # days=None: all of the data (minus the last bar)


def test_no_symbol_asks_for_symbol(tmp_path: Path) -> None:
    path = _write(tmp_path / "klines.csv", binance_klines(10))
    with pytest.raises(ConfigError, match="Pass --symbol"):
        FileSource(path).load()
    assert FileSource(path).load("ethusdt").attrs["symbol"] == "ETHUSDT"


def test_single_bar_needs_interval(tmp_path: Path) -> None:
    path = _write(tmp_path / "ETHUSDT.csv", binance_klines(1))
    with pytest.raises(ConfigError, match="Pass --interval"):
        FileSource(path, drop_last_bar=False).load()
    assert len(FileSource(path, drop_last_bar=False).load(interval="5m")) == 1


def test_contradictions_name_the_flag(tmp_path: Path) -> None:
    path = _write(tmp_path / "ETHUSDT-5m-2024-01.csv", binance_klines(10))
    with pytest.raises(DataFormatError, match="--symbol BTCUSDT"):
        FileSource(path).load("BTCUSDT")
    with pytest.raises(DataFormatError, match="--interval 15m"):
        FileSource(path).load(interval="15m")


def test_given_symbol_beats_a_file_name_with_a_note(tmp_path: Path) -> None:
    path = _write(tmp_path / "ETHUSDT_5m.csv", binance_klines(10))
    out = FileSource(path).load("BTCUSDT")
    assert out.attrs["symbol"] == "BTCUSDT"
    assert "the file name says ETHUSDT" in out.attrs["quality_notes"][0]


def test_start_end_days(tmp_path: Path) -> None:
    path = _write(tmp_path / "ETHUSDT.csv", binance_klines(288))
    start, end = pd.Timestamp("2024-01-01 06:00Z"), pd.Timestamp("2024-01-01 12:00Z")
    out = FileSource(path).load(start=start, end=end)
    assert out.index[0] == start and out.index[-1] == end and len(out) == 73
    out = load_market_data("file", path=path, start="2024-01-01 06:00", days=0.25)
    # 6 h back from the close of the last kept bar (23:50, the partial 23:55 dropped)
    assert out.index[0] == pd.Timestamp("2024-01-01 17:55Z")
    with pytest.raises(ConfigError, match="No bar of the data lies"):
        FileSource(path).load(start=pd.Timestamp("2030-01-01", tz="UTC"))


def test_feed_notes_count_over_the_window(tmp_path: Path) -> None:
    klines = _write(tmp_path / "ETHUSDT.csv", binance_klines(288))
    # Open interest only for the first half of the day.
    times = pd.date_range("2024-01-01 00:05", periods=144, freq="5min", tz="UTC")
    oi = pd.DataFrame(
        {
            "timestamp": times.as_unit("ms").asi8,
            "symbol": "ETHUSDT",
            "sum_open_interest": np.linspace(1e5, 2e5, 144),
            "sum_open_interest_value": np.linspace(2e8, 3e8, 144),
        }
    )
    feed = _write(tmp_path / "oi.csv", oi)
    out = FileSource([klines, feed]).load(start=pd.Timestamp("2024-01-01 18:00Z"))
    note = next(n for n in out.attrs["quality_notes"] if n.startswith("open_interest"))
    assert f"{len(out)} of {len(out)} bars without a value" in note
    assert len(out) == 71


def test_gzip_named_csv_and_plain_named_gz(tmp_path: Path) -> None:
    import gzip

    text = binance_klines(10).to_csv(index=False).encode()
    (tmp_path / "ETHUSDT-5m-2024-01.csv").write_bytes(gzip.compress(text))
    (tmp_path / "BTC.csv.gz").write_bytes(text)
    out = FileSource(tmp_path / "ETHUSDT-5m-2024-01.csv").load()
    assert len(out) == 9 and "is gzip although" in out.attrs["quality_notes"][0]
    out = FileSource(tmp_path / "BTC.csv.gz").load("BTCUSDT")
    assert len(out) == 9 and "is plain text although" in out.attrs["quality_notes"][0]


def test_run_infers_the_market_from_the_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from perpml.cli import app

    path = _write(tmp_path / "ETHUSDT-5m-2024-03.csv", binance_klines(1152))
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["run", "--path", str(path), "--skip-lstm", "--skip-catboost", "--skip-nn"]
        + ["--no-report", "--features", "5", "--out", str(out)],
    )
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "Market: ETHUSDT 5m from file, 2024-01-01T00:00:00+00:00" in output
    assert "1,151 bars" in output
    config = (out / "config.toml").read_text()
    assert 'symbol = "ETHUSDT"' in config and 'interval = "5m"' in config


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    raw = binance_klines(10)
    path = tmp_path / "ETHUSDT.csv"
    raw.to_csv(path, index=False, sep=";", decimal=",")
    out = FileSource(path).load()
    assert out["close"].iloc[3] == raw["close"].iloc[3]
    raw.to_csv(path, index=False, sep=";")  # decimal points
    assert FileSource(path).load()["close"].iloc[3] == raw["close"].iloc[3]
