"""Tests of perpml.explain.ModelInterpreter (SHAP values, plots, bad input)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from perpml.exceptions import ConfigError, FeatureError
from perpml.explain import ModelInterpreter


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    n = 300
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    X = pd.DataFrame(
        rng.normal(size=(n, 5)).astype(np.float32),
        index=index,
        columns=["a", "b", "c", "d", "e"],
    )
    signal = X["a"] + 0.5 * X["b"] + rng.normal(0, 0.5, n)
    y_class = np.digitize(signal, [-0.5, 0.5])
    y_reg = (0.01 * signal).to_numpy()
    return X, y_class, y_reg


@pytest.fixture(scope="module")
def xgb_classifier(data):  # type: ignore[no-untyped-def]
    X, y, _ = data
    return xgb.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1).fit(X, y)


def test_native_xgboost_contributions_match_tree_explainer(
    data, xgb_classifier, tmp_path
):
    from perpml.explain.interpreter import _import_shap

    shap = _import_shap()

    X, _, _ = data
    interpreter = ModelInterpreter(xgb_classifier, X, output_dir=tmp_path)
    table = interpreter.explain_predictions(X, max_display=5)
    reference = shap.TreeExplainer(xgb_classifier)(X).values  # (n, F, K)
    assert interpreter.explainer_ == "xgboost native TreeSHAP"
    assert interpreter.shap_values_.shape == reference.shape == (300, 5, 3)
    np.testing.assert_allclose(interpreter.shap_values_, reference, atol=1e-4)
    assert list(table.columns) == [
        "feature",
        "mean_abs_shap_SHORT",
        "mean_abs_shap_NEUTRAL",
        "mean_abs_shap_LONG",
        "mean_abs_shap",
    ]
    assert table["mean_abs_shap"].is_monotonic_decreasing
    assert table["feature"].iloc[0] == "a"  # the strongest driver of the label
    per_class = table[[c for c in table.columns if c.startswith("mean_abs_shap_")]]
    np.testing.assert_allclose(per_class.mean(axis=1), table["mean_abs_shap"])
    for name in ("shap_summary.png", "shap_importance_bar.png"):
        assert (tmp_path / name).stat().st_size > 5_000


def test_native_lightgbm_contributions_match_tree_explainer(data, tmp_path):
    import lightgbm as lgb

    from perpml.explain.interpreter import _import_shap

    shap = _import_shap()

    X, y, _ = data
    model = lgb.LGBMClassifier(n_estimators=15, verbose=-1, n_jobs=1).fit(X, y)
    interpreter = ModelInterpreter(model, X, output_dir=tmp_path)
    interpreter.explain_predictions(X.iloc[:80])
    reference = np.asarray(shap.TreeExplainer(model)(X.iloc[:80]).values)
    np.testing.assert_allclose(interpreter.shap_values_, reference, atol=1e-4)


@pytest.mark.parametrize("class_idx", [0, 1, 2])
def test_single_prediction_adds_up_to_the_margin(
    data, xgb_classifier, tmp_path, class_idx
):
    X, _, _ = data
    interpreter = ModelInterpreter(xgb_classifier, X, output_dir=tmp_path)
    row = X.iloc[[7]]
    contrib = interpreter.explain_single_prediction(row, class_idx=class_idx)
    margin = xgb_classifier.predict(row, output_margin=True)[0, class_idx]
    assert contrib.attrs["prediction"] == pytest.approx(float(margin), abs=1e-4)
    assert contrib.attrs["class_idx"] == class_idx
    assert list(contrib.columns) == ["feature", "value", "shap_value"]
    assert contrib["shap_value"].abs().is_monotonic_decreasing
    assert (tmp_path / "shap_force_plot.png").stat().st_size > 5_000


def test_rows_are_capped_by_a_seeded_time_ordered_sample(
    data, xgb_classifier, tmp_path
):
    X, _, _ = data
    first = ModelInterpreter(xgb_classifier, X, output_dir=tmp_path, max_rows=50)
    first.explain_predictions(X)
    second = ModelInterpreter(xgb_classifier, X, output_dir=tmp_path, max_rows=50)
    second.explain_predictions(X)
    assert first.shap_values_.shape[0] == 50
    assert first.explained_index_.is_monotonic_increasing
    assert first.explained_index_.equals(second.explained_index_)


def test_catboost_and_regressor_paths(data, tmp_path):
    import catboost as cb

    X, _, y_reg = data
    model = cb.CatBoostRegressor(
        iterations=20, verbose=0, allow_writing_files=False, thread_count=1
    ).fit(X, y_reg)
    interpreter = ModelInterpreter(model, X, output_dir=tmp_path)
    table = interpreter.explain_predictions(X.iloc[:60])
    assert interpreter.explainer_ == "catboost native TreeSHAP"
    assert interpreter.output_space == "target units"
    assert interpreter.shap_values_.shape == (60, 5)
    assert list(table.columns) == ["feature", "mean_abs_shap"]
    single = interpreter.explain_single_prediction(X.iloc[3], class_idx=2)
    assert single.attrs["class_idx"] is None  # ignored for a single-output model
    assert single.attrs["prediction"] == pytest.approx(
        float(model.predict(X.iloc[[3]])[0]), abs=1e-6
    )


def test_sklearn_forest_uses_tree_explainer(data, tmp_path):
    from sklearn.ensemble import RandomForestRegressor

    X, _, y_reg = data
    model = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0)
    model.fit(X, y_reg)
    interpreter = ModelInterpreter(model, X, output_dir=tmp_path)
    interpreter.explain_predictions(X.iloc[:40])
    assert interpreter.explainer_ == "shap.TreeExplainer"
    total = interpreter.shap_values_.sum(axis=1) + interpreter.expected_value_[0]
    np.testing.assert_allclose(total, model.predict(X.iloc[:40]), atol=1e-6)


def test_model_agnostic_explainer_for_an_mlp(data, tmp_path):
    from sklearn.neural_network import MLPClassifier

    X, y, _ = data
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    with pytest.warns(UserWarning, match="Maximum iterations"):
        model.fit(X, y)  # a short fit is enough to explain; it does not converge
    interpreter = ModelInterpreter(
        model, X, output_dir=tmp_path, background_size=30, max_agnostic_rows=20
    )
    table = interpreter.explain_predictions(X)
    assert interpreter.explainer_ == "shap.PermutationExplainer"
    assert interpreter.output_space == "probability"
    assert interpreter.shap_values_.shape == (20, 5, 3)
    assert "mean_abs_shap_LONG" in table.columns
    single = interpreter.explain_single_prediction(X.iloc[[5]], class_idx=2)
    proba = model.predict_proba(X.iloc[[5]].astype(np.float32))[0, 2]
    assert single.attrs["prediction"] == pytest.approx(float(proba), abs=1e-6)


def test_perpml_model_is_explained_through_its_native_booster(data, tmp_path):
    models = pytest.importorskip("perpml.models")
    X, y, _ = data
    model = models.XGBoostEntryPredictor(params={"n_estimators": 15}, n_jobs=1)
    model.fit(X, pd.Series(y, index=X.index))
    interpreter = ModelInterpreter(model, X, output_dir=tmp_path)
    interpreter.explain_predictions(X.iloc[:50])
    assert interpreter.explainer_ == "xgboost native TreeSHAP"
    single = interpreter.explain_single_prediction(X.iloc[[0]], class_idx=2)
    margin = model.native_model_.predict(
        xgb.DMatrix(X.iloc[[0]].to_numpy()), output_margin=True
    )[0, 2]
    assert single.attrs["prediction"] == pytest.approx(float(margin), abs=1e-4)


def test_bad_inputs_raise_clear_errors(data, xgb_classifier, tmp_path):
    X, _, _ = data
    with pytest.raises(ConfigError, match="`X_train` must be a DataFrame"):
        ModelInterpreter(xgb_classifier, X.to_numpy(), output_dir=tmp_path)
    with pytest.raises(ConfigError, match="`background_size` must be a positive int"):
        ModelInterpreter(xgb_classifier, X, background_size=0)
    interpreter = ModelInterpreter(xgb_classifier, X, output_dir=tmp_path)
    with pytest.raises(FeatureError, match="lacks 1 of them"):
        interpreter.explain_predictions(X.drop(columns="c"))
    with pytest.raises(ConfigError, match=r"`class_idx` must be an int in \[0, 2\]"):
        interpreter.explain_single_prediction(X.iloc[[0]], class_idx=3)
    with pytest.raises(ConfigError, match="has no rows"):
        interpreter.explain_predictions(X.iloc[:0])
