from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data import drop_duplicate_bars, fill_gaps, sort_bars, validate_market_data
from perpml.exceptions import ConfigError, DataContractError

from ._helpers import make_market


def _with_gap() -> tuple[pd.DataFrame, pd.DataFrame]:
    full = make_market(12)
    full["quote_volume"] = 5.0
    full["funding_rate"] = np.r_[[np.nan] * 3, np.linspace(1e-4, 2e-4, 9)]
    return full, full.drop(full.index[[4, 5, 6, 9]])


def test_flat_policy_restores_the_grid_causally() -> None:
    full, gapped = _with_gap()
    out = fill_gaps(gapped, policy="flat")
    validate_market_data(out, interval="5m")
    assert out.index.equals(full.index)
    inserted = full.index[[4, 5, 6]]
    prev = full.index[3]
    for col in ("open", "high", "low", "close"):
        assert (out.loc[inserted, col] == full.loc[prev, "close"]).all()
    assert (out.loc[inserted, ["volume", "quote_volume"]] == 0).all().all()
    # state columns: the previous real bar's value, never a later one
    assert (out.loc[inserted, "open_interest"] == full.loc[prev, "open_interest"]).all()
    assert (out.loc[inserted, "funding_rate"] == full.loc[prev, "funding_rate"]).all()
    # real rows are untouched, including their NaN
    real = gapped.index
    pd.testing.assert_frame_equal(out.loc[real], gapped, check_freq=False)
    assert out["funding_rate"].iloc[:3].isna().all()
    (note,) = out.attrs["quality_notes"]
    assert "inserted 4 5m bar(s) in 2 gap(s)" in note
    assert gapped.attrs.get("quality_notes") is None  # input not mutated


def test_flat_keeps_nan_state_when_previous_bar_unknown() -> None:
    frame = make_market(6)
    frame = frame.drop(frame.index[1])  # bar 0 has NaN open_interest
    out = fill_gaps(frame)
    assert np.isnan(out["open_interest"].iloc[1])


def test_drop_before_keeps_tail_after_last_gap() -> None:
    _, gapped = _with_gap()
    out = fill_gaps(gapped, policy="drop_before")
    assert (
        out.index[0]
        == gapped.index[gapped.index > pd.Timestamp("2024-01-01 07:45", tz="UTC")][0]
    )
    validate_market_data(out)
    assert "drop_before" in out.attrs["quality_notes"][0]


def test_no_gap_returns_equal_copy_without_note() -> None:
    frame = make_market()
    out = fill_gaps(frame)
    pd.testing.assert_frame_equal(out, frame)
    assert out is not frame
    assert "quality_notes" not in out.attrs


def test_max_gap_refuses_long_gaps() -> None:
    _, gapped = _with_gap()
    with pytest.raises(
        DataContractError, match=r"max_gap=2 .*3 bars after 2024-01-01T07:15"
    ):
        fill_gaps(gapped, max_gap=2)
    assert len(fill_gaps(gapped, max_gap=3)) == 12


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"policy": "nan"}, ConfigError, "policy", id="unknown_policy"),
        pytest.param({"max_gap": 0}, ConfigError, "max_gap", id="bad_max_gap"),
        pytest.param({"interval": "2m"}, ConfigError, "interval", id="bad_interval"),
        pytest.param(
            {"interval": "15m"}, DataContractError, "multiple of 15m", id="off_grid"
        ),
    ],
)
def test_fill_gaps_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    _, gapped = _with_gap()
    with pytest.raises(error, match=match):
        fill_gaps(gapped, **kwargs)


def test_fill_gaps_needs_sorted_unique_index() -> None:
    frame = make_market().iloc[[0, 2, 1, 3]]
    with pytest.raises(DataContractError, match="sort_bars"):
        fill_gaps(frame)
    with pytest.raises(DataContractError, match="DatetimeIndex"):
        fill_gaps(make_market().reset_index(drop=True))


def test_sort_and_dedupe_repairs() -> None:
    frame = make_market(6)
    messy = pd.concat(
        [frame.iloc[[3, 0, 1]], frame.iloc[[2, 4, 5]], frame.iloc[[1]] * 1.01]
    )
    fixed = drop_duplicate_bars(sort_bars(messy), keep="last")
    validate_market_data(fixed)
    assert fixed.index.equals(frame.index)
    assert fixed.loc[frame.index[1], "close"] == pytest.approx(
        frame["close"].iloc[1] * 1.01
    )
    notes = fixed.attrs["quality_notes"]
    assert "sort_bars" in notes[0]
    assert "dropped 1 repeated" in notes[1]
    first = drop_duplicate_bars(sort_bars(messy), keep="first")
    assert first.loc[frame.index[1], "close"] == frame["close"].iloc[1]
    with pytest.raises(ConfigError, match="keep"):
        drop_duplicate_bars(frame, keep="middle")  # type: ignore[arg-type]
