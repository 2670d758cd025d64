from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.exceptions import ArtifactError
from perpml.pipeline.artifacts import export_prepared_datasets, load_prepared_datasets


def _split(start: str, n: int, rng: np.random.Generator):
    index = pd.date_range(start, periods=n, freq="5min", tz="UTC", name="timestamp")
    X = pd.DataFrame(
        rng.normal(size=(n, 3)).astype("float32"), index=index, columns=["a", "b", "c"]
    )
    y = pd.DataFrame(
        {
            "target_class": rng.integers(0, 3, n).astype(float),
            "target_return": rng.normal(0, 0.01, n),
            "label_end": index + pd.Timedelta("65min"),
        },
        index=index,
    )
    return X, y


@pytest.fixture
def splits():
    rng = np.random.default_rng(42)
    return {
        "train": _split("2024-01-01", 50, rng),
        "val": _split("2024-01-02", 20, rng),
        "test": _split("2024-01-03", 20, rng),
    }


def test_export_then_load_returns_the_seed_tuple(tmp_path, splits):
    export_prepared_datasets(splits, feature_set_id="abc123", root=tmp_path)
    X_train, y_train, X_val, y_val, X_test, y_test, meta = load_prepared_datasets(
        "abc123", root=tmp_path
    )
    pd.testing.assert_frame_equal(X_train, splits["train"][0], check_freq=False)
    assert y_train.dtype == "int64"
    assert (y_test.to_numpy() == splits["test"][1]["target_class"].to_numpy()).all()
    assert meta.features == ["a", "b", "c"]
    assert meta.boundaries["val"]["n"] == 20
    assert "target_return" in meta.targets["train"]
    assert meta.manifest["versions"]["perpml"]


def test_tampered_file_fails_checksum(tmp_path, splits):
    path = export_prepared_datasets(splits, feature_set_id="abc123", root=tmp_path)
    X = pd.read_parquet(path / "X_test.parquet")
    X.iloc[0, 0] = 99.0
    X.to_parquet(path / "X_test.parquet")
    with pytest.raises(ArtifactError, match="checksum"):
        load_prepared_datasets("abc123", root=tmp_path)


def test_missing_dataset_names_what_exists(tmp_path, splits):
    export_prepared_datasets(splits, feature_set_id="abc123", root=tmp_path)
    with pytest.raises(ArtifactError, match="abc123"):
        load_prepared_datasets("zzz", root=tmp_path)


def test_mismatched_columns_are_rejected(tmp_path, splits):
    X, y = splits["val"]
    splits["val"] = (X[["b", "a", "c"]], y)
    with pytest.raises(ArtifactError, match="same features"):
        export_prepared_datasets(splits, feature_set_id="x", root=tmp_path)
