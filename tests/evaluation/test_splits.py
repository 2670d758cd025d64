from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpml.evaluation.splits import (
    PurgedTrainTestSplit,
    PurgedWalkForward,
    chronological_split,
    label_end_from_index,
    purged_tail_split,
)
from perpml.exceptions import ConfigError, InsufficientDataError, LeakageError

INTERVAL = pd.Timedelta("5min")
ZERO = pd.Timedelta(0)


def _frame(n: int = 200, horizon: int = 12) -> tuple[pd.DataFrame, pd.Series]:
    idx = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    rng = np.random.default_rng(42)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)}, index=idx)
    return X, label_end_from_index(idx, horizon)


def _assert_purged(X, label_end, train, test, embargo=ZERO) -> None:
    """The contract: no training label ends at or after test_start (minus embargo);
    training rows after the test start only after the test labels end + embargo."""
    test_start = X.index[test[0]]
    test_last = X.index[test[-1]]
    assert np.intersect1d(train, test).size == 0
    le = label_end.iloc[train]
    before = X.index[train] < test_start
    assert not le[before].isna().any()
    assert (le[before] < test_start - embargo).all()
    after = X.index[train] > test_last
    if after.any():
        assert (X.index[train][after] > label_end.iloc[test].max() + embargo).all()


# ------------------------------------------------------------------- label_end
def test_label_end_from_index_is_close_of_bar_t_plus_h() -> None:
    X, le = _frame(30, horizon=3)
    assert le.iloc[0] == X.index[3] + INTERVAL
    assert le.iloc[-3:].isna().all() and le.iloc[:-3].notna().all()


def test_label_end_from_index_conservative_with_gaps() -> None:
    X, _ = _frame(30)
    sub = X.index.delete([2, 3])
    le = label_end_from_index(sub, 2)
    true_end = sub[:-2] + 2 * INTERVAL + INTERVAL
    assert (le.iloc[:-2].to_numpy() >= true_end.to_numpy()).all()


# ---------------------------------------------------------------- walk-forward
@pytest.mark.parametrize("window", ["expanding", "rolling"])
@pytest.mark.parametrize("embargo", [pd.Timedelta(0), pd.Timedelta("30min")])
def test_walk_forward_purge(window, embargo) -> None:
    X, le = _frame()
    cv = PurgedWalkForward(4, label_end=le, embargo=embargo, window=window)
    folds = list(cv.split(X))
    assert len(folds) == cv.get_n_splits() == 4
    tests = [t for _, t in folds]
    # consecutive, chronological, non-overlapping test folds ending at the last row
    for a, b in zip(tests, tests[1:], strict=False):
        assert b[0] == a[-1] + 1
    assert tests[-1][-1] == len(X) - 1
    for train, test in folds:
        _assert_purged(X, le, train, test, embargo)
    # horizon 12 -> 13 rows purged, plus the embargo (6 bars of 5 min)
    expected = 13 + embargo // INTERVAL
    assert [i["n_purged"] for i in cv.last_split_info_] == [expected] * 4


def test_walk_forward_expanding_vs_rolling_sizes() -> None:
    X, le = _frame()
    exp = PurgedWalkForward(4, label_end=le).split_info(X)
    roll = PurgedWalkForward(
        4, label_end=le, window="rolling", train_size=60
    ).split_info(X)
    assert exp["n_train"].is_monotonic_increasing and exp["n_train"].nunique() == 4
    assert (roll["n_train"] == 60 - 13).all()
    assert list(exp.columns) == [
        "fold",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "n_train",
        "n_test",
        "n_purged",
    ]


def test_walk_forward_sizes_and_sklearn_compat() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import cross_val_score

    X, le = _frame()
    y = X["a"].shift(-1).fillna(0.0)
    cv = PurgedWalkForward(3, label_end=le, test_size=20, min_train_size=50)
    scores = cross_val_score(LinearRegression(), X, y, cv=cv)
    assert scores.shape == (3,)
    info = cv.split_info(X)
    assert (info["n_test"] == 20).all()
    assert info["test_start"].iloc[0] == X.index[200 - 60]


def test_nat_label_end_in_training_is_purged() -> None:
    X, le = _frame(100)
    le = le.copy()
    le.iloc[5] = pd.NaT
    train, _ = next(iter(PurgedWalkForward(2, label_end=le).split(X)))
    assert 5 not in train


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(60, 400),
    horizon=st.integers(1, 20),
    n_splits=st.integers(1, 5),
    embargo_bars=st.integers(0, 10),
    window=st.sampled_from(["expanding", "rolling"]),
)
def test_walk_forward_property(n, horizon, n_splits, embargo_bars, window) -> None:
    X, le = _frame(n, horizon)
    embargo = embargo_bars * INTERVAL
    cv = PurgedWalkForward(n_splits, label_end=le, embargo=embargo, window=window)
    try:
        folds = list(cv.split(X))
    except InsufficientDataError:
        # only legitimate when the purge would leave a fold without training rows
        assert n // (n_splits + 1) <= horizon + embargo_bars + 1
        return
    seen = np.concatenate([t for _, t in folds])
    assert np.unique(seen).size == seen.size
    for train, test in folds:
        assert train.max() < test.min()
        _assert_purged(X, le, train, test, embargo)
        assert (
            len(train) == test[0] - (horizon + 1) - embargo_bars or window == "rolling"
        )


