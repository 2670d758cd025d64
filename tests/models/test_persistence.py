"""Saved models: native file + sidecar, checksums, versions, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perpml.exceptions import ArtifactError
from perpml.models import (
    CatBoostEntryPredictor,
    LightGBMEntryPredictor,
    XGBoostEntryPredictor,
    XGBoostPricePredictor,
    load_model,
)
from perpml.models.persistence import SIDECAR_NAME, read_sidecar
from perpml.testing.model_checks import make_model_data

MODELS = [
    pytest.param(XGBoostEntryPredictor, "classification", "model.ubj", id="xgboost"),
    pytest.param(LightGBMEntryPredictor, "classification", "model.txt", id="lightgbm"),
    pytest.param(CatBoostEntryPredictor, "classification", "model.cbm", id="catboost"),
    pytest.param(XGBoostPricePredictor, "regression", "model.ubj", id="xgb-reg"),
]


def fitted(cls, task, **params):
    X, y = make_model_data(n_rows=400, task=task)
    model = cls(params={"n_estimators": 30, **params}, n_jobs=1)
    return model.train(X[:300], y[:300], X[300:], y[300:]), X


def outputs(model, X):
    return (
        model.predict_proba(X) if model.task == "classification" else model.predict(X)
    )


@pytest.mark.parametrize(("cls", "task", "native"), MODELS)
def test_round_trip_is_exact(cls, task, native, tmp_path: Path) -> None:
    model, X = fitted(cls, task, early_stopping_rounds=5)
    path = model.save(tmp_path / "m")
    assert sorted(p.name for p in path.iterdir()) == sorted([native, SIDECAR_NAME])
    loaded = load_model(path)
    assert type(loaded) is cls
    assert np.array_equal(outputs(loaded, X), outputs(model, X))
    assert np.array_equal(loaded.predict(X), model.predict(X))
    for attr in ("best_iteration_", "n_iterations_", "n_train_", "n_val_", "params_"):
        assert getattr(loaded, attr) == getattr(model, attr), attr
    pd.testing.assert_frame_equal(
        loaded.feature_importance(), model.feature_importance()
    )


def test_sidecar_contents(tmp_path: Path) -> None:
    model, _ = fitted(XGBoostEntryPredictor, "classification", class_weight={2: 2.0})
    sidecar = read_sidecar(model.save(tmp_path / "m"))
    assert sidecar["model_class"] == "XGBoostEntryPredictor"
    assert sidecar["task"] == "classification"
    assert sidecar["params"] == {"n_estimators": 30, "class_weight": {"2": 2.0}}
    assert sidecar["resolved_params"]["max_depth"] == 5
    assert sidecar["feature_names"] == [f"feat_{i}" for i in range(6)]
    assert sidecar["classes"] == [0, 1, 2]
    assert set(sidecar["versions"]) >= {"perpml", "numpy", "xgboost"}
    assert sidecar["training"]["n_train"] == 300 and sidecar["training"]["n_val"] == 100
    assert (
        list(sidecar["files"]) == ["model.ubj"]
        and len(sidecar["files"]["model.ubj"]) == 64
    )
    loaded = XGBoostEntryPredictor.load(tmp_path / "m")
    assert loaded.get_params() == model.get_params()  # int class_weight keys restored


def test_tampered_native_file_is_refused(tmp_path: Path) -> None:
    model, _ = fitted(LightGBMEntryPredictor, "classification")
    path = model.save(tmp_path / "m")
    text = (path / "model.txt").read_text()
    (path / "model.txt").write_text(text.replace("learning_rate", "learning_rat3", 1))
    with pytest.raises(ArtifactError, match=r"Checksum mismatch for .*model\.txt"):
        load_model(path)


def test_tampered_sidecar_checksum_is_refused(tmp_path: Path) -> None:
    model, _ = fitted(CatBoostEntryPredictor, "classification")
    path = model.save(tmp_path / "m")
    sidecar = json.loads((path / SIDECAR_NAME).read_text())
    sidecar["files"]["model.cbm"] = "0" * 64
    (path / SIDECAR_NAME).write_text(json.dumps(sidecar))
    with pytest.raises(ArtifactError, match="Checksum mismatch"):
        CatBoostEntryPredictor.load(path)


def edit_sidecar(path: Path, **changes: object) -> None:
    sidecar = json.loads((path / SIDECAR_NAME).read_text())
    sidecar.update(changes)
    (path / SIDECAR_NAME).write_text(json.dumps(sidecar))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model, _ = fitted(XGBoostEntryPredictor, "classification")
    return model.save(tmp_path / "m")


def test_missing_native_file(saved: Path) -> None:
    (saved / "model.ubj").unlink()
    with pytest.raises(ArtifactError, match="model.ubj is missing"):
        load_model(saved)


def test_missing_sidecar(saved: Path) -> None:
    (saved / SIDECAR_NAME).unlink()
    with pytest.raises(ArtifactError, match="model.json is missing"):
        load_model(saved)


def test_corrupt_sidecar(saved: Path) -> None:
    (saved / SIDECAR_NAME).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_model(saved)


def test_library_release_mismatch(saved: Path) -> None:
    edit_sidecar(saved, versions={"xgboost": "1.7.6", "numpy": "2.0.0"})
    with pytest.raises(
        ArtifactError, match=r"saved with xgboost 1\.7\.6.*xgboost==1\.7\.\*"
    ):
        load_model(saved)


def test_unknown_class_and_wrong_class(saved: Path) -> None:
    with pytest.raises(ArtifactError, match="not a LightGBMEntryPredictor"):
        LightGBMEntryPredictor.load(saved)
    edit_sidecar(saved, model_class="NoSuchModel")
    with pytest.raises(
        ArtifactError, match="'NoSuchModel', which is not a known model"
    ):
        load_model(saved)


def test_unknown_format_version(saved: Path) -> None:
    edit_sidecar(saved, format_version=99)
    with pytest.raises(ArtifactError, match="format_version 99"):
        load_model(saved)


def test_load_accepts_sidecar_path(saved: Path) -> None:
    assert isinstance(load_model(saved / SIDECAR_NAME), XGBoostEntryPredictor)


def test_overwrite_replaces_saved_model(tmp_path: Path) -> None:
    first, X = fitted(XGBoostEntryPredictor, "classification")
    second, _ = fitted(XGBoostEntryPredictor, "classification", max_depth=2)
    path = first.save(tmp_path / "m")
    second.save(path)
    assert np.array_equal(load_model(path).predict_proba(X), second.predict_proba(X))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp/backup left


def test_refuses_unrelated_paths(tmp_path: Path) -> None:
    model, _ = fitted(XGBoostEntryPredictor, "classification")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not empty and holds no model.json"):
        model.save(tmp_path / "notes")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArtifactError, match="existing file"):
        model.save(tmp_path / "file")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_failed_write_leaves_old_model_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    model, X = fitted(XGBoostEntryPredictor, "classification")
    path = model.save(tmp_path / "m")
    before = read_sidecar(path)

    def boom(directory: Path) -> None:
        (directory / "model.ubj").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model, "_save_native", boom)
    with pytest.raises(ArtifactError, match="disk full"):
        model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert read_sidecar(path)["files"] == before["files"]
    assert np.array_equal(load_model(path).predict_proba(X), model.predict_proba(X))


def test_unserializable_params_refused(tmp_path: Path) -> None:
    model, _ = fitted(XGBoostEntryPredictor, "classification")
    model.params = {"n_estimators": 30, "class_weight": {2: object()}}
    with pytest.raises(ArtifactError, match="JSON-serializable"):
        model.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_numpy_scalar_params_are_saved(tmp_path: Path) -> None:
    model, X = fitted(XGBoostEntryPredictor, "classification", max_depth=np.int64(3))
    loaded = load_model(model.save(tmp_path / "m"))
    assert loaded.params["max_depth"] == 3
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
