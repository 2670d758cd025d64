"""Tests for perpml.models.lstm_forecaster (LSTMForecaster)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.exceptions import (
    DataContractError,
    InsufficientDataError,
    LeakageError,
    ModelParamsError,
)
from perpml.models.lstm_forecaster import LSTMForecaster, LSTMNet, window_ends

LOOKBACK = 8
FAST = {
    "lookback": LOOKBACK,
    "hidden_size": 16,
    "num_layers": 2,
    "max_epochs": 20,
    "early_stopping_rounds": 5,
    "batch_size": 64,
    "learning_rate": 5e-3,
}


def _data(n: int = 900, f: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(42)
    index = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    X = pd.DataFrame(
        rng.standard_normal((n, f)), index=index, columns=[f"f{i}" for i in range(f)]
    )
    # The targets depend on the last few bars only: a sequence model can find them.
    y = pd.DataFrame(
        {
            "target_return": 0.002 * X["f0"].rolling(4).mean().fillna(0.0)
            + 0.0003 * rng.standard_normal(n),
            "target_oi_change": 0.01 * X["f1"].rolling(3).mean().fillna(0.0)
            + 0.002 * rng.standard_normal(n),
        },
        index=index,
    )
    return X, y


@pytest.fixture(scope="module")
def fitted() -> tuple[LSTMForecaster, pd.DataFrame, pd.DataFrame]:
    X, y = _data()
    model = LSTMForecaster(params=FAST).train(
        X.iloc[:600], y.iloc[:600], X.iloc[605:750], y.iloc[605:750]
    )
    return model, X, y


def test_two_outputs_learn_planted_signal(fitted) -> None:
    model, X, y = fitted
    assert model.target_names_ == ["target_return", "target_oi_change"]
    metrics = model.evaluate(X.iloc[750:], y.iloc[750:])
    assert metrics["n"] == 150 - (LOOKBACK - 1)
    assert metrics["r2"] > 0.3
    assert metrics["directional_accuracy"] > 0.65
    assert metrics["target_oi_change_r2"] > 0.3
    assert {
        "rmse",
        "target_oi_change_rmse",
        "target_oi_change_directional_accuracy",
    } <= set(metrics)


def test_no_sequence_crosses_the_split_boundary(fitted) -> None:
    model, X, _ = fitted
    test = X.iloc[750:]
    pred = model.predict(test)
    assert pred.shape == (150, 2)
    assert np.isnan(pred[: LOOKBACK - 1]).all()
    assert np.isfinite(pred[LOOKBACK - 1 :]).all()
    # Changing anything before the test period cannot change test predictions.
    shuffled = X.iloc[:750].sample(frac=1.0, random_state=0).set_axis(X.index[:750])
    again = model.predict(pd.concat([shuffled, test]))[750:]
    np.testing.assert_array_equal(again[LOOKBACK - 1 :], pred[LOOKBACK - 1 :])


def test_context_fills_the_warm_up_rows_exactly(fitted) -> None:
    model, X, _ = fitted
    full = model.predict(X.iloc[700:])
    with_context = model.predict(X.iloc[750:], context=X.iloc[700:750])
    assert np.isfinite(with_context).all()
    np.testing.assert_allclose(with_context, full[50:], rtol=1e-12)


def test_non_contiguous_context_is_refused(fitted) -> None:
    model, X, _ = fitted
    with pytest.raises(DataContractError, match="immediately preceding X"):
        model.predict(X.iloc[750:], context=X.iloc[700:745])
    with pytest.raises(DataContractError, match="immediately preceding X"):
        model.predict(X.iloc[750:], context=X.iloc[760:800])


def test_windows_never_span_a_missing_bar(fitted) -> None:
    model, X, _ = fitted
    holed = X.iloc[750:].drop(X.index[800])
    pred = model.predict(holed)
    after_hole = holed.index.get_loc(X.index[801])
    assert np.isnan(pred[after_hole : after_hole + LOOKBACK - 1]).all()
    assert np.isfinite(pred[after_hole + LOOKBACK - 1 :]).all()


def test_window_ends_helper() -> None:
    times = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9], dtype=np.int64)
    np.testing.assert_array_equal(window_ends(times, 3, 1), [2, 3, 6, 7, 8])
    assert window_ends(times[:2], 3, 1).size == 0


def test_single_output_from_series() -> None:
    X, y = _data(400)
    model = LSTMForecaster(params={**FAST, "max_epochs": 3}).fit(
        X.iloc[:300],
        y["target_return"].iloc[:300],
        X.iloc[300:],
        y["target_return"].iloc[300:],
    )
    assert model.target_names_ == ["target_return"]
    pred = model.predict(X)
    assert pred.shape == (400,)
    assert set(model.evaluate(X, y["target_return"])) >= {
        "rmse",
        "directional_accuracy",
    }


def test_deterministic_and_save_load_identical(fitted, tmp_path) -> None:
    model, X, y = fitted
    again = LSTMForecaster(params=FAST).train(
        X.iloc[:600], y.iloc[:600], X.iloc[605:750], y.iloc[605:750]
    )
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    loaded = LSTMForecaster.load(model.save(tmp_path / "lstm"))
    assert isinstance(loaded.native_model_, LSTMNet)
    assert loaded.target_names_ == model.target_names_
    assert loaded.interval_ == model.interval_
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    ctx = X.iloc[700:750]
    np.testing.assert_array_equal(
        loaded.predict(X.iloc[750:], context=ctx),
        model.predict(X.iloc[750:], context=ctx),
    )


def test_stride_and_epoch_subsampling() -> None:
    X, y = _data(400)
    model = LSTMForecaster(
        params={**FAST, "max_epochs": 2, "stride": 3, "sequences_per_epoch": 40}
    ).fit(X, y)
    assert model.n_sequences_ == len(range(LOOKBACK - 1, 400, 3))
    assert model.best_iteration_ is None and model.n_iterations_ == 2


def test_feature_importance_shape(fitted) -> None:
    model, _, _ = fitted
    imp = model.feature_importance()
    assert sorted(imp["feature"]) == ["f0", "f1", "f2", "f3"]
    assert imp["importance"].sum() == pytest.approx(1.0)


def test_bad_inputs() -> None:
    X, y = _data(60)
    with pytest.raises(InsufficientDataError, match="consecutive bars"):
        LSTMForecaster(params={**FAST, "lookback": 60}).fit(X, y)
    with pytest.raises(InsufficientDataError, match="X_val has no window"):
        LSTMForecaster(params=FAST).fit(
            X.iloc[:55], y.iloc[:55], X.iloc[55:], y.iloc[55:]
        )
    with pytest.raises(LeakageError, match="sorted by time"):
        LSTMForecaster(params=FAST).fit(X.iloc[::-1], y.iloc[::-1])
    with pytest.raises(DataContractError, match="DatetimeIndex"):
        LSTMForecaster(params=FAST).fit(
            X.reset_index(drop=True), y.reset_index(drop=True)
        )
    with pytest.raises(DataContractError, match="y_val"):
        LSTMForecaster(params=FAST).fit(
            X.iloc[:40], y.iloc[:40], X.iloc[40:], y.iloc[40:, ::-1]
        )
    with pytest.raises(ModelParamsError, match="lookback"):
        LSTMForecaster(params={"lookback": 0}).fit(X, y)


def test_evaluate_needs_the_trained_targets(fitted) -> None:
    model, X, y = fitted
    with pytest.raises(DataContractError, match="DataFrame with these columns"):
        model.evaluate(X.iloc[750:], y["target_return"].iloc[750:])
    with pytest.raises(DataContractError, match="lacks the target column"):
        model.evaluate(X.iloc[750:], y[["target_return"]].iloc[750:])


def test_conformance_suite() -> None:
    from perpml.testing import model_checks as mc

    X, y = mc.make_model_data(n_rows=200, task="regression")

    def factory() -> LSTMForecaster:
        return LSTMForecaster(params={**FAST, "max_epochs": 2})

    # check_determinism / check_save_load compare with np.array_equal, which treats
    # the warm-up NaNs as unequal; test_deterministic_and_save_load_identical covers
    # both with NaN-aware comparisons.
    mc.check_clone_and_params(factory)
    mc.check_unknown_params(factory, X, y)
    mc.check_not_fitted(factory, X)
    mc.check_fit_predict(factory, X, y)
    mc.check_column_contract(factory, X, y)
    mc.check_refit_forgets(factory, X, y)
