from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perpml.data as data
from perpml.data import (
    data_fingerprint,
    data_quality_report,
    fill_gaps,
    load_market_data,
)
from perpml.exceptions import ConfigError, DataContractError, InsufficientDataError

from ._helpers import make_market

KLINES = Path(__file__).parent / "fixtures" / "ETHUSDT-5m-klines.csv"


class _FrameSource:
    """A minimal MarketDataSource returning a fixed frame."""

    name = "fixed"

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.calls: list[tuple[str, float | None, str]] = []

    def load(self, symbol: str, days: float | None, interval: str) -> pd.DataFrame:
        self.calls.append((symbol, days, interval))
        return self.frame.copy()


def test_public_names_are_exported() -> None:
    for name in (
        "validate_market_data", "load_market_data", "fill_gaps", "drop_duplicate_bars",
        "sort_bars", "data_quality_report", "data_fingerprint", "align_asof",
        "MarketDataSource", "FileSource", "Violation", "REQUIRED_COLUMNS",
        "OPTIONAL_COLUMNS", "CANONICAL_COLUMNS", "INTERVALS",
    ):  # fmt: skip
        assert hasattr(data, name), name


def test_source_object_is_used_and_validated() -> None:
    source = _FrameSource(make_market())
    out = load_market_data(source, symbol="ETHUSDT", days=None, interval="5m")
    assert source.calls == [("ETHUSDT", None, "5m")]
    assert out.attrs == {
        "symbol": "ETHUSDT",
        "interval": "5m",
        "source": "fixed",
        "quality_warnings": [],
    }
    broken = make_market()
    broken.iloc[3, 3] = np.nan
    with pytest.raises(DataContractError, match=r"\[nan\] column 'close'"):
        load_market_data(_FrameSource(broken), interval="5m")
    with pytest.raises(InsufficientDataError, match="at least 2 row"):
        load_market_data(_FrameSource(make_market(1)), interval="5m")


def test_file_dispatch() -> None:
    out = load_market_data(
        "file", path=KLINES, symbol="ETHUSDT", days=None, drop_last_bar=False
    )
    assert len(out) == 36 and out.attrs["source"] == "file"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(
            lambda: load_market_data("bybit"), "must be one of", id="unknown_source"
        ),
        pytest.param(
            lambda: load_market_data("file", path=KLINES, sed=1),
            r"Unknown option\(s\) \['sed'\]",
            id="unknown_option",
        ),
        pytest.param(
            lambda: load_market_data("file"), "needs `path=`", id="missing_path"
        ),
        pytest.param(
            lambda: load_market_data(_FrameSource(make_market()), seed=1),
            "only for named",
            id="options_on_object",
        ),
        pytest.param(lambda: load_market_data(42), "source name", id="bad_type"),  # type: ignore[arg-type]
        pytest.param(
            lambda: load_market_data("file", path=KLINES, interval="7m"),
            "interval",
            id="interval",
        ),
        pytest.param(
            lambda: load_market_data("file", path=KLINES, days=0), "days", id="days"
        ),
        pytest.param(
            lambda: load_market_data("file", path=KLINES, symbol=""),
            "symbol",
            id="symbol",
        ),
    ],
)
def test_config_errors(call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


def _has_synthetic_source() -> bool:
    if importlib.util.find_spec("perpml.data.sources.synthetic") is None:
        return False
    return hasattr(
        importlib.import_module("perpml.data.sources.synthetic"), "SyntheticSource"
    )


@pytest.mark.skipif(
    not _has_synthetic_source(),
    reason="perpml.data.sources.synthetic.SyntheticSource (another helper's) not there yet",
)
def test_synthetic_dispatch() -> None:
    out = load_market_data("synthetic", symbol="BTCUSDT", days=1, interval="5m", seed=7)
    assert len(out) >= 2
    assert out.attrs["interval"] == "5m"


def test_fingerprint_is_stable_and_sensitive() -> None:
    frame = make_market()
    fp = data_fingerprint(frame)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert data_fingerprint(frame.copy()) == fp
    # NaN-stable: a NaN with another bit pattern hashes the same
    other = frame.copy()
    other.iloc[0, 5] = np.float64(
        np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\x7f", "<f8")[0]
    )
    assert data_fingerprint(other) == fp
    assert data_fingerprint(frame.tz_convert("Asia/Tokyo")) == fp  # same instants
    changed = frame.copy()
    changed.iloc[4, 3] += 1e-9
    assert data_fingerprint(changed) != fp
    assert (
        data_fingerprint(frame.rename(columns={"open_interest": "funding_rate"})) != fp
    )
    assert data_fingerprint(frame.iloc[1:]) != fp


def test_fingerprint_survives_parquet_round_trip(tmp_path: Path) -> None:
    frame = make_market()
    frame.to_parquet(tmp_path / "f.parquet")
    assert data_fingerprint(
        pd.read_parquet(tmp_path / "f.parquet")
    ) == data_fingerprint(frame)


def test_quality_report_is_json_and_counts_optional_nans() -> None:
    frame = make_market(12)
    frame = fill_gaps(frame.drop(frame.index[4]))
    frame.attrs.update(symbol="ETHUSDT", interval="5m", source="fixed")
    report = data_quality_report(frame)
    json.dumps(report)
    assert report["n_rows"] == 12
    assert report["start"] == "2024-01-01T07:00:00+00:00"
    assert report["interval"] == "5m" and report["symbol"] == "ETHUSDT"
    assert report["optional_columns"]["open_interest"]["nan_count"] == 1
    assert (
        report["optional_columns"]["open_interest"]["first_valid"]
        == "2024-01-01T07:05:00+00:00"
    )
    assert "funding_rate" in report["missing_optional_columns"]
    assert "fill_gaps" in report["notes"][0]


def test_quality_report_rejects_non_frames() -> None:
    with pytest.raises(DataContractError, match="DatetimeIndex"):
        data_quality_report(make_market().reset_index())
