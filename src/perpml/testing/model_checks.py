"""Conformance checks every perpml model must pass.

A new model gets the whole suite from one test::

    from perpml.testing.model_checks import check_model, make_model_data

    def test_conformance():
        X, y = make_model_data(task="classification")
        check_model(lambda: MyModel(params={"n_estimators": 40}), X, y)

Each ``check_*`` function can also be called on its own. A failed check raises
``AssertionError`` naming the model and what must hold. The checks train the model
several times, so give the factory small settings.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import clone

from perpml.exceptions import (
    ArtifactError,
    DataContractError,
    ModelParamsError,
    NotFittedError,
)
from perpml.models.base import CLASS_LABELS, BaseModel
from perpml.models.persistence import SIDECAR_NAME, load_model

__all__ = [
    "check_clone_and_params",
    "check_column_contract",
    "check_determinism",
    "check_fit_predict",
    "check_model",
    "check_not_fitted",
    "check_refit_forgets",
    "check_save_load",
    "check_unknown_params",
    "make_model_data",
]

ModelFactory = Callable[[], BaseModel]


def make_model_data(
    n_rows: int = 600,
    n_features: int = 6,
    *,
    task: Literal["classification", "regression"] = "classification",
    noise: float = 0.5,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.Series]:
    """Synthetic features with a planted signal, for model tests.

    Parameters
    ----------
    n_rows, n_features : int
        Shape of ``X`` (``n_features >= 3``).
    task : {"classification", "regression"}
    noise : float
        Standard deviation of the noise added to the signal ``f0 + 0.5·f1·f2``.
    seed : int

    Returns
    -------
    X : DataFrame of shape (n_rows, n_features), float64, 5-minute UTC index
        Columns ``feat_0``...; i.i.d. standard normal.
    y : Series of shape (n_rows,)
        Classification: 0/1/2 by thresholding the noisy signal at ±0.6 (roughly
        balanced); regression: the noisy signal times 1e-3 (a log-return scale).
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(
        "2024-01-01", periods=n_rows, freq="5min", tz="UTC", name="timestamp"
    )
    X = pd.DataFrame(
        rng.normal(size=(n_rows, n_features)),
        index=index,
        columns=[f"feat_{i}" for i in range(n_features)],
    )
    score = X["feat_0"] + 0.5 * X["feat_1"] * X["feat_2"] + rng.normal(0, noise, n_rows)
    if task == "regression":
        return X, (score * 1e-3).rename("target_return")
    labels = np.where(score > 0.6, 2, np.where(score < -0.6, 0, 1))
    return X, pd.Series(labels, index=index, name="target_class")


def _name(model: BaseModel) -> str:
    return type(model).__name__


def _outputs(model: BaseModel, X: pd.DataFrame) -> np.ndarray:
    if model.task == "classification":
        return model.predict_proba(X)
    return model.predict(X)


def check_unknown_params(
    model_factory: ModelFactory, X: pd.DataFrame, y: pd.Series
) -> None:
    """An unknown ``params`` key raises ModelParamsError listing the valid keys."""
    model = model_factory()
    bad = clone(model).set_params(
        params={**(model.params or {}), "definitely_not_a_param": 1}
    )
    try:
        bad.fit(X, y)
    except ModelParamsError as exc:
        message = str(exc)
        missing = [k for k in model.default_params if repr(k) not in message]
        assert "definitely_not_a_param" in message and not missing, (
            f"{_name(model)}: the ModelParamsError must name the bad key and list "
            f"every valid key; missing {missing} in: {message}"
        )
    else:
        raise AssertionError(f"{_name(model)} accepted an unknown params key")


def check_clone_and_params(model_factory: ModelFactory) -> None:
    """``get_params`` / ``set_params`` / ``clone`` round-trip; params not mutated."""
    model = model_factory()
    params = model.get_params()
    assert set(params) >= {"params", "random_state", "n_jobs"}, (
        f"{_name(model)}.get_params must expose params, random_state, n_jobs; got "
        f"{sorted(params)}"
    )
    twin = clone(model)
    assert twin.get_params() == params, f"clone({_name(model)}) changed the params"
    twin.set_params(random_state=params["random_state"] + 1)
    assert model.random_state == params["random_state"], (
        f"set_params on a clone of {_name(model)} changed the original"
    )


