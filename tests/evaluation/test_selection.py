from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.evaluation.selection import (
    CorrelationFilter,
    ImportanceSelector,
    select_features,
)
from perpml.evaluation.splits import label_end_from_index
from perpml.exceptions import ConfigError, InsufficientDataError

N = 1200


def _data(n: int = N):
    """10 noise columns; the label depends on ``f5`` (strong) and ``f7`` (weaker)."""
    rng = np.random.default_rng(42)
    idx = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    X = pd.DataFrame(
        rng.normal(size=(n, 10)), columns=[f"f{i}" for i in range(10)], index=idx
    )
    z = X["f5"] + 0.6 * X["f7"] + 0.6 * rng.normal(size=n)
    y = pd.Series(np.digitize(z, np.quantile(z, [1 / 3, 2 / 3])), index=idx)
    return X, y, label_end_from_index(idx, 12)


def test_correlation_filter_drops_later_of_pair_and_constants() -> None:
    X, _, _ = _data()
    X.insert(1, "copy_of_f0", -3 * X["f0"] + 1e-3)
    X["copy_of_f4"] = X["f4"] * 2
    X["flat"] = 7.0
    X.iloc[:30, 0] = np.nan  # warm-up NaN must not break the correlation
    filt = CorrelationFilter(0.95).fit(X)
    assert set(filt.dropped_) == {"copy_of_f0", "copy_of_f4", "flat"}
    assert "with f0" in filt.dropped_["copy_of_f0"]
    assert filt.selected_features_ == [f"f{i}" for i in range(10)]
    assert list(filt.transform(X).columns) == filt.selected_features_
    assert filt.get_feature_names_out().tolist() == filt.selected_features_


@pytest.mark.parametrize("method", ["tree", "shap", "permutation", "correlation"])
def test_importance_finds_planted_features(method) -> None:
    X, y, le = _data()
    sel = ImportanceSelector(2, method, label_end=le).fit(X, y)
    assert sel.selected_features_ == ["f5", "f7"]
    assert sel.importances_.index[0] == "f5"
    assert sel.importances_.is_monotonic_decreasing


def test_regression_target_and_deterministic() -> None:
    X, _, _ = _data()
    ret = pd.Series(0.01 * (X["f5"] - X["f2"]).to_numpy(), index=X.index)
    a = select_features(X, ret, n_features=2)
    b = select_features(X, ret, n_features=2)
    assert a == b and set(a) == {"f5", "f2"}


def test_selection_never_sees_test_rows() -> None:
    """Fitted on the training slice only: whatever follows it cannot change the set."""
    X, y, le = _data()
    n_train = 800
    chosen = select_features(
        X.iloc[:n_train], y.iloc[:n_train], 3, label_end=le.iloc[:n_train]
    )
    # A test period in which a noise column suddenly "predicts" the label perfectly.
    X_leaky = X.copy()
    X_leaky.iloc[n_train:, 0] = y.iloc[n_train:].to_numpy() * 10.0
    again = select_features(
        X_leaky.iloc[:n_train], y.iloc[:n_train], 3, label_end=le.iloc[:n_train]
    )
    assert again == chosen and "f0" not in chosen
    # ...whereas fitting on all rows (the mistake the API steers away from) picks it up.
    leaky = select_features(X_leaky, y, 3)
    assert "f0" in leaky


def test_shuffled_labels_lose_the_signal() -> None:
    X, y, _ = _data()
    rng = np.random.default_rng(42)
    true_rank = ImportanceSelector(10, "tree").fit(X, y).importances_
    shuffled = pd.Series(rng.permutation(y.to_numpy()), index=y.index)
    null_rank = ImportanceSelector(10, "tree").fit(X, shuffled).importances_
    share = lambda s: s[["f5", "f7"]].sum() / s.sum()  # noqa: E731
    assert share(true_rank) > 0.5
    assert share(null_rank) < 0.35  # ~2/10 expected when nothing is informative


def test_n_features_larger_than_columns_keeps_all() -> None:
    X, y, _ = _data(300)
    assert len(select_features(X, y, n_features=50, method="correlation")) == 10


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"method": "lasso"}, ConfigError, "method", id="method"),
        pytest.param({"n_features": 0}, ConfigError, "n_features", id="n"),
        pytest.param({"method": "permutation"}, ConfigError, "label_end", id="perm"),
        pytest.param({"task": "ranking"}, ConfigError, "task", id="task"),
    ],
)
def test_importance_bad_params(kwargs, error, match) -> None:
    X, y, _ = _data(300)
    with pytest.raises(error, match=match):
        ImportanceSelector(**kwargs).fit(X, y)


def test_bad_inputs() -> None:
    X, y, _ = _data(300)
    with pytest.raises(ConfigError, match="NaN"):
        ImportanceSelector(3).fit(X, y.where(y != 1))
    with pytest.raises(ConfigError, match="indexed exactly like X"):
        ImportanceSelector(3).fit(X, y.iloc[1:])
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        CorrelationFilter(1.5).fit(X)
    with pytest.raises(InsufficientDataError, match="no usable column"):
        select_features(X * 0.0, y)
