"""Tests of the seed's ModelPerformanceReporter API, plots and HTML helpers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from perpml.evaluation.metrics import classification_metrics, regression_metrics
from perpml.exceptions import ConfigError, ReportError
from perpml.report import ModelPerformanceReporter
from perpml.report.html import format_value
from perpml.report.plots import slugify
from perpml.report.reporter import accuracy_stderr, honest_headline

from ._html_checks import external_references


@pytest.fixture(scope="module")
def predictions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    n = 240
    y_true = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y_true]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    r_true = rng.normal(0, 0.01, n)
    return {
        "y_true": y_true,
        "y_pred": proba.argmax(axis=1),
        "y_proba": proba,
        "r_true": r_true,
        "r_pred": 0.5 * r_true + rng.normal(0, 0.005, n),
    }


@pytest.fixture(scope="module")
def filled_reporter(tmp_path_factory, predictions) -> ModelPerformanceReporter:
    out = tmp_path_factory.mktemp("reports")
    p = predictions
    reporter = ModelPerformanceReporter(output_dir=out)
    reporter.generate_classification_report(
        p["y_true"],
        p["y_pred"],
        p["y_proba"],
        class_names=["SHORT", "NEUTRAL", "LONG"],
        model_name="XGBoost Classifier",
    )
    reporter.generate_regression_report(
        p["r_true"], p["r_pred"], model_name="XGBoost Regressor"
    )
    importance = pd.DataFrame({"feature": list("abcde"), "importance": [5, 1, 3, 2, 4]})
    reporter.plot_feature_importance(importance, model_name="XGBoost", top_n=3)
    reporter.compare_models(reporter.metrics, metric_name="accuracy")
    reporter.generate_comparison_table(reporter.metrics)
    reporter.save_html_report("model_report.html")
    return reporter


@pytest.mark.parametrize(
    "filename",
    [
        "confusion_matrix_xgboost_classifier.png",
        "roc_curves_xgboost_classifier.png",
        "regression_scatter_xgboost_regressor.png",
        "residuals_xgboost_regressor.png",
        "feature_importance_xgboost.png",
        "model_comparison_accuracy.png",
        "model_comparison.csv",
        "model_report.html",
    ],
)
def test_every_seed_output_is_written(filled_reporter, filename):
    path = filled_reporter.output_dir / filename
    assert path.stat().st_size > (1_000 if path.suffix == ".png" else 50)


def test_metrics_come_from_the_evaluation_package(filled_reporter, predictions):
    p = predictions
    assert filled_reporter.metrics["XGBoost Classifier"] == classification_metrics(
        p["y_true"], p["y_pred"], p["y_proba"]
    )
    assert filled_reporter.metrics["XGBoost Regressor"] == regression_metrics(
        p["r_true"], p["r_pred"]
    )
    assert filled_reporter.tasks == {
        "XGBoost Classifier": "classification",
        "XGBoost Regressor": "regression",
    }


def test_comparison_table_matches_the_csv(filled_reporter):
    table = filled_reporter.generate_comparison_table(filled_reporter.metrics)
    csv = pd.read_csv(filled_reporter.output_dir / "model_comparison.csv", index_col=0)
    assert list(table.index) == ["XGBoost Classifier", "XGBoost Regressor"]
    assert list(table.columns[:2]) == ["accuracy", "balanced_accuracy"]
    pd.testing.assert_frame_equal(csv, table, check_names=False, check_dtype=False)
    assert math.isnan(table.loc["XGBoost Regressor", "accuracy"])


def test_html_report_is_self_contained_and_shows_the_metrics(filled_reporter):
    html = (filled_reporter.output_dir / "model_report.html").read_text()
    assert external_references(html) == []
    assert html.count("data:image/png;base64,") == len(filled_reporter.figures) == 6
    accuracy = filled_reporter.metrics["XGBoost Classifier"]["accuracy"]
    assert f"<td>{format_value(accuracy)}</td>" in html


def test_a_rerun_replaces_figures_instead_of_duplicating(filled_reporter, predictions):
    p = predictions
    before = len(filled_reporter.figures)
    filled_reporter.generate_regression_report(
        p["r_true"], p["r_pred"], model_name="XGBoost Regressor"
    )
    assert len(filled_reporter.figures) == before


def test_roc_curve_is_skipped_without_probabilities(tmp_path, predictions):
    reporter = ModelPerformanceReporter(output_dir=tmp_path)
    metrics = reporter.generate_classification_report(
        predictions["y_true"], predictions["y_pred"], None, model_name="m"
    )
    assert math.isnan(metrics["log_loss"])
    assert not (tmp_path / "roc_curves_m.png").exists()
    assert (tmp_path / "confusion_matrix_m.png").exists()


def test_bad_calls_raise_report_errors(tmp_path, predictions):
    reporter = ModelPerformanceReporter(output_dir=tmp_path)
    with pytest.raises(ReportError, match="Nothing to report"):
        reporter.save_html_report()
    with pytest.raises(ReportError, match="is empty"):
        reporter.generate_comparison_table({})
    with pytest.raises(ReportError, match="No model has the metric 'sharpe'"):
        reporter.compare_models({"m": {"accuracy": 0.5}}, metric_name="sharpe")
    with pytest.raises(ReportError, match="missing \\['importance'\\]"):
        reporter.plot_feature_importance(pd.DataFrame({"feature": ["a"]}), "m")
    with pytest.raises(ConfigError, match="`top_n` must be a positive int"):
        reporter.plot_feature_importance(
            pd.DataFrame({"feature": ["a"], "importance": [1.0]}), "m", top_n=0
        )
    with pytest.raises(ConfigError, match="same length"):
        reporter.generate_regression_report([0.1, 0.2], [0.1], model_name="m")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        pytest.param("XGBoost Classifier", "xgboost_classifier", id="spaces"),
        pytest.param("lgb/classifier (v2)", "lgb_classifier_v2", id="punctuation"),
        pytest.param("  ", "model", id="empty"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(0.123456, "0.1235", id="float"),
        pytest.param(float("nan"), "—", id="nan"),
        pytest.param(None, "—", id="none"),
        pytest.param(3, "3", id="int"),
        pytest.param(np.float32(0.5), "0.5000", id="numpy"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("accuracy", "n", "kind", "phrase"),
    [
        pytest.param(0.47, 3000, "good", "94 % of oracle", id="beats"),
        pytest.param(0.385, 3000, "neutral", "within 2 standard errors", id="noise"),
        pytest.param(0.36, 3000, "bad", "No model beats the best baseline", id="loses"),
    ],
)
def test_headline_is_honest(accuracy, n, kind, phrase):
    text, got = honest_headline(
        {"xgb": {"accuracy": accuracy, "n": n}}, {}, ("majority", 0.38), 0.50
    )
    assert got == kind
    assert phrase in text


def test_accuracy_stderr():
    assert accuracy_stderr(0.5, 100) == pytest.approx(0.05)
    assert math.isnan(accuracy_stderr(0.5, 0))
