from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data import Violation, validate_market_data
from perpml.data.contract import REASONS, InsufficientMarketDataError, check_market_data
from perpml.exceptions import ConfigError, DataContractError, InsufficientDataError

from ._helpers import make_market


def test_valid_frame_is_returned_unchanged() -> None:
    frame = make_market()
    assert validate_market_data(frame) is frame
    assert validate_market_data(frame, interval="5m", min_rows=12) is frame


def test_nan_in_optional_column_is_allowed() -> None:
    frame = make_market()
    frame["funding_rate"] = np.nan
    assert validate_market_data(frame) is frame


def _set(frame: pd.DataFrame, row: int, col: str, value: float) -> pd.DataFrame:
    frame.iloc[row, frame.columns.get_loc(col)] = value
    return frame


def _idx(frame: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    frame.index = index
    return frame


def _cases() -> list:
    m = make_market
    return [
        pytest.param(
            lambda: m().reset_index(drop=True), "index_type", None, id="index_type"
        ),
        pytest.param(
            lambda: m().tz_localize(None), "naive_timestamp", None, id="naive"
        ),
        pytest.param(
            lambda: m().tz_convert("Asia/Tokyo"), "non_utc", None, id="non_utc"
        ),
        pytest.param(
            lambda: m().iloc[[0, 2, 1, 3, 4, 5]], "unsorted", None, id="unsorted"
        ),
        pytest.param(
            lambda: m().iloc[[0, 1, 1, 2, 3]], "duplicate", None, id="duplicate"
        ),
        pytest.param(
            lambda: _idx(m(4), m(4).index + pd.to_timedelta([0, 0, 60, 60], unit="s")),
            "irregular_spacing",
            None,
            id="irregular_spacing",
        ),
        pytest.param(lambda: m().drop(m().index[[3, 4]]), "gap", None, id="gap"),
        pytest.param(
            lambda: m().drop(columns="volume"), "missing_column", "volume", id="missing"
        ),
        pytest.param(
            lambda: m().rename(columns={"close": "Close"}),
            "unknown_column",
            "Close",
            id="unknown",
        ),
        pytest.param(lambda: m().assign(volume="1.0"), "dtype", "volume", id="dtype"),
        pytest.param(
            lambda: _set(m(), 2, "close", np.nan), "nan", "close", id="nan_required"
        ),
        pytest.param(
            lambda: _set(m(), 3, "open_interest", np.inf),
            "inf",
            "open_interest",
            id="inf",
        ),
        pytest.param(
            lambda: _set(_set(m(), 4, "low", -1.0), 4, "open", 0.0),
            "non_positive_price",
            "low",
            id="non_positive_price",
        ),
        pytest.param(
            lambda: _set(m(), 5, "high", 1.0), "high_low", None, id="high_low"
        ),
        pytest.param(
            lambda: _set(m(), 6, "volume", -2.0),
            "negative_volume",
            "volume",
            id="neg_vol",
        ),
        pytest.param(
            lambda: _set(m(), 6, "open_interest", -2.0),
            "negative_volume",
            "open_interest",
            id="neg_oi",
        ),
    ]


@pytest.mark.parametrize(("build", "reason", "column"), _cases())
def test_each_reason_code_is_reported(build, reason: str, column: str | None) -> None:
    frame = build()
    with pytest.raises(DataContractError, match=rf"\[{reason}\]") as info:
        validate_market_data(frame)
    assert reason in info.value.reasons
    hit = next(v for v in info.value.violations if v.reason == reason)
    assert isinstance(hit, Violation)
    assert hit.column == column
    assert hit.fix
    assert hit.count >= 1


def test_not_a_dataframe() -> None:
    with pytest.raises(DataContractError, match="must be a pandas DataFrame") as info:
        validate_market_data(np.zeros((3, 5)))  # type: ignore[arg-type]
    assert info.value.reasons == ("not_a_dataframe",)


def test_too_few_rows_is_catchable_both_ways() -> None:
    frame = make_market(3)
    with pytest.raises(InsufficientDataError, match="at least 10 row"):
        validate_market_data(frame, min_rows=10)
    with pytest.raises(DataContractError, match="too_few_rows") as info:
        validate_market_data(_set(make_market(3), 1, "close", np.nan), min_rows=10)
    assert isinstance(info.value, InsufficientMarketDataError)
    assert set(info.value.reasons) == {"nan", "too_few_rows"}


def test_every_violation_is_listed_at_once() -> None:
    frame = make_market(20)
    frame = _set(frame, 2, "close", np.nan)
    frame = _set(frame, 5, "volume", -1.0)
    frame = frame.rename(columns={"open_interest": "OpenInterest"}).drop(
        frame.index[10]
    )
    with pytest.raises(DataContractError) as info:
        validate_market_data(frame)
    assert set(info.value.reasons) == {
        "nan",
        "negative_volume",
        "unknown_column",
        "gap",
    }
    message = str(info.value)
    assert "4 violation(s)" in message
    assert "did you mean 'open_interest'" in message
    assert "perpml.data.fill_gaps" in message
    assert "2024-01-01 07:10:00+00:00" in message  # first NaN close


def test_gap_reports_missing_bar_count_and_first_missing_time() -> None:
    frame = make_market(12)
    frame = frame.drop(frame.index[[3, 4, 8]])
    (gap,) = check_market_data(frame)
    assert gap.reason == "gap"
    assert gap.count == 3
    assert gap.first_bad == (
        frame.index[2] + pd.Timedelta("5min"),
        frame.index[5] + pd.Timedelta("5min"),
    )


def test_first_bad_is_capped_at_five() -> None:
    frame = make_market(12)
    frame["close"] = np.nan
    (nan,) = [v for v in check_market_data(frame) if v.reason == "nan"]
    assert nan.count == 12
    assert len(nan.first_bad) == 5
    assert nan.first_bad[0] == frame.index[0]


def test_explicit_interval_flags_wrong_spacing() -> None:
    frame = make_market(6, freq="1h")
    with pytest.raises(DataContractError, match="multiple of 4h"):
        validate_market_data(frame, interval="4h")
    assert validate_market_data(frame, interval="1h") is frame


def test_single_row_skips_spacing_checks() -> None:
    frame = make_market(1)
    assert validate_market_data(frame) is frame


def test_reason_codes_are_the_documented_ones() -> None:
    assert len(REASONS) == 20
    assert {"gap", "nan", "too_few_rows", "not_a_dataframe"} <= set(REASONS)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"interval": "7m"}, "interval", id="bad_interval"),
        pytest.param({"min_rows": -1}, "min_rows", id="negative_min_rows"),
        pytest.param({"min_rows": 2.5}, "min_rows", id="float_min_rows"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        validate_market_data(make_market(), **kwargs)
