from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.data import (
    FileSource,
    MarketDataSource,
    load_market_data,
    validate_market_data,
)
from perpml.data.sources.binance_formats import KLINE_COLUMNS, read_market_file
from perpml.exceptions import (
    ConfigError,
    DataContractError,
    DataFormatError,
    DataSourceError,
)

FIXTURES = Path(__file__).parent / "fixtures"
KLINES = FIXTURES / "ETHUSDT-5m-klines.csv"
METRICS = FIXTURES / "ETHUSDT-metrics-5m.csv"
FUNDING = FIXTURES / "ETHUSDT-fundingRate.csv"


@pytest.fixture(scope="module")
def klines() -> pd.DataFrame:
    return pd.read_csv(KLINES)


def _load(paths, **options) -> pd.DataFrame:
    return FileSource(paths, **options).load("ETHUSDT", None, "5m")


def test_file_source_is_a_market_data_source() -> None:
    assert isinstance(FileSource(KLINES), MarketDataSource)


def test_binance_klines_with_header(klines: pd.DataFrame) -> None:
    out = _load(KLINES)
    assert len(out) == len(klines) - 1  # partial last bar dropped
    assert out.index[0] == pd.Timestamp("2024-01-01 07:00", tz="UTC")
    assert list(out.columns) == [
        "open", "high", "low", "close", "volume", "quote_volume", "trades",
        "taker_buy_volume", "taker_buy_quote_volume",
    ]  # fmt: skip
    assert (out.dtypes == "float64").all()
    assert out.attrs["symbol"] == "ETHUSDT" and out.attrs["source"] == "file"
    assert "dropped the last bar" in out.attrs["quality_notes"][0]


@pytest.mark.parametrize(
    "unit", [pytest.param(1, id="ms"), pytest.param(1000, id="us")]
)
def test_headerless_klines_in_ms_and_us(
    tmp_path: Path, klines: pd.DataFrame, unit: int
) -> None:
    raw = klines.copy()
    raw["open_time"] *= unit
    raw["close_time"] *= unit
    path = tmp_path / "ETHUSDT-5m-2024-01-01.csv"
    raw.to_csv(path, index=False, header=False)
    out = _load(path)
    expected = _load(KLINES)
    pd.testing.assert_frame_equal(out, expected, check_freq=False)


@pytest.mark.parametrize("suffix", ["csv.gz", "zip", "parquet"])
def test_compressed_and_parquet(
    tmp_path: Path, klines: pd.DataFrame, suffix: str
) -> None:
    path = tmp_path / f"k.{suffix}"
    if suffix == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("k.csv", klines.to_csv(index=False, header=False))
    elif suffix == "parquet":
        klines.to_parquet(path)
    else:
        klines.to_csv(path, index=False)
    pd.testing.assert_frame_equal(_load(path), _load(KLINES), check_freq=False)


def test_user_exports_and_canonical_round_trip(
    tmp_path: Path, klines: pd.DataFrame
) -> None:
    export = klines[["open_time", "open", "high", "low", "close", "volume"]].rename(
        columns={"open_time": "timestamp"}
    )
    export.insert(1, "datetime", pd.to_datetime(export["timestamp"], unit="ms"))
    export.to_csv(tmp_path / "a.csv", index=False)
    a = _load(tmp_path / "a.csv")
    assert list(a.columns) == ["open", "high", "low", "close", "volume"]
    # canonical frame written with its DatetimeIndex, read back unchanged
    full = _load([KLINES, METRICS, FUNDING], drop_last_bar=False)
    full.to_parquet(tmp_path / "canon.parquet")
    back = _load(tmp_path / "canon.parquet", drop_last_bar=False)
    pd.testing.assert_frame_equal(back, full, check_freq=False)
    full.reset_index().assign(timestamp=lambda d: d["timestamp"].astype(str)).to_csv(
        tmp_path / "canon.csv", index=False
    )
    pd.testing.assert_frame_equal(
        _load(tmp_path / "canon.csv", drop_last_bar=False), full, check_freq=False
    )


