"""FileSource over many files per kind (data.binance.vision downloads)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.data import FileSource, load_market_data
from perpml.data.sources.binance_formats import (
    KLINE_COLUMNS,
    archive_name_info,
    read_market_file,
)
from perpml.exceptions import DataContractError, DataFormatError, DataSourceError

from ._helpers import real_data_dir

ARCHIVE = Path(__file__).parent / "fixtures" / "archive"
DAY1 = ARCHIVE / "ETHUSDT-5m-2024-01-01.csv"  # headerless, µs epochs
DAY2 = ARCHIVE / "ETHUSDT-5m-2024-01-02.zip"  # header, ms epochs
METRICS1 = ARCHIVE / "ETHUSDT-metrics-2024-01-01.csv"
METRICS2 = ARCHIVE / "ETHUSDT-metrics-2024-01-02.csv"  # repeats METRICS1's last row
FUNDING = ARCHIVE / "ETHUSDT-fundingRate-2024-01.csv"
ALL = [DAY1, DAY2, METRICS1, METRICS2, FUNDING]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _load(paths, **options) -> pd.DataFrame:
    return FileSource(paths, **options).load("ETHUSDT", None, "5m")


def _day(path: Path) -> pd.DataFrame:
    """The kline rows of a fixture file in the headered ms layout."""
    if path == DAY1:
        raw = pd.read_csv(path, header=None, names=list(KLINE_COLUMNS))
        raw["open_time"] //= 1000
        raw["close_time"] //= 1000
        return raw
    return pd.read_csv(path)


def _notes(out: pd.DataFrame) -> str:
    return " | ".join(out.attrs["quality_notes"])


def test_archive_directory_loads_every_kind() -> None:
    out = load_market_data(
        "file", path=ARCHIVE, symbol="ETHUSDT", interval="5m", days=None
    )
    assert out.index[0] == ts("2024-01-01 23:00")
    assert out.index[-1] == ts("2024-01-02 00:50")  # 00:55 dropped as maybe partial
    assert len(out) == 23
    # every data file read once, in name order; the CHECKSUM file skipped
    assert [Path(f).name for f in out.attrs["files"]] == sorted(p.name for p in ALL)
    # µs (day 1) and ms (day 2) epochs land on one grid
    assert out.loc[ts("2024-01-01 23:55"), "close"] == _day(DAY1)["close"].iloc[-1]
    assert out.loc[ts("2024-01-02 00:00"), "close"] == _day(DAY2)["close"].iloc[0]
    # metrics of both days aligned as of the snapshot time (bar closing at it)
    assert out.loc[ts("2024-01-01 23:55"), "open_interest"] == 400110.0
    assert out.loc[ts("2024-01-02 00:00"), "open_interest"] == 400120.0
    assert out.loc[ts("2024-01-01 23:00"), "open_interest"] == 400000.0
    # funding settled 2024-01-02 00:00 is known in the bar closing then
    assert out.loc[ts("2024-01-01 23:50"), "funding_rate"] == 2e-4
    assert out.loc[ts("2024-01-01 23:55"), "funding_rate"] == 3e-4
    notes = _notes(out)
    assert "dropped the last bar 2024-01-02T00:55:00+00:00 of " + DAY2.name in notes
    assert "klines from 2 files" in notes
    assert "dropped 1 row(s) repeated identically" in notes  # the 00:00 snapshot


def test_list_glob_and_directory_agree() -> None:
    by_dir = _load(ARCHIVE)
    by_list = _load(list(reversed(ALL)))  # order of the list does not matter
    by_glob = _load(str(ARCHIVE / "ETHUSDT-*"))
    by_mix = _load([ARCHIVE, DAY1, str(ARCHIVE / "*metrics*")])  # repeats read once
    for other in (by_list, by_glob, by_mix):
        pd.testing.assert_frame_equal(other, by_dir, check_freq=False)


def test_overlapping_kline_files_drop_identical_rows(tmp_path: Path) -> None:
    overlap = pd.concat([_day(DAY1).iloc[-3:], _day(DAY2)])  # 3 rows also in DAY1
    path = tmp_path / "ETHUSDT-5m-2024-01-02.csv"
    overlap.to_csv(path, index=False)
    out = _load([DAY1, path])
    pd.testing.assert_frame_equal(
        out[["open", "close", "volume"]],
        _load([DAY1, DAY2])[["open", "close", "volume"]],
        check_freq=False,
    )
    assert "dropped 3 row(s) repeated identically" in _notes(out)


@pytest.mark.parametrize("kind", ["klines", "metrics"])
def test_conflicting_duplicate_names_both_files(tmp_path: Path, kind: str) -> None:
    if kind == "klines":
        other = _day(DAY2)
        other.loc[0, "close"] += 1.0
        other = pd.concat([_day(DAY1).iloc[-1:], other])
        other.loc[other.index[0], "close"] += 1.0  # 23:55, also in DAY1
        paths = [DAY1, tmp_path / "again.csv", METRICS1]
        stamp = "2024-01-01T23:55:00+00:00"
    else:
        other = pd.read_csv(METRICS2)
        other.loc[0, "sum_open_interest"] += 5  # the 00:00 snapshot, also in METRICS1
        paths = [DAY1, DAY2, METRICS1, tmp_path / "again.csv"]
        stamp = "2024-01-02T00:00:00+00:00"
    other.to_csv(tmp_path / "again.csv", index=False)
    with pytest.raises(DataFormatError, match="different values") as info:
        _load(paths)
    message = str(info.value)
    assert stamp in message and "again.csv" in message
    assert (DAY1.name if kind == "klines" else METRICS1.name) in message
    assert "remove one of the two files" in message


def test_gap_between_files_raises_the_contract_gap(tmp_path: Path) -> None:
    later = _day(DAY2).iloc[2:]  # 00:00 and 00:05 missing between the files
    later.to_csv(tmp_path / "ETHUSDT-5m-2024-01-02.csv", index=False)
    with pytest.raises(DataContractError, match="fill_gaps"):
        _load([DAY1, tmp_path / "ETHUSDT-5m-2024-01-02.csv"])


def test_mixed_intervals_and_symbols_raise(tmp_path: Path) -> None:
    hourly = _day(DAY2).iloc[::12].copy()  # one row: the interval is in the name
    hourly.to_csv(tmp_path / "ETHUSDT-1h-2024-01-03.csv", index=False)
    with pytest.raises(DataFormatError, match="one interval; got 2.*5m.*1h"):
        _load([DAY1, tmp_path / "ETHUSDT-1h-2024-01-03.csv"])
    shutil.copy(DAY2, tmp_path / "BTCUSDT-5m-2024-01-02.zip")
    with pytest.raises(DataFormatError, match="one symbol; got 2.*BTCUSDT.*ETHUSDT"):
        _load([DAY1, tmp_path / "BTCUSDT-5m-2024-01-02.zip"])
    with pytest.raises(DataFormatError, match="--symbol ETHUSDT .* was given, but"):
        _load(tmp_path / "BTCUSDT-5m-2024-01-02.zip")


def test_partial_bar_policy_applies_to_the_combined_last_bar(tmp_path: Path) -> None:
    first = _day(DAY1)
    first.loc[first.index[-1], "volume"] = 1.0  # tiny, but not the last bar overall
    first.to_csv(tmp_path / "ETHUSDT-5m-2024-01-01.csv", index=False)
    paths = [tmp_path / "ETHUSDT-5m-2024-01-01.csv", DAY2]
    dropped = _load(paths)
    assert ts("2024-01-01 23:55") in dropped.index
    assert dropped.index[-1] == ts("2024-01-02 00:50")
    kept = _load(paths, drop_last_bar=False)
    assert kept.index[-1] == ts("2024-01-02 00:55")
    assert "looks partial" not in _notes(kept)  # 00:55 has a normal volume


def test_files_of_one_kind_must_share_a_layout(tmp_path: Path) -> None:
    export = _day(DAY2)[["open_time", "open", "high", "low", "close", "volume"]]
    export.to_csv(tmp_path / "export.csv", index=False)
    with pytest.raises(DataFormatError, match="same columns"):
        _load([DAY1, tmp_path / "export.csv"])
    shuffled = _day(DAY2).iloc[::-1]
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    with pytest.raises(DataContractError, match="time order") as err:
        _load([DAY1, tmp_path / "shuffled.csv"])
    assert err.value.reasons == ("unsorted",)


def test_empty_directory_and_unmatched_pattern(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not data")
    with pytest.raises(DataSourceError, match="holds no market-data file"):
        _load(tmp_path)
    with pytest.raises(DataSourceError, match="No market-data file matches"):
        _load(str(tmp_path / "*.zip"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTCUSDT-5m-2024-01.zip", ("BTCUSDT", "5m")),
        ("BTCUSDT-1h-2024-01-31.csv", ("BTCUSDT", "1h")),
        ("BTCUSDT-metrics-2024-01-01.zip", ("BTCUSDT", None)),
        ("BTCUSDT-fundingRate-2024-01.zip", ("BTCUSDT", None)),
        ("ETHUSDT-5m-klines.csv", (None, None)),
        ("ETH-funding-2024-01.csv", (None, None)),
        ("klines.csv", (None, None)),
    ],
)
def test_archive_name_info(name: str, expected: tuple) -> None:
    assert archive_name_info(name) == expected


def test_layouts() -> None:
    assert [read_market_file(p).layout for p in ALL] == [
        "klines", "klines", "metrics", "metrics", "funding",
    ]  # fmt: skip
    assert read_market_file(DAY1).symbols == ("ETHUSDT",)
    assert read_market_file(DAY1).name_interval == "5m"
    assert np.isfinite(read_market_file(DAY2).frame.to_numpy()).all()


_REAL = real_data_dir()
REAL_1H = (_REAL or Path(".")) / "ETHUSDT_1h_2025-09_2026-03.csv"


@pytest.mark.network
@pytest.mark.skipif(
    _REAL is None,
    reason="shared real-data folder not found: set PERPML_REAL_DATA or place it at "
    "<repository root>/../shared/data/real",
)
def test_real_file_split_into_overlapping_parts(tmp_path: Path) -> None:
    raw = pd.read_csv(REAL_1H)
    half = len(raw) // 2
    raw.iloc[: half + 24].to_csv(tmp_path / "ETHUSDT-1h-a.csv", index=False)
    raw.iloc[half:].to_csv(tmp_path / "ETHUSDT-1h-b.csv", index=False)
    whole = FileSource(REAL_1H).load("ETHUSDT", None, "1h")
    parts = FileSource(tmp_path).load("ETHUSDT", None, "1h")
    pd.testing.assert_frame_equal(parts, whole, check_freq=False)
    assert "dropped 24 row(s) repeated identically" in _notes(parts)
