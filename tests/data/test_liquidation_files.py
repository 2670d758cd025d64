"""Liquidation event files (forceOrder layout) through FileSource and the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from perpml.data import load_market_data
from perpml.exceptions import DataFormatError

ARCHIVE_HEADER = (
    "time,side,order_type,time_in_force,original_quantity,price,average_price,"
    "order_status,last_fill_quantity,accumulated_fill_quantity\n"
)


def _klines(path: Path, n: int = 8) -> Path:
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    frame = pd.DataFrame(
        {"timestamp": index, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0,
         "volume": 100.0},
    )  # fmt: skip
    frame.to_csv(path, index=False)
    return path


def test_archive_liquidation_snapshot_is_summed_per_bar(tmp_path: Path) -> None:
    klines = _klines(tmp_path / "klines.csv")
    events = tmp_path / "BTCUSDT-liquidationSnapshot-2024-01-01.csv"
    ms = int(pd.Timestamp("2024-01-01 00:05", tz="UTC").value // 1_000_000)
    events.write_text(
        ARCHIVE_HEADER
        + f"{ms + 1000},SELL,LIMIT,IOC,0.5,42000,42010,FILLED,0.5,0.5\n"
        + f"{ms + 2000},BUY,LIMIT,IOC,0.3,42000,42010,FILLED,0.1,0.2\n"
        + f"{ms + 600_000},SELL,LIMIT,IOC,1.0,41000,41000,FILLED,1.0,1.0\n"
    )
    market = load_market_data("file", symbol="BTCUSDT", days=None, interval="5m",
                              path=[klines, events], drop_last_bar=False)  # fmt: skip
    assert market["liquidation_long_volume"].tolist()[1:4] == [0.5, 0.0, 1.0]
    # the filled quantity counts, not the order's original one
    assert market["liquidation_short_volume"].tolist()[1:4] == [0.2, 0.0, 0.0]
    assert market["liquidation_count"].tolist()[1:4] == [2.0, 0.0, 1.0]
    # outside the recorded period: unknown, not zero
    assert (
        market["liquidation_count"].isna().tolist() == [True] + [False] * 3 + [True] * 4
    )
    assert any("liquidations from" in n for n in market.attrs["quality_notes"])


def test_seed_table_layout_and_symbol_check(tmp_path: Path) -> None:
    klines = _klines(tmp_path / "klines.csv")
    events = tmp_path / "liquidations.csv"
    events.write_text(
        "timestamp,symbol,quantity,side,order_id\n"
        "2024-01-01T00:00:30Z,BTCUSDT,2,SELL,a\n2024-01-01T00:30:00Z,BTCUSDT,1,BUY,b\n"
    )
    market = load_market_data("file", symbol="BTCUSDT", days=None, interval="5m",
                              path=[klines, events], drop_last_bar=False)  # fmt: skip
    assert market["liquidation_long_volume"].iloc[0] == 2.0
    assert market["liquidation_short_volume"].iloc[6] == 1.0
    with pytest.raises(DataFormatError, match="ETHUSDT"):
        load_market_data("file", symbol="ETHUSDT", days=None, interval="5m",
                         path=[klines, events])  # fmt: skip


def test_bad_side_is_refused(tmp_path: Path) -> None:
    klines = _klines(tmp_path / "klines.csv")
    events = tmp_path / "liquidations.csv"
    events.write_text("timestamp,quantity,side\n2024-01-01T00:00:30Z,2,LONG\n")
    with pytest.raises(DataFormatError, match="SELL or BUY"):
        load_market_data("file", symbol="BTCUSDT", days=None, interval="5m",
                         path=[klines, events])  # fmt: skip


def test_run_reads_event_files_through_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from perpml.cli import app

    klines = _klines(tmp_path / "klines.csv")
    events = tmp_path / "liquidations.csv"
    events.write_text("timestamp,quantity,side\n2024-01-01T00:00:30Z,2,SELL\n")
    result = CliRunner().invoke(
        app, ["validate", str(klines), str(events), "--symbol", "BTCUSDT"]
    )
    assert result.exit_code == 0, result.output
    assert "liquidation_long_volume" in result.output