def test_klines_metrics_and_funding_combined() -> None:
    out = load_market_data(
        "file",
        path=[KLINES, METRICS, FUNDING],
        symbol="ETHUSDT",
        interval="5m",
        days=None,
    )
    validate_market_data(out, interval="5m")
    ts = lambda s: pd.Timestamp(f"2024-01-01 {s}", tz="UTC")  # noqa: E731
    # funding settled 08:00:00.007 -> bar 07:55 (closes 08:00); 00:00 value before
    assert out.loc[ts("07:50"), "funding_rate"] == 1e-4
    assert out.loc[ts("07:55"), "funding_rate"] == 2.5e-4
    # metrics snapshot stamped T -> bar closing at T
    assert out.loc[ts("07:00"), "open_interest"] == 400000.0
    assert out.loc[ts("08:40"), "open_interest"] == 400200.0  # 08:45:02 snapped
    # missing 07:55 snapshot: previous value carried one bar (within staleness)
    assert (
        out.loc[ts("07:50"), "open_interest"] == out.loc[ts("07:45"), "open_interest"]
    )
    # empty ratio cells stay NaN, the mapping is the documented one
    assert (
        out.loc[ts("07:15") : ts("07:25"), "top_trader_long_short_ratio"].isna().all()
    )
    assert out.loc[ts("07:00"), "long_short_ratio"] == 1.8
    assert out.loc[ts("07:00"), "taker_long_short_ratio"] == 0.9
    assert "markprice" in " ".join(out.attrs["quality_notes"])


def test_days_keeps_the_last_days() -> None:
    out = _load([KLINES, FUNDING])
    last_hour = FileSource([KLINES, FUNDING]).load("ETHUSDT", 1 / 24, "5m")
    assert len(last_hour) == 12
    assert last_hour.index[-1] == out.index[-1]
    assert last_hour["funding_rate"].equals(out["funding_rate"].iloc[-12:])


@pytest.mark.parametrize(
    ("header", "rows", "scale", "expected"),
    [
        pytest.param("fundingTime,fundingRate", "{ms},0.0001", 1.0, 1e-4, id="rest"),
        pytest.param(
            "calc_time,funding_interval_hours,last_funding_rate",
            "{ms},8,0.0001",
            1.0,
            1e-4,
            id="archive",
        ),
        pytest.param(
            "timestamp,symbol,funding_rate", "{ms},ETHUSDT,0.0001", 1.0, 1e-4, id="user"
        ),
        pytest.param("ts,rate", "{ms},0.0000125", 8.0, 1e-4, id="divided_by_8"),
    ],
)
def test_funding_formats(
    tmp_path: Path, header: str, rows: str, scale: float, expected: float
) -> None:
    ms = int(pd.Timestamp("2024-01-01 08:00:00.007", tz="UTC").value // 1_000_000)
    path = tmp_path / "funding.csv"
    path.write_text(f"{header}\n{rows.format(ms=ms)}\n")
    out = _load([KLINES, path], funding_rate_scale=scale)
    assert out.loc[
        pd.Timestamp("2024-01-01 07:55", tz="UTC"), "funding_rate"
    ] == pytest.approx(expected)
    assert np.isnan(out.loc[pd.Timestamp("2024-01-01 07:50", tz="UTC"), "funding_rate"])


def test_open_interest_hist_dump(tmp_path: Path) -> None:
    path = tmp_path / "oi.csv"
    path.write_text(
        "timestamp,symbol,sum_open_interest,sum_open_interest_value\n"
        "1704096300000,ETHUSDT,5.0,10.0\n1704096600000,ETHUSDT,6.0,12.0\n"
    )
    out = _load([KLINES, path])
    assert (
        out.loc[pd.Timestamp("2024-01-01 08:00", tz="UTC"), "open_interest"] == 5.0
    )  # 08:05
    assert (
        out.loc[pd.Timestamp("2024-01-01 08:05", tz="UTC"), "open_interest_value"]
        == 12.0
    )
    assert np.isnan(
        out.loc[pd.Timestamp("2024-01-01 07:55", tz="UTC"), "open_interest"]
    )


def test_drop_last_bar_false_flags_partial_bar() -> None:
    out = _load(KLINES, drop_last_bar=False)
    assert out.index[-1] == pd.Timestamp("2024-01-01 09:55", tz="UTC")
    assert "looks partial" in out.attrs["quality_notes"][0]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        pytest.param(
            lambda p: p / "nope.csv", DataSourceError, "does not exist", id="missing"
        ),
        pytest.param(
            lambda p: _write(p, "e.csv", ""), DataFormatError, "is empty", id="empty"
        ),
        pytest.param(
            lambda p: _write(p, "h.csv", "timestamp,open,high,low,close,volume\n"),
            DataFormatError,
            "no data rows",
            id="header_only",
        ),
        pytest.param(
            lambda p: _write(p, "x.txt", "a"),
            DataFormatError,
            "must end with",
            id="suffix",
        ),
        pytest.param(
            lambda p: _write(
                p, "u.csv", "timestamp,open,high,low,close,volume,vwap\n1,1,1,1,1,1,1\n"
            ),
            DataFormatError,
            r"unknown column\(s\) \['vwap'\]",
            id="unknown_column",
        ),
        pytest.param(
            lambda p: _write(
                p,
                "t.csv",
                "timestamp,open,high,low,close,volume\nyesterday,1,1,1,1,1\n",
            ),
            DataFormatError,
            "unparsable value",
            id="bad_time",
        ),
        pytest.param(
            lambda p: _write(
                p,
                "v.csv",
                "timestamp,open,high,low,close,volume\n1704096300000,1,1,1,x,1\n",
            ),
            DataFormatError,
            "column 'close': values must be numbers",
            id="bad_value",
        ),
        pytest.param(
            lambda p: _write(p, "n.csv", "1,2,3\n4,5,6\n"),
            DataFormatError,
            "no header row",
            id="headerless",
        ),
        pytest.param(
            lambda p: _write(p, "o.csv", "timestamp,open,close\n1,2,3\n"),
            DataFormatError,
            "lacks",
            id="partial_ohlc",
        ),
    ],
)
def test_bad_files(tmp_path: Path, make, error: type, match: str) -> None:
    path = make(tmp_path)
    with pytest.raises(error, match=match) as info:
        _load(path)
    assert str(path.name) in str(info.value)


