"""XGBoost return regressor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpml.models import XGBoostPricePredictor
from perpml.models.regressors import NeuralNetRegressor
from perpml.testing.model_checks import check_model, make_model_data


def test_conformance() -> None:
    X, y = make_model_data(n_rows=400, task="regression")
    check_model(
        lambda: XGBoostPricePredictor(params={"n_estimators": 40}, n_jobs=1), X, y
    )


def test_learns_planted_signal_and_evaluates() -> None:
    X, y = make_model_data(n_rows=1500, task="regression")
    model = XGBoostPricePredictor(params={"n_estimators": 300}, n_jobs=1)
    model.train(X[:900], y[:900], X[900:1200], y[900:1200])
    metrics = model.evaluate(X[1200:], y[1200:])
    for key in ("mse", "rmse", "mae", "r2", "directional_accuracy"):
        assert key in metrics
    assert metrics["r2"] > 0.4
    assert metrics["directional_accuracy"] > 0.7
    assert np.isclose(metrics["rmse"] ** 2, metrics["mse"])
    assert model.best_iteration_ is not None and model.best_iteration_ < 300
    assert not hasattr(model, "predict_proba")
    assert not hasattr(model, "classes_")


def test_early_stopping_stops_on_noise() -> None:
    rng = np.random.default_rng(42)
    X, _ = make_model_data(n_rows=800, task="regression")
    y = pd.Series(rng.normal(0, 1e-3, len(X)), index=X.index)
    model = XGBoostPricePredictor(
        params={"n_estimators": 300, "early_stopping_rounds": 20}, n_jobs=1
    ).train(X[:600], y[:600], X[600:], y[600:])
    assert model.best_iteration_ < 300 - 20


def test_neural_net_is_re_exported() -> None:
    from perpml.models.neural_net import NeuralNetRegressor as Original

    assert NeuralNetRegressor is Original
