"""Optional checks against the shared real ETHUSDT files (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.data import FileSource, data_quality_report, validate_market_data
from perpml.data.sources.binance_formats import read_market_file

from ._helpers import real_data_dir

FOUND = real_data_dir()
REAL = FOUND if FOUND is not None else Path("shared-data-not-found")

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(
        FOUND is None,
        reason="shared real-data folder not found: set PERPML_REAL_DATA or place it "
        "at <repository root>/../shared/data/real",
    ),
]

FEEDS = [
    "ETHUSDT_funding.csv",
    "ETHUSDT_oi_4h.csv",
    "ETHUSDT_metrics_5m_2021-12_2022-12.csv.gz",
    "ETH_oi_5m_2025-12_2026-06.csv",
    "ETH_funding_hourly-normalised_2025-12_2026-05.csv",
]


@pytest.mark.parametrize(
    "name", ["ETHUSDT_1h_2020-03_2026-03.csv", "ETHUSDT_1h_2025-09_2026-03.csv"]
)
def test_real_klines_load_and_validate(name: str) -> None:
    out = FileSource(REAL / name).load("ETHUSDT", None, "1h")
    validate_market_data(out, interval="1h")
    assert "dropped the last bar" in out.attrs["quality_notes"][0]


@pytest.mark.parametrize("name", FEEDS)
def test_real_feeds_are_recognised(name: str) -> None:
    parsed = read_market_file(REAL / name)
    assert parsed.kind == "feed"
    assert parsed.frame.index.is_monotonic_increasing
    assert parsed.frame.notna().any().all()


def test_real_klines_with_funding_and_oi() -> None:
    out = FileSource(
        [
            REAL / "ETHUSDT_1h_2025-09_2026-03.csv",
            REAL / "ETHUSDT_funding.csv",
            REAL / "ETHUSDT_oi_4h.csv",
        ]
    ).load("ETHUSDT", None, "1h")
    report = data_quality_report(out)
    # first funding (settled 2026-01-12 16:00) appears in the bar closing at 16:00
    assert (
        report["optional_columns"]["funding_rate"]["first_valid"]
        == "2026-01-12T15:00:00+00:00"
    )
    # first 4h OI snapshot stamped 04:00 belongs to the 1h bar opening 03:00
    assert (
        report["optional_columns"]["open_interest"]["first_valid"]
        == "2026-02-20T03:00:00+00:00"
    )
    raw = pd.read_csv(REAL / "ETHUSDT_funding.csv")
    assert set(np.round(out["funding_rate"].dropna().unique(), 10)) <= set(
        np.round(raw["funding_rate"], 10)
    )


def test_real_normalised_funding_scaled_back() -> None:
    kl = REAL / "ETHUSDT_1h_2025-09_2026-03.csv"
    norm = FileSource(
        [kl, REAL / "ETH_funding_hourly-normalised_2025-12_2026-05.csv"],
        funding_rate_scale=8,
    )
    out = norm.load("ETHUSDT", 30, "1h")
    assert out["funding_rate"].abs().max() < 0.01
    assert len(out) == 30 * 24


def test_real_metrics_on_a_5m_grid(tmp_path: Path) -> None:
    # the real files have no 5m klines; build a grid-only kline file over the metrics span
    metrics = read_market_file(REAL / "ETHUSDT_metrics_5m_2021-12_2022-12.csv.gz").frame
    opens = pd.date_range("2021-12-01", "2021-12-31 23:55", freq="5min", tz="UTC")
    kl = pd.DataFrame(
        {
            "timestamp": opens.as_unit("ms").asi8,
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 0.0,
        }
    )
    kl.to_csv(tmp_path / "grid.csv", index=False)
    out = FileSource(
        [tmp_path / "grid.csv", REAL / "ETHUSDT_metrics_5m_2021-12_2022-12.csv.gz"]
    ).load("ETHUSDT", None, "5m")
    validate_market_data(out)
    # the snapshot stamped 00:05 is in the bar opening 00:00
    assert (
        out["open_interest"].iloc[0]
        == metrics.loc[pd.Timestamp("2021-12-01 00:05", tz="UTC"), "open_interest"]
    )
    assert out["top_trader_long_short_ratio"].isna().sum() > 0  # published partly empty