def test_wrong_symbol_interval_and_file_mix(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="--symbol BTCUSDT .* was given, but"):
        FileSource([KLINES, METRICS]).load("BTCUSDT", None, "5m")
    with pytest.raises(
        DataFormatError, match="--interval 1h .* was given, but .* holds 5m klines"
    ):
        FileSource(KLINES).load("ETHUSDT", None, "1h")
    with pytest.raises(DataFormatError, match="A kline file .* got none"):
        _load([METRICS, FUNDING])
    # the same file listed twice is read once
    pd.testing.assert_frame_equal(_load([KLINES, KLINES]), _load(KLINES))
    pd.testing.assert_frame_equal(
        _load([KLINES, METRICS, METRICS]), _load([KLINES, METRICS])
    )
    # two kinds of feed providing one column still clash
    oi = _write(
        tmp_path,
        "oi.csv",
        "timestamp,symbol,sum_open_interest,sum_open_interest_value\n"
        "1704096300000,ETHUSDT,5.0,10.0\n",
    )
    with pytest.raises(DataFormatError, match="already provides"):
        _load([KLINES, METRICS, oi])


def test_gappy_file_raises_contract_error_naming_the_repair(
    tmp_path: Path, klines: pd.DataFrame
) -> None:
    path = tmp_path / "gappy.csv"
    klines.drop(index=[5, 6]).to_csv(path, index=False)
    with pytest.raises(DataContractError, match="fill_gaps"):
        _load(path)


def test_gaps_are_filled_only_when_asked(tmp_path: Path, klines: pd.DataFrame) -> None:
    path = tmp_path / "gappy.csv"
    klines.drop(index=[5, 6]).to_csv(path, index=False)
    filled = _load(path, gaps="flat")
    assert len(filled) == len(_load(KLINES))
    assert (filled.index[1:] - filled.index[:-1]).nunique() == 1
    assert any("flat" in note for note in filled.attrs["quality_notes"])
    tail = _load(path, gaps="drop_before")
    assert tail.index[0] > filled.index[5]
    with pytest.raises(DataContractError):
        _load(path, gaps="flat", max_gap=1)
    with pytest.raises(ConfigError, match="gaps"):
        _load(path, gaps="interpolate")


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="funding_rate_scale"):
        _load(KLINES, funding_rate_scale=0)
    with pytest.raises(ConfigError, match="path"):
        _load([])
    with pytest.raises(ConfigError, match="days"):
        FileSource(KLINES).load("ETHUSDT", -1, "5m")


def test_metrics_reader_mapping() -> None:
    parsed = read_market_file(METRICS)
    assert parsed.kind == "feed"
    assert parsed.symbols == ("ETHUSDT",)
    assert set(parsed.frame.columns) == {
        "open_interest", "open_interest_value", "top_trader_long_short_ratio",
        "long_short_ratio", "taker_long_short_ratio",
    }  # fmt: skip
    assert parsed.dropped == ("count_toptrader_long_short_ratio",)
    assert len(KLINE_COLUMNS) == 12
