"""Calendar encodings with a period beyond half the training span are skipped."""

from __future__ import annotations

import pandas as pd

from perpml.features import list_features
from perpml.features.calendar import CALENDAR_PERIODS, long_period_features


def test_every_calendar_feature_has_a_period():
    table = list_features()
    calendar = set(table.loc[table["category"] == "calendar", "name"])
    assert calendar == set(CALENDAR_PERIODS)


def test_year_of_date_skipped_on_less_than_two_years():
    names = ["time_year_sin", "time_year_cos", "time_hour_sin", "mom_rsi_14"]
    skipped = long_period_features(names, pd.Timedelta(days=105))
    assert set(skipped) == {"time_year_sin", "time_year_cos"}
    assert "longer than half the training span" in skipped["time_year_sin"]
    assert "time index" in skipped["time_year_sin"]
    assert long_period_features(names, pd.Timedelta(days=800)) == {}


def test_weekly_cycle_needs_two_weeks():
    skipped = long_period_features(["time_dow_sin"], pd.Timedelta(days=10))
    assert "time_dow_sin" in skipped
    assert long_period_features(["time_dow_sin"], pd.Timedelta(days=14)) == {}
