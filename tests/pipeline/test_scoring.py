"""Scoring helpers: LSTM context rows, feature-range flags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpml.pipeline.scoring import feature_range_flags, preceding_rows

BAR = pd.Timedelta(minutes=5)


def _frame(n: int = 40) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    return pd.DataFrame({"a": np.arange(n, dtype=float), "b": 1.0}, index=index)


def test_preceding_rows_are_the_contiguous_complete_bars_before_start():
    frame = _frame()
    start = frame.index[30]
    rows = preceding_rows(frame, start, BAR, 10)
    assert rows is not None
    assert list(rows["a"]) == list(range(20, 30))
    frame.iloc[25, 0] = np.nan  # an incomplete bar cuts the history there
    rows = preceding_rows(frame, start, BAR, 10)
    assert list(rows["a"]) == list(range(26, 30))


def test_no_context_when_the_bar_before_is_missing():
    frame = _frame().drop(index=_frame().index[29])
    assert preceding_rows(frame, frame.index[29], BAR, 10) is None
    gap = _frame().drop(index=_frame().index[[22]])
    rows = preceding_rows(gap, gap.index[28], BAR, 10)
    assert list(rows["a"]) == list(range(23, 29))


def test_feature_range_flags():
    frame = _frame(100)
    parts = {"train": (frame.iloc[:80], None), "test": (frame.iloc[80:], None)}
    flags = feature_range_flags(parts)  # type: ignore[arg-type]
    assert [f["feature"] for f in flags] == ["a"]
    assert flags[0]["share_outside"] == 1.0
