from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from perpml.evaluation.baselines import (
    classification_baselines,
    past_return_from_close,
    previous_return_sign,
    regression_baselines,
)
from perpml.exceptions import ConfigError, InsufficientDataError


def _index(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")


def test_past_return_from_close_is_causal() -> None:
    close = pd.Series(np.exp(np.arange(10.0)), index=_index(10))
    r = past_return_from_close(close, 3)
    assert r.iloc[:3].isna().all()
    assert np.allclose(r.iloc[3:], 3.0)
    # changing a future close never changes an earlier value
    close2 = close.copy()
    close2.iloc[-1] = 1.0
    assert r.iloc[:-1].equals(past_return_from_close(close2, 3).iloc[:-1])


def test_previous_return_sign_threshold() -> None:
    out = previous_return_sign([0.02, -0.02, 0.005, np.nan], [0.01, 0.01, 0.01, 0.01])
    assert out.tolist() == [2, 0, 1, 1]


def test_majority_uses_training_labels_only() -> None:
    y_train = np.array([2, 2, 2, 1, 0])
    y_test = np.array([0, 0, 0, 2])
    out = classification_baselines(y_train, y_test)
    assert set(out) == {"majority_class", "always_neutral"}
    assert out["majority_class"]["accuracy"] == 0.25  # predicts LONG (train majority)
    assert out["always_neutral"]["accuracy"] == 0.0
    assert math.isnan(out["always_neutral"]["directional_accuracy"])
    # prior probabilities give a finite log loss
    assert np.isfinite(out["majority_class"]["log_loss"])


def test_previous_return_baseline_aligned_by_time() -> None:
    idx = _index(6)
    y_test = pd.Series([2, 0, 1, 2], index=idx[2:])
    past = pd.Series([9, 9, 0.05, -0.05, 0.0, 0.05], index=idx)  # longer than y_test
    thr = pd.Series(0.01, index=idx)
    out = classification_baselines([1, 1], y_test, past_return=past, threshold=thr)
    assert out["previous_return_sign"]["accuracy"] == 1.0


def test_previous_return_requires_threshold() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        classification_baselines([1], [1], past_return=[0.1])


def test_past_return_missing_bars_raise() -> None:
    idx = _index(4)
    with pytest.raises(ConfigError, match="no value"):
        classification_baselines(
            [1],
            pd.Series([1, 1], index=idx[2:]),
            past_return=pd.Series([0.1], index=idx[:1]),
            threshold=0.01,
        )


def test_empty_training_labels_raise() -> None:
    with pytest.raises(InsufficientDataError, match="no labelled rows"):
        classification_baselines([np.nan], [1])


def test_regression_baselines() -> None:
    rng = np.random.default_rng(42)
    y = rng.normal(0, 0.01, 200)
    out = regression_baselines(y, past_return=np.r_[np.nan, y[:-1]])
    assert set(out) == {"zero", "previous_return"}
    assert out["zero"]["mse"] == pytest.approx(float(np.mean(y**2)))
    assert math.isnan(out["zero"]["pearson_ic"])
    assert abs(out["previous_return"]["pearson_ic"]) < 0.2


def test_bad_horizon_and_close() -> None:
    close = pd.Series([1.0, 2.0], index=_index(2))
    with pytest.raises(ConfigError, match="positive int"):
        past_return_from_close(close, 0)
    with pytest.raises(ConfigError, match="strictly positive"):
        past_return_from_close(close * 0, 1)
