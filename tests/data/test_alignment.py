from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpml.data import align_asof
from perpml.data.alignment import default_staleness, snap_times
from perpml.exceptions import ConfigError, DataContractError

UTC = "UTC"


def _grid(
    start: str = "2024-01-01 07:30", n: int = 12, freq: str = "5min"
) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq=freq, tz=UTC, name="timestamp")


def _feed(times: list[str], **cols: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True, format="ISO8601"))
    return pd.DataFrame(cols, index=index)


def test_funding_with_ms_jitter_is_in_the_bar_closing_at_settlement() -> None:
    grid = _grid()
    feed = _feed(["2024-01-01 08:00:00.007"], funding_rate=[2e-4])
    out = align_asof(feed, grid, interval="5m", max_staleness="8h")
    at = out["funding_rate"]
    assert np.isnan(at[pd.Timestamp("2024-01-01 07:50", tz=UTC)])  # closes 07:55
    assert at[pd.Timestamp("2024-01-01 07:55", tz=UTC)] == 2e-4  # closes 08:00
    assert (
        at[pd.Timestamp("2024-01-01 08:20", tz=UTC)] == 2e-4
    )  # carried until replaced


def test_without_snapping_the_jittered_settlement_arrives_one_bar_later() -> None:
    grid = _grid()
    feed = _feed(["2024-01-01 08:00:00.007"], funding_rate=[2e-4])
    out = align_asof(feed, grid, interval="5m", max_staleness="8h", snap_tolerance="0s")
    assert np.isnan(out.loc[pd.Timestamp("2024-01-01 07:55", tz=UTC), "funding_rate"])
    assert out.loc[pd.Timestamp("2024-01-01 08:00", tz=UTC), "funding_rate"] == 2e-4


def test_oi_snapshot_belongs_to_the_bar_closing_at_its_stamp() -> None:
    grid = _grid()
    feed = _feed(
        ["2024-01-01 08:05:00", "2024-01-01 08:10:02"], open_interest=[10.0, 11.0]
    )
    out = align_asof(feed, grid, interval="5m")["open_interest"]
    assert np.isnan(out[pd.Timestamp("2024-01-01 07:55", tz=UTC)])
    assert out[pd.Timestamp("2024-01-01 08:00", tz=UTC)] == 10.0  # closes 08:05
    assert out[pd.Timestamp("2024-01-01 08:05", tz=UTC)] == 11.0  # +2 s jitter snapped


def test_stale_values_expire_and_are_never_interpolated() -> None:
    grid = _grid(n=12)
    feed = _feed(["2024-01-01 07:35", "2024-01-01 08:20"], open_interest=[1.0, 3.0])
    out = align_asof(feed, grid, interval="5m", max_staleness="10min")["open_interest"]
    # bar 08:15 closes at 08:20 (first with 3.0); 07:40 closes 07:45 = exactly 10 min old
    expected = [1, 1, 1, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 3, 3, 3]
    np.testing.assert_array_equal(out.to_numpy(), np.array(expected, dtype=float))


def test_nan_cell_in_feed_stays_nan() -> None:
    grid = _grid(n=4)
    feed = _feed(
        ["2024-01-01 07:35", "2024-01-01 07:40"],
        long_short_ratio=[1.5, np.nan],
        oi=[1.0, 2.0],
    )
    out = align_asof(feed, grid, interval="5m")
    assert out["long_short_ratio"].iloc[0] == 1.5
    assert np.isnan(out["long_short_ratio"].iloc[1])
    assert out["oi"].iloc[1] == 2.0


def test_default_staleness_is_twice_the_feed_spacing() -> None:
    known = pd.date_range("2024-01-01", periods=5, freq="8h", tz=UTC)
    assert default_staleness(known, "5m") == pd.Timedelta("16h")
    assert default_staleness(known[:1], "1h") == pd.Timedelta("1h")


def test_duplicate_known_times_keep_the_last_row() -> None:
    feed = _feed(["2024-01-01 07:35:00", "2024-01-01 07:35:01"], x=[1.0, 2.0])
    out = align_asof(feed, _grid(n=2), interval="5m")
    assert out["x"].iloc[0] == 2.0


def test_snap_times_only_snaps_just_after_the_minute() -> None:
    times = pd.DatetimeIndex(
        pd.to_datetime(
            ["2024-01-01 08:00:00.007", "2024-01-01 08:00:10", "2024-01-01 08:00:11"],
            utc=True,
            format="ISO8601",
        )
    )
    out = snap_times(times)
    assert list(out.strftime("%H:%M:%S.%f")) == [
        "08:00:00.000000",
        "08:00:00.000000",
        "08:00:11.000000",
    ]
    with pytest.raises(ConfigError, match="below 1 minute"):
        snap_times(times, "2min")


@pytest.mark.parametrize(
    ("feed", "grid", "error", "match"),
    [
        pytest.param(
            pd.DataFrame({"x": [1.0]}, index=[0]),
            _grid(),
            DataContractError,
            "feed index",
            id="feed_idx",
        ),
        pytest.param(
            _feed(["2024-01-01"], x=[1.0]),
            _grid()[::-1],
            DataContractError,
            "sorted",
            id="unsorted",
        ),
        pytest.param(
            _feed(["2024-01-01"], x=[1.0]),
            _grid().tz_localize(None),
            DataContractError,
            "tz-aware",
            id="naive",
        ),
    ],
)
def test_bad_inputs(
    feed: pd.DataFrame, grid: pd.DatetimeIndex, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        align_asof(feed, grid, interval="5m")


def test_bad_options() -> None:
    feed = _feed(["2024-01-01 07:35"], x=[1.0])
    with pytest.raises(ConfigError, match="max_staleness"):
        align_asof(feed, _grid(), interval="5m", max_staleness="-5min")
    with pytest.raises(ConfigError, match="columns"):
        align_asof(feed, _grid(), interval="5m", columns=["y"])


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 6 * 3600 * 1000), min_size=1, max_size=40),
    interval=st.sampled_from(["1m", "5m", "1h"]),
    staleness_min=st.integers(1, 600),
)
def test_property_no_value_is_used_before_it_is_known(
    offsets: list[int], interval: str, staleness_min: int
) -> None:
    start = pd.Timestamp("2024-01-01", tz=UTC)
    known = pd.DatetimeIndex(start + pd.to_timedelta(sorted(set(offsets)), unit="ms"))
    # each value encodes its own row number, so the source row can be traced
    feed = pd.DataFrame({"v": np.arange(len(known), dtype=float)}, index=known)
    step = pd.Timedelta(interval)
    grid = pd.date_range(start - step, start + pd.Timedelta("7h"), freq=step, tz=UTC)
    staleness = pd.Timedelta(minutes=staleness_min)
    out = align_asof(feed, grid, interval=interval, max_staleness=staleness)["v"]
    snapped = snap_times(known)
    for bar_open, value in out.items():
        close = bar_open + step
        visible = np.flatnonzero(snapped <= close)
        if np.isnan(value):
            assert not visible.size or close - snapped[visible[-1]] > staleness
            continue
        row = int(value)
        assert snapped[row] <= close  # never before it was known (after snapping)
        assert known[row] <= close + pd.Timedelta(
            seconds=10
        )  # raw stamp within tolerance
        assert row == visible[-1]  # and it is the latest known one
        assert close - snapped[row] <= staleness
