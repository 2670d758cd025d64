"""ModelInterpreter on perpml.models.LSTMForecaster (current bar's features, SHAP)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from perpml.exceptions import InsufficientDataError
from perpml.explain import ModelInterpreter
from perpml.models import LSTMForecaster

LOOKBACK = 6
FAST = {
    "lookback": LOOKBACK,
    "hidden_size": 16,
    "num_layers": 2,
    "max_epochs": 15,
    "early_stopping_rounds": 5,
    "batch_size": 64,
    "learning_rate": 5e-3,
}
N_TRAIN = 450


@pytest.fixture(scope="module")
def fitted() -> tuple[LSTMForecaster, pd.DataFrame]:
    rng = np.random.default_rng(42)
    n = 600
    index = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    X = pd.DataFrame(
        rng.standard_normal((n, 5)), index=index, columns=[f"f{i}" for i in range(5)]
    )
    # The return depends mostly on the *current* bar's f0 (a little on the previous
    # bar's f1); the second output on f2, so explaining output 0 must not pick f2.
    y = pd.DataFrame(
        {
            "target_return": 0.002 * X["f0"]
            + 0.0004 * X["f1"].shift(1).fillna(0.0)
            + 0.0002 * rng.standard_normal(n),
            "target_oi_change": 0.01 * X["f2"] + 0.001 * rng.standard_normal(n),
        },
        index=index,
    )
    model = LSTMForecaster(params=FAST, n_jobs=1).fit(
        X.iloc[:N_TRAIN], y.iloc[:N_TRAIN]
    )
    return model, X


def test_lstm_explanation_ranks_the_planted_feature_first(fitted, tmp_path):
    model, X = fitted
    X_train, X_test = X.iloc[:N_TRAIN], X.iloc[N_TRAIN:]
    interpreter = ModelInterpreter(
        model, X_train, output_dir=tmp_path, background_size=30, max_agnostic_rows=40
    )
    start = time.perf_counter()
    table = interpreter.explain_predictions(X_test, max_display=5)
    elapsed = time.perf_counter() - start
    assert interpreter.explainer_.startswith("shap.PermutationExplainer (LSTM")
    assert interpreter.output_space == "target units"
    assert interpreter.shap_values_.shape == (40, 5)
    assert table["feature"].iloc[0] == "f0"
    assert table["mean_abs_shap"].iloc[0] > 3 * table["mean_abs_shap"].iloc[1]
    # Only bars with a full window inside X_test are explained, in time order.
    explained = interpreter.explained_index_
    assert explained.is_monotonic_increasing
    assert explained.min() >= X_test.index[LOOKBACK - 1]
    # Efficiency: values add up to the model's own forecast minus the bar's base.
    forecast = pd.Series(model.predict(X_test)[:, 0], index=X_test.index)
    total = interpreter.shap_values_.sum(axis=1) + interpreter.base_values_
    np.testing.assert_allclose(total, forecast[explained].to_numpy(), rtol=1e-4)
    assert interpreter.base_values_.std() > 0  # the base depends on the history
    assert interpreter.expected_value_ == pytest.approx(
        [interpreter.base_values_.mean()]
    )
    for name in ("shap_summary.png", "shap_importance_bar.png"):
        assert (tmp_path / name).stat().st_size > 5_000
    assert elapsed < 10.0


def test_lstm_single_prediction_uses_the_bars_window(fitted, tmp_path):
    model, X = fitted
    interpreter = ModelInterpreter(
        model, X.iloc[:N_TRAIN], output_dir=tmp_path, background_size=20
    )
    window = X.iloc[-LOOKBACK:]
    single = interpreter.explain_single_prediction(window, class_idx=2)
    assert single.attrs["class_idx"] is None  # one output: class_idx ignored
    assert single.attrs["prediction"] == pytest.approx(
        float(model.predict(window)[-1, 0]), rel=1e-4
    )
    assert single["feature"].iloc[0] == "f0"
    assert single["value"].iloc[0] == pytest.approx(float(X["f0"].iloc[-1]))
    assert (tmp_path / "shap_force_plot.png").stat().st_size > 5_000
    # Deterministic: the same bar gives the same values.
    again = interpreter.explain_single_prediction(window)
    np.testing.assert_array_equal(single["shap_value"], again["shap_value"])


def test_lstm_needs_the_window_of_the_explained_bar(fitted, tmp_path):
    model, X = fitted
    interpreter = ModelInterpreter(model, X.iloc[:N_TRAIN], output_dir=tmp_path)
    with pytest.raises(InsufficientDataError, match="not a single Series"):
        interpreter.explain_single_prediction(X.iloc[-1])
    with pytest.raises(InsufficientDataError, match="no row of X has 6 consecutive"):
        interpreter.explain_single_prediction(X.iloc[-LOOKBACK + 1 :])
    holey = X.iloc[-2 * LOOKBACK :].drop(X.index[-2])  # a missing bar before the last
    with pytest.raises(InsufficientDataError, match="has no window of 6 consecutive"):
        interpreter.explain_single_prediction(holey)
    with pytest.raises(InsufficientDataError, match="no row of X has 6 consecutive"):
        interpreter.explain_predictions(X.iloc[:3])


def test_explain_does_not_import_torch():
    code = (
        "import sys; import perpml.explain; "
        "assert 'torch' not in sys.modules, 'perpml.explain imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