# ------------------------------------------------------------ train/val/test
@pytest.mark.parametrize("embargo", [pd.Timedelta(0), pd.Timedelta("1h")])
def test_chronological_split_purge(embargo) -> None:
    X, le = _frame(400)
    parts = chronological_split(
        X, label_end=le, val_fraction=0.2, test_fraction=0.2, embargo=embargo
    )
    assert parts.train.max() < parts.val.min() < parts.test.min()
    _assert_purged(X, le, parts.train, parts.val, embargo)
    _assert_purged(X, le, parts.val, parts.test, embargo)
    _assert_purged(X, le, parts.train, parts.test, embargo)
    assert list(parts.info["period"]) == ["train", "val", "test"]
    assert parts.info["n_purged"].iloc[0] == 13 + embargo // INTERVAL


def test_purged_train_test_split() -> None:
    X, le = _frame()
    cv = PurgedTrainTestSplit(0.25, label_end=le, embargo=pd.Timedelta("10min"))
    ((train, test),) = list(cv.split(X))
    assert cv.get_n_splits() == 1
    assert len(test) == 50
    _assert_purged(X, le, train, test, pd.Timedelta("10min"))
    assert cv.last_split_info_[0]["n_purged"] == 15


@pytest.mark.parametrize("embargo", [pd.Timedelta(0), pd.Timedelta("20min")])
def test_purged_tail_split_stays_in_training(embargo) -> None:
    X, le = _frame()
    train, test = next(iter(PurgedWalkForward(2, label_end=le).split(X)))
    fit, stop = purged_tail_split(train, le, fraction=0.2, embargo=embargo)
    assert stop.max() < test.min()  # never the test period
    assert np.array_equal(stop, train[-len(stop) :])
    _assert_purged(X, le, fit, stop, embargo)


# ----------------------------------------------------------------- bad input
def test_unsorted_x_raises_leakage() -> None:
    X, le = _frame()
    Xs = X.iloc[::-1]
    with pytest.raises(LeakageError, match="sorted by time"):
        list(PurgedWalkForward(label_end=le.iloc[::-1]).split(Xs))


def test_misaligned_label_end_raises_with_fix() -> None:
    X, le = _frame()
    with pytest.raises(ConfigError, match=r"reindex\(X.index\)"):
        list(PurgedWalkForward(label_end=le.iloc[:-1]).split(X))


def test_label_end_before_open_raises() -> None:
    X, le = _frame()
    bad = le.copy()
    bad.iloc[3] = X.index[3]
    with pytest.raises(LeakageError, match="after each bar's open time"):
        list(PurgedWalkForward(label_end=bad).split(X))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"embargo": pd.Timedelta("-1h")}, ConfigError, ">= 0", id="neg"),
        pytest.param({"embargo": 5}, ConfigError, "pd.Timedelta", id="type"),
        pytest.param({"window": "sliding"}, ConfigError, "rolling", id="window"),
        pytest.param({"n_splits": 0}, ConfigError, "n_splits", id="splits"),
        pytest.param({"test_size": 500}, InsufficientDataError, "test folds", id="big"),
        pytest.param(
            {"min_train_size": 150}, InsufficientDataError, "need >= 150", id="min"
        ),
    ],
)
def test_walk_forward_bad_params(kwargs, error, match) -> None:
    X, le = _frame()
    with pytest.raises(error, match=match):
        list(PurgedWalkForward(label_end=le, **kwargs).split(X))


def test_chronological_split_bad_fractions() -> None:
    X, le = _frame()
    with pytest.raises(ConfigError, match="must be < 1"):
        chronological_split(X, label_end=le, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match="test_fraction"):
        chronological_split(X, label_end=le, test_fraction=0.0)


def test_numpy_x_without_index() -> None:
    X, le = _frame()
    folds = list(PurgedWalkForward(3, label_end=le).split(X.to_numpy()))
    assert len(folds) == 3
    with pytest.raises(ConfigError, match="rows"):
        list(PurgedWalkForward(3, label_end=le).split(X.to_numpy()[:-1]))


def test_purge_rows_after_test_period_use_embargo() -> None:
    """Layouts with training after the test (K-fold-like): drop rows whose open time
    is within `embargo` of the test period's last label end."""
    from perpml.evaluation.splits import _NS, _label_end_ns, _purge, _time_ns

    X, le = _frame(100, horizon=3)
    times = _time_ns(X.index, "t")
    ends = _label_end_ns(le, X.index, "t")
    test = np.arange(40, 50)
    train = np.r_[np.arange(0, 40), np.arange(50, 100)]
    embargo = pd.Timedelta("10min")
    kept = _purge(train, test, times, ends, int(embargo / _NS))
    _assert_purged(X, le, kept, test, embargo)
    # before: 4 purged (h + 1) + 2 embargo; after: test labels end at close of bar 52
    # (open 53), + 10 min -> rows 50..55 dropped
    assert kept[kept < 40].max() == 33
    assert kept[kept > 49].min() == 56