def check_fit_predict(
    model_factory: ModelFactory, X: pd.DataFrame, y: pd.Series
) -> None:
    """``train``/``fit`` return self; outputs have the documented shapes."""
    model = model_factory()
    given = None if model.params is None else json.dumps(model.params, default=str)
    assert model.train(X, y) is model, f"{_name(model)}.train must return self"
    after = None if model.params is None else json.dumps(model.params, default=str)
    assert given == after, f"{_name(model)}.fit mutated its params mapping"
    assert model.feature_names_in_ == list(X.columns), (
        f"{_name(model)}.feature_names_in_ must equal the training columns"
    )
    pred = model.predict(X)
    assert pred.shape == (len(X),), f"{_name(model)}.predict shape {pred.shape}"
    if model.task == "classification":
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), len(CLASS_LABELS)), (
            f"{_name(model)}.predict_proba shape {proba.shape}, expected ({len(X)}, 3)"
        )
        assert np.allclose(proba.sum(axis=1), 1.0), "probabilities must sum to 1"
        assert set(np.unique(pred)) <= set(CLASS_LABELS)
        assert list(model.classes_) == list(CLASS_LABELS)
    imp = model.feature_importance()
    assert list(imp.columns) == ["feature", "importance"]
    assert sorted(imp["feature"]) == sorted(X.columns)
    assert imp["importance"].is_monotonic_decreasing


def check_determinism(
    model_factory: ModelFactory, X: pd.DataFrame, y: pd.Series
) -> None:
    """Two fits with the same seed and data give identical outputs."""
    a = _outputs(model_factory().fit(X, y), X)
    b = _outputs(model_factory().fit(X, y), X)
    assert np.array_equal(a, b), (
        f"{_name(model_factory())} is not deterministic for a fixed random_state "
        f"(max abs diff {np.max(np.abs(a - b))})"
    )


def check_refit_forgets(
    model_factory: ModelFactory, X: pd.DataFrame, y: pd.Series
) -> None:
    """Fitting again on other columns forgets the earlier fit."""
    model = model_factory().fit(X, y)
    fewer = X.iloc[:, :-1]
    model.fit(fewer, y)
    assert model.feature_names_in_ == list(fewer.columns), (
        f"{_name(model)}: a second fit must replace feature_names_in_"
    )
    model.predict(fewer)


def check_column_contract(
    model_factory: ModelFactory, X: pd.DataFrame, y: pd.Series
) -> None:
    """Predict refuses arrays and reordered, missing or extra columns."""
    model = model_factory().fit(X, y)
    cases = {
        "ndarray": X.to_numpy(),
        "reordered": X[list(X.columns[::-1])],
        "missing": X.iloc[:, 1:],
        "extra": X.assign(zz_extra=0.0),
    }
    for case, bad in cases.items():
        try:
            model.predict(bad)
        except DataContractError:
            continue
        raise AssertionError(
            f"{_name(model)}.predict accepted {case} input instead of raising "
            "DataContractError"
        )


def check_not_fitted(model_factory: ModelFactory, X: pd.DataFrame) -> None:
    """Predicting or saving before fitting raises NotFittedError."""
    model = model_factory()
    try:
        model.predict(X)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{_name(model)}.predict worked before fit")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            model.save(Path(tmp) / "model")
        except NotFittedError:
            return
        raise AssertionError(f"{_name(model)}.save worked before fit")


def check_save_load(model_factory: ModelFactory, X: pd.DataFrame, y: pd.Series) -> None:
    """Save -> load gives identical outputs; a tampered native file is refused."""
    model = model_factory().fit(X, y)
    expected = _outputs(model, X)
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "model")
        for loaded in (type(model).load(path), load_model(path)):
            assert type(loaded) is type(model)
            assert loaded.get_params() == model.get_params(), (
                f"{_name(model)}: loaded params {loaded.get_params()} differ"
            )
            assert loaded.feature_names_in_ == model.feature_names_in_
            got = _outputs(loaded, X)
            assert np.array_equal(got, expected), (
                f"{_name(model)}: predictions after save/load differ (max abs diff "
                f"{np.max(np.abs(got - expected))})"
            )
        sidecar = json.loads((path / SIDECAR_NAME).read_text())
        native = path / next(iter(sidecar["files"]))
        native.write_bytes(native.read_bytes() + b"\0")
        try:
            load_model(path)
        except ArtifactError:
            return
        raise AssertionError(f"{_name(model)}: a tampered native file was loaded")


def check_model(
    model_factory: ModelFactory,
    X: pd.DataFrame,
    y: pd.Series,
) -> None:
    """Run every check above on the model built by ``model_factory``.

    Parameters
    ----------
    model_factory : callable returning an unfitted BaseModel
        Called several times; every call must build an identical model.
    X : DataFrame of shape (n_bars, n_features), indexed by bar open time
        At least 2 columns (one check drops a column).
    y : Series of shape (n_bars,)
        Labels in {0, 1, 2} for classifiers, floats for regressors.
    """
    check_clone_and_params(model_factory)
    check_unknown_params(model_factory, X, y)
    check_not_fitted(model_factory, X)
    check_fit_predict(model_factory, X, y)
    check_column_contract(model_factory, X, y)
    check_refit_forgets(model_factory, X, y)
    check_determinism(model_factory, X, y)
    check_save_load(model_factory, X, y)
