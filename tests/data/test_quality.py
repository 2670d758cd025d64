"""Plausibility warnings, constant columns and feed coverage (public API)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data import data_quality_report, validate_market_data
from perpml.data.quality import (
    constant_columns,
    feed_coverage,
    plausibility_warnings,
)
from perpml.exceptions import ConfigError, DataContractError

from ._helpers import make_market


def test_zero_columns_are_warned_about_and_listed() -> None:
    frame = make_market(40)
    frame["volume"] = 0.0
    frame["open_interest"] = np.r_[np.nan, np.zeros(39)]
    report = data_quality_report(frame)
    assert report["constant_columns"] == {"volume": 0.0, "open_interest": 0.0}
    assert any(w.startswith("volume is zero on every bar") for w in report["warnings"])
    assert any(w.startswith("open_interest is zero") for w in report["warnings"])


def test_clean_frame_has_no_warnings() -> None:
    frame = make_market(40)
    frame["funding_rate"] = 1e-4
    assert plausibility_warnings(frame) == []
    assert constant_columns(frame) == {"funding_rate": 1e-4}  # constant, not zero


def test_percent_funding_and_frozen_prices_warn() -> None:
    frame = make_market(40)
    frame["funding_rate"] = 0.01
    frame[["open", "high", "low", "close"]] = 100.0
    warnings = plausibility_warnings(frame)
    assert any("--funding-rate-scale 0.01" in w for w in warnings)
    assert any(w.startswith("close is 100 on every bar") for w in warnings)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param(0.03, True, id="at-the-cap"),
        pytest.param(-0.03, True, id="at-the-floor"),
        pytest.param(0.0301, False, id="above-the-cap"),
        pytest.param(50.0, False, id="fifty"),
    ],
)
def test_funding_ceiling(value: float, ok: bool) -> None:
    frame = make_market(12)
    frame["funding_rate"] = value
    if ok:
        validate_market_data(frame)
    else:
        with pytest.raises(DataContractError) as err:
            validate_market_data(frame)
        assert err.value.reasons == ("implausible_funding",)


def test_price_jump_limit() -> None:
    frame = make_market(12)
    frame.iloc[5, :4] *= 2.7  # log(2.7) < 1: possible
    frame.loc[frame.index[5], "high"] = frame.iloc[5, :4].max()
    frame.loc[frame.index[5], "low"] = frame.iloc[5, :4].min()
    frame.loc[frame.index[6], "open"] = frame["close"].iloc[5]
    frame.loc[frame.index[6], "high"] = frame.iloc[6, :4].max()
    frame.loc[frame.index[6], "low"] = frame.iloc[6, :4].min()
    validate_market_data(frame)
    frame.iloc[5, :4] *= 1.1  # now beyond e
    frame.loc[frame.index[6], ["open", "high"]] = frame["close"].iloc[5]
    with pytest.raises(DataContractError, match=r"\[price_jump\]") as err:
        validate_market_data(frame)
    assert set(err.value.reasons) == {"price_jump"}


def _with_oi(start: int) -> pd.DataFrame:
    frame = make_market(100)
    oi = np.full(100, np.nan)
    oi[start:] = 1.0
    frame["open_interest"] = oi
    frame["funding_rate"] = 1e-4
    return frame


def test_feed_coverage_names_a_feed_that_starts_after_the_window() -> None:
    frame = _with_oi(80)
    train_end = frame.index[59]
    report = {c.feed: c for c in feed_coverage(frame, end=train_end)}
    oi = report["open interest"]
    assert not oi.covered and oi.share == 0.0
    assert oi.reason.startswith(f"starts {frame.index[80].isoformat()}, after")
    assert report["funding"].covered and report["funding"].reason == ""


def test_feed_coverage_partial_and_whole_frame() -> None:
    frame = _with_oi(30)
    (oi, _funding) = feed_coverage(frame)
    assert oi.share == 0.7 and not oi.covered and "known on 70%" in oi.reason
    (oi, _funding) = feed_coverage(frame, start=frame.index[30])
    assert oi.covered
    (oi, _funding) = feed_coverage(frame, min_share=0.5)
    assert oi.covered
    frame["open_interest"] = np.nan
    assert feed_coverage(frame)[0].reason == "no value anywhere in the data"


def test_feed_coverage_bad_input() -> None:
    with pytest.raises(DataContractError):
        feed_coverage(pd.DataFrame({"a": [1]}))
    with pytest.raises(ConfigError, match="min_share"):
        feed_coverage(make_market(), min_share=0)
