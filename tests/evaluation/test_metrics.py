from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from perpml.evaluation.metrics import (
    classification_metrics,
    confusion_frame,
    directional_accuracy,
    directional_coverage,
    regression_directional_accuracy,
    regression_metrics,
)
from perpml.exceptions import ConfigError, InsufficientDataError

CLASS_KEYS = {
    "accuracy",
    "directional_accuracy",
    "directional_coverage",
    "balanced_accuracy",
    "log_loss",
    "roc_auc_ovr",
    "f1_macro",
    "n",
} | {
    f"{m}_{c}"
    for m in ("precision", "recall", "f1")
    for c in ("SHORT", "NEUTRAL", "LONG")
}


def _random_case(n: int = 300):
    rng = np.random.default_rng(42)
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), n)
    return y, proba.argmax(axis=1), proba


def test_classification_keys_types_and_json() -> None:
    y, pred, proba = _random_case()
    out = classification_metrics(y, pred, proba)
    assert set(out) == CLASS_KEYS
    assert all(type(v) is float for v in out.values())
    json.dumps(out)
    assert out["n"] == 300.0
    assert out["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert out["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))


def test_classification_without_proba_is_nan() -> None:
    y, pred, _ = _random_case()
    out = classification_metrics(y, pred)
    assert math.isnan(out["log_loss"]) and math.isnan(out["roc_auc_ovr"])


def test_perfect_prediction() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.eye(3)[y] * 0.98 + 0.02 / 3
    out = classification_metrics(y, y, proba)
    assert out["accuracy"] == 1.0
    assert out["directional_accuracy"] == 1.0
    assert out["roc_auc_ovr"] == 1.0
    assert out["log_loss"] < 0.05


def test_float_codes_accepted_like_make_targets() -> None:
    y = pd.Series([0.0, 2.0, 1.0, 2.0])
    out = classification_metrics(y, np.array([0, 2, 2, 2]))
    assert out["accuracy"] == 0.75


def test_directional_accuracy_definition() -> None:
    y_true = np.array([0, 2, 2, 1, 0, 2])
    y_pred = np.array([0, 0, 2, 2, 1, 1])
    # Rows 0,1,2 have both sides directional; 0 and 2 agree.
    assert directional_accuracy(y_true, y_pred) == pytest.approx(2 / 3)
    assert directional_coverage(y_true, y_pred) == pytest.approx(3 / 6)


def test_directional_accuracy_nan_when_all_neutral() -> None:
    y = np.array([0, 2, 2])
    assert math.isnan(directional_accuracy(y, np.ones(3, dtype=int)))
    out = classification_metrics(y, np.ones(3, dtype=int))
    assert math.isnan(out["directional_accuracy"])
    assert out["directional_coverage"] == 0.0


def test_class_absent_from_truth_does_not_crash() -> None:
    rng = np.random.default_rng(42)
    y = rng.integers(1, 3, 50)  # no SHORT in the truth
    proba = rng.dirichlet(np.ones(3), 50)
    out = classification_metrics(y, proba.argmax(axis=1), proba)
    assert np.isfinite(out["roc_auc_ovr"])
    assert np.isfinite(out["log_loss"])
    assert out["recall_SHORT"] == 0.0


def test_single_class_truth_gives_nan_auc() -> None:
    y = np.full(10, 2)
    proba = np.full((10, 3), 1 / 3)
    out = classification_metrics(y, y, proba)
    assert math.isnan(out["roc_auc_ovr"])
    assert out["balanced_accuracy"] == 1.0


def test_unnormalised_float32_proba_is_renormalised() -> None:
    y, pred, proba = _random_case()
    a = classification_metrics(y, pred, proba)
    b = classification_metrics(y, pred, (proba * 1.001).astype(np.float32))
    assert a["log_loss"] == pytest.approx(b["log_loss"], rel=1e-5)


def test_confusion_frame() -> None:
    cm = confusion_frame([0, 1, 2, 2], [0, 2, 2, 1])
    assert cm.loc["true_LONG", "pred_LONG"] == 1
    assert cm.loc["true_NEUTRAL", "pred_LONG"] == 1
    assert int(cm.to_numpy().sum()) == 4


@pytest.mark.parametrize(
    ("y_true", "y_pred", "proba", "error", "match"),
    [
        pytest.param([0, 1], [0], None, ConfigError, "same length", id="length"),
        pytest.param([], [], None, InsufficientDataError, "0 rows", id="empty"),
        pytest.param([0, np.nan], [0, 1], None, ConfigError, "NaN", id="nan"),
        pytest.param([0, 5], [0, 1], None, ConfigError, "outside labels", id="code"),
        pytest.param([0, 0.5], [0, 1], None, ConfigError, "integer", id="float"),
        pytest.param([0, 1], [0, 1], np.ones((2, 2)), ConfigError, "shape", id="proba"),
        pytest.param(
            [0, 1],
            [0, 1],
            [[1, 0, 0], [np.nan, 0, 1]],
            ConfigError,
            "finite",
            id="pnan",
        ),
    ],
)
def test_classification_bad_input(y_true, y_pred, proba, error, match) -> None:
    with pytest.raises(error, match=match):
        classification_metrics(y_true, y_pred, proba)


def test_misaligned_series_raise() -> None:
    idx = pd.date_range("2024-01-01", periods=3, freq="5min", tz="UTC")
    with pytest.raises(ConfigError, match="different indexes"):
        classification_metrics(
            pd.Series([0, 1, 2], index=idx), pd.Series([0, 1, 2], index=idx + idx.freq)
        )


def test_regression_metrics_values() -> None:
    rng = np.random.default_rng(42)
    y = rng.normal(0, 0.01, 500)
    pred = 0.5 * y + rng.normal(0, 0.01, 500)
    out = regression_metrics(pd.Series(y), pred)
    assert set(out) == {
        "mse",
        "rmse",
        "mae",
        "r2",
        "directional_accuracy",
        "pearson_ic",
        "spearman_ic",
        "n",
    }
    assert out["rmse"] == pytest.approx(math.sqrt(out["mse"]))
    assert out["pearson_ic"] > 0.3 and out["spearman_ic"] > 0.3
    assert 0.6 < out["directional_accuracy"] < 1.0
    json.dumps(out)


def test_regression_constant_forecast_no_warning() -> None:
    y = np.array([0.01, -0.02, 0.0, 0.03])
    out = regression_metrics(y, np.zeros(4))
    assert math.isnan(out["pearson_ic"]) and math.isnan(out["spearman_ic"])
    # zero forecast is never a correct sign; the zero-truth row is excluded
    assert out["directional_accuracy"] == 0.0


def test_regression_directional_accuracy() -> None:
    assert regression_directional_accuracy([0.1, -0.1, 0.0], [1.0, 1.0, 1.0]) == 0.5
    assert math.isnan(regression_directional_accuracy([0.0, 0.0], [1.0, -1.0]))


def test_regression_single_row_r2_nan() -> None:
    out = regression_metrics([0.1], [0.2])
    assert math.isnan(out["r2"])
