from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from perpml.evaluation.preprocessing import (
    FeatureScaler,
    drop_incomplete_rows,
    make_scaler,
)
from perpml.exceptions import ConfigError, FeatureError


def _X(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    idx = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    return pd.DataFrame(
        {"a": rng.normal(5, 2, n), "b": rng.lognormal(size=n)}, index=idx
    )


@pytest.mark.parametrize("kind", ["standard", "robust", "minmax", "none"])
def test_scaler_keeps_frame_and_float32(kind) -> None:
    X = _X()
    out = FeatureScaler(kind).fit(X.iloc[:80]).transform(X.iloc[80:])
    assert out.dtypes.unique().tolist() == [np.dtype("float32")]
    assert out.index.equals(X.index[80:]) and list(out.columns) == ["a", "b"]
    if kind == "none":
        assert np.allclose(out, X.iloc[80:].astype(np.float32))


def test_scaler_uses_training_statistics_only() -> None:
    X = _X()
    train, test = X.iloc[:80], X.iloc[80:]
    scaler = FeatureScaler("standard").fit(train)
    shifted = scaler.transform(test + 100.0)
    # test rows are scaled with train mean/std -> a shift stays visible
    assert shifted["a"].mean() > 10
    fitted_train = scaler.transform(train)
    assert abs(float(fitted_train["a"].mean())) < 1e-5


def test_scaler_nan_passthrough_and_inverse() -> None:
    X = _X()
    X.iloc[3, 0] = np.nan
    sc = FeatureScaler("robust").fit(X)
    out = sc.transform(X)
    assert np.isnan(out.iloc[3, 0])
    back = sc.inverse_transform(out)
    assert np.allclose(back.iloc[4:], X.iloc[4:], rtol=1e-5)


def test_scaler_sklearn_clone_and_names() -> None:
    sc = clone(FeatureScaler("minmax"))
    sc.fit(_X())
    assert sc.get_feature_names_out().tolist() == ["a", "b"]


def test_scaler_errors() -> None:
    X = _X()
    with pytest.raises(ConfigError, match="kind"):
        FeatureScaler("zscore").fit(X)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="same order"):
        FeatureScaler().fit(X).transform(X[["b", "a"]])
    X.iloc[0, 1] = np.inf
    with pytest.raises(FeatureError, match="infinite"):
        FeatureScaler().fit(X)
    with pytest.raises(ConfigError, match="DataFrame"):
        FeatureScaler().fit(X.to_numpy())
    with pytest.raises(ConfigError, match="scaler"):
        make_scaler("zscore")


def test_drop_incomplete_rows_consistent() -> None:
    X = _X(10)
    X.iloc[:2, 0] = np.nan  # warm-up
    X.iloc[5, 1] = np.nan  # a gap
    y = pd.Series(np.arange(10.0), index=X.index)
    y.iloc[-3:] = np.nan  # last h rows unlabelled
    targets = pd.DataFrame({"label_end": X.index + pd.Timedelta("1h")}, index=X.index)
    targets.iloc[-1, 0] = pd.NaT
    Xc, yc, tc = drop_incomplete_rows(X, y, targets)
    assert Xc.index.equals(yc.index) and Xc.index.equals(tc.index)
    assert len(Xc) == 4
    assert Xc.attrs == {
        "n_dropped": 6,
        "n_dropped_leading": 2,
        "n_dropped_trailing": 3,
        "n_dropped_inner": 1,
    }


def test_drop_incomplete_rows_misaligned() -> None:
    X = _X(10)
    with pytest.raises(ConfigError, match="reindex"):
        drop_incomplete_rows(X, pd.Series(np.arange(9.0)))


@pytest.mark.parametrize("kind", ["standard", "robust", "minmax", "none"])
def test_saved_scaler_transforms_identically(tmp_path, kind):
    rng = np.random.default_rng(42)
    index = pd.date_range("2024-01-01", periods=50, freq="5min", tz="UTC")
    X = pd.DataFrame(rng.normal(3, 2, (50, 4)), index=index, columns=list("abcd"))
    scaler = FeatureScaler(kind).fit(X.iloc[:30])
    loaded = FeatureScaler.load(scaler.save(tmp_path / "scaler.json"))
    pd.testing.assert_frame_equal(loaded.transform(X), scaler.transform(X))


def test_corrupt_saved_scaler_is_an_artifact_error(tmp_path):
    from perpml.exceptions import ArtifactError

    path = tmp_path / "scaler.json"
    path.write_text("{not json")
    with pytest.raises(ArtifactError, match="Re-run"):
        FeatureScaler.load(path)
