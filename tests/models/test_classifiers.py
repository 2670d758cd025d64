"""Gradient-boosted entry classifiers: conformance, learning, early stopping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.models import (
    CatBoostEntryPredictor,
    LightGBMEntryPredictor,
    XGBoostEntryPredictor,
)
from perpml.testing.model_checks import check_model, make_model_data

CLASSIFIERS = [
    pytest.param(XGBoostEntryPredictor, id="xgboost"),
    pytest.param(LightGBMEntryPredictor, id="lightgbm"),
    pytest.param(CatBoostEntryPredictor, id="catboost"),
]

# n_jobs=1: tests run in parallel workers on 2 cores; LightGBM's OpenMP threads
# spin badly when oversubscribed.
SMALL = {"n_estimators": 40}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return make_model_data(n_rows=1500, n_features=6, task="classification")


def split(X: pd.DataFrame, y: pd.Series) -> tuple:
    a, b = int(len(X) * 0.6), int(len(X) * 0.8)
    return X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:]


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_conformance(cls, data) -> None:
    X, y = data
    check_model(lambda: cls(params=SMALL, n_jobs=1), X[:400], y[:400])


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_learns_planted_signal(cls, data) -> None:
    X_tr, y_tr, X_va, y_va, X_te, y_te = split(*data)
    model = cls(params={"n_estimators": 200}, n_jobs=1).train(X_tr, y_tr, X_va, y_va)
    majority = y_te.value_counts(normalize=True).max()
    metrics = model.evaluate(X_te, y_te)
    assert metrics["accuracy"] > majority + 0.15
    assert metrics["n"] == len(y_te)
    # the signal lives in feat_0..feat_2; they must lead the importance ranking
    top3 = set(model.feature_importance()["feature"][:3])
    assert top3 == {"feat_0", "feat_1", "feat_2"}


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_early_stopping_stops_on_noise(cls) -> None:
    rng = np.random.default_rng(42)
    X, _ = make_model_data(n_rows=800, n_features=5)
    y = pd.Series(rng.integers(0, 3, len(X)), index=X.index)
    model = cls(params={"n_estimators": 300, "early_stopping_rounds": 20}, n_jobs=1)
    model.train(X[:600], y[:600], X[600:], y[600:])
    assert model.best_iteration_ is not None
    assert model.best_iteration_ < 300 - 20
    assert model.n_iterations_ == model.best_iteration_ + 1
    assert model.n_val_ == 200 and model.n_train_ == 600


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_without_validation_trains_all_rounds(cls, data) -> None:
    X, y = data
    model = cls(params={"n_estimators": 25}, n_jobs=1).fit(X[:300], y[:300])
    assert model.best_iteration_ is None
    assert model.n_iterations_ == 25
    assert model.n_val_ == 0


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_deterministic_with_two_threads(cls, data) -> None:
    X, y = data
    a = cls(params=SMALL, n_jobs=2).fit(X[:500], y[:500]).predict_proba(X)
    b = cls(params=SMALL, n_jobs=2).fit(X[:500], y[:500]).predict_proba(X)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_seed_changes_model(cls, data) -> None:
    X, y = data
    a = cls(params=SMALL, random_state=1, n_jobs=1).fit(X[:500], y[:500])
    b = cls(params=SMALL, random_state=2, n_jobs=1).fit(X[:500], y[:500])
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_absent_class_gets_zero_probability(cls, data) -> None:
    X, y = data
    keep = (y != 1).to_numpy()
    model = cls(params=SMALL, n_jobs=1).fit(X[keep][:400], y[keep][:400])
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert np.all(proba[:, 1] == 0.0)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.trained_classes_) == [0, 2]
    assert set(np.unique(model.predict(X))) <= {0, 2}


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_class_weight_balanced_shifts_predictions(cls) -> None:
    X, y = make_model_data(n_rows=900, n_features=4, noise=1.5)
    # make LONG rare so balancing visibly raises its predicted share
    rare = (y == 2) & (np.arange(len(y)) % 4 != 0)
    X, y = X[~rare.to_numpy()], y[~rare.to_numpy()]
    plain = cls(params=SMALL, n_jobs=1).fit(X, y)
    balanced = cls(params={**SMALL, "class_weight": "balanced"}, n_jobs=1).fit(X, y)
    share = lambda m: (m.predict(X) == 2).mean()  # noqa: E731
    assert share(balanced) > share(plain)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_params_reach_the_library(cls, data) -> None:
    X, y = data
    a = cls(params={"n_estimators": 10, "learning_rate": 0.01}, n_jobs=1).fit(X, y)
    b = cls(params={"n_estimators": 10, "learning_rate": 0.3}, n_jobs=1).fit(X, y)
    # a larger step moves probabilities further from the class prior
    spread = lambda m: m.predict_proba(X).std(axis=0).sum()  # noqa: E731
    assert spread(b) > spread(a)


def test_cross_val_score_and_pipeline_compatible(data) -> None:
    from sklearn.model_selection import TimeSeriesSplit, cross_val_score

    X, y = data
    scores = cross_val_score(
        XGBoostEntryPredictor(params=SMALL, n_jobs=1),
        X,
        y,
        cv=TimeSeriesSplit(n_splits=3),
    )
    assert scores.shape == (3,) and np.all(scores > 0.4)
