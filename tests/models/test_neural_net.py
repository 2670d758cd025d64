"""Tests for perpml.models.neural_net (NeuralNetRegressor) and the shared torch loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from perpml.exceptions import ArtifactError, ModelParamsError, NotFittedError
from perpml.models._torch_utils import Standardizer, resolve_threads
from perpml.models.neural_net import MLPNet, NeuralNetRegressor

FAST = {"hidden_dims": [16, 8], "max_epochs": 30, "early_stopping_rounds": 5}


def _data(n: int = 1200, f: int = 6) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(42)
    index = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    X = pd.DataFrame(
        rng.standard_normal((n, f)), index=index, columns=[f"f{i}" for i in range(f)]
    )
    # Tiny returns, like forward log returns: the model must standardise the target.
    y = 0.002 * X["f0"] - 0.001 * X["f1"] + 0.0005 * rng.standard_normal(n)
    return X, y.rename("target_return")


@pytest.fixture(scope="module")
def fitted() -> tuple[NeuralNetRegressor, pd.DataFrame, pd.Series]:
    X, y = _data()
    model = NeuralNetRegressor(params=FAST).train(
        X.iloc[:800], y.iloc[:800], X.iloc[812:1000], y.iloc[812:1000]
    )
    return model, X, y


def test_learns_planted_signal(fitted) -> None:
    model, X, y = fitted
    metrics = model.evaluate(X.iloc[1012:], y.iloc[1012:])
    assert metrics["r2"] > 0.5
    assert metrics["directional_accuracy"] > 0.75
    pred = model.predict(X.iloc[1012:])
    assert pred.shape == (188,) and pred.dtype == np.float64


def test_early_stopping_restores_best_epoch(fitted) -> None:
    model, _, _ = fitted
    hist = model.history_
    assert model.best_iteration_ == hist.best_epoch
    assert hist.best_val_loss == min(hist.val_loss)
    assert model.n_iterations_ == hist.n_epochs <= FAST["max_epochs"]
    assert isinstance(model.native_model_, MLPNet)
    assert not model.native_model_.training


def test_deterministic_and_global_state_untouched() -> None:
    X, y = _data(400)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = NeuralNetRegressor(params=FAST, random_state=7).fit(X, y).predict(X)
    after = torch.rand(1)
    b = NeuralNetRegressor(params=FAST, random_state=7).fit(X, y).predict(X)
    c = NeuralNetRegressor(params=FAST, random_state=8).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert torch.equal(before, after)  # the caller's RNG stream is not consumed
    assert torch.get_num_threads() == threads


def test_without_validation_runs_all_epochs() -> None:
    X, y = _data(300)
    model = NeuralNetRegressor(params={**FAST, "max_epochs": 4}).fit(X, y)
    assert model.n_iterations_ == 4
    assert model.best_iteration_ is None
    assert model.history_.val_loss == ()


def test_save_load_identical(fitted, tmp_path) -> None:
    model, X, _ = fitted
    path = model.save(tmp_path / "nn")
    assert sorted(p.name for p in path.iterdir()) == ["model.json", "model.pt"]
    loaded = NeuralNetRegressor.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    pd.testing.assert_frame_equal(
        loaded.feature_importance(), model.feature_importance()
    )


def test_corrupt_native_file_is_an_artifact_error(fitted, tmp_path) -> None:
    model, _, _ = fitted
    path = model.save(tmp_path / "nn")
    (path / "model.pt").write_bytes(b"not a tensor file")
    with pytest.raises(ArtifactError, match="Checksum mismatch"):
        NeuralNetRegressor.load(path)


def test_feature_importance_ranks_planted_feature_first(fitted) -> None:
    model, _, _ = fitted
    imp = model.feature_importance()
    assert list(imp.columns) == ["feature", "importance"]
    assert imp["feature"].iloc[0] in {"f0", "f1"}
    assert imp["importance"].sum() == pytest.approx(1.0)


def test_unscaled_inputs_still_train() -> None:
    X, y = _data(600)
    X_big = X * 1e4 + 5e6  # e.g. raw prices/volumes: the internal scaler copes
    model = NeuralNetRegressor(params=FAST).fit(
        X_big.iloc[:400], y.iloc[:400], X_big.iloc[412:], y.iloc[412:]
    )
    assert np.isfinite(model.predict(X_big)).all()
    assert model.score(X_big.iloc[412:], y.iloc[412:]) > 0.3


def test_not_fitted() -> None:
    X, _ = _data(10)
    with pytest.raises(NotFittedError, match="not fitted"):
        NeuralNetRegressor().predict(X)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        pytest.param({"hidden_dims": []}, "hidden_dims", id="empty-dims"),
        pytest.param({"hidden_dims": [8, 0]}, "hidden_dims", id="zero-width"),
        pytest.param({"dropout": 1.0}, "dropout", id="dropout-1"),
        pytest.param({"batch_size": 1}, "batch_size", id="batch-1"),
        pytest.param({"weight_decay": -1.0}, "weight_decay", id="neg-decay"),
        pytest.param(
            {"early_stopping_rounds": None}, "early_stopping_rounds", id="es-none"
        ),
        pytest.param({"n_layers": 3}, "unknown params", id="unknown-key"),
    ],
)
def test_bad_params(params, match) -> None:
    X, y = _data(50)
    with pytest.raises(ModelParamsError, match=match):
        NeuralNetRegressor(params=params).fit(X, y)


def test_standardizer_handles_nan_and_constant_columns() -> None:
    values = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, np.nan], [np.inf, 5.0, np.nan]])
    scaler = Standardizer.fit(values)
    np.testing.assert_allclose(scaler.mean, [2.0, 5.0, 0.0])
    np.testing.assert_allclose(scaler.scale, [1.0, 1.0, 1.0])
    out = scaler.transform(values)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    again = Standardizer.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.mean, scaler.mean)
    np.testing.assert_array_equal(again.scale, scaler.scale)


def test_threads_are_capped() -> None:
    assert resolve_threads(8) == 1
    assert resolve_threads(1) == 1


def test_conformance_suite() -> None:
    from perpml.testing.model_checks import check_model, make_model_data

    X, y = make_model_data(n_rows=300, task="regression")
    check_model(lambda: NeuralNetRegressor(params={**FAST, "max_epochs": 5}), X, y)
