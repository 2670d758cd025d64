"""Tests of build_run_report on a small real run directory (see conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from perpml.exceptions import ReportError
from perpml.report import build_run_report
from perpml.report.html import format_value

from ._fake_run import build_fake_run
from ._html_checks import external_references, table

EXPECTED_FILES = [
    "confusion_matrix_xgb_classifier.png",
    "confusion_matrix_lgb_classifier.png",
    "roc_curves_xgb_classifier.png",
    "roc_curves_lgb_classifier.png",
    "regression_scatter_xgb_regressor.png",
    "residuals_xgb_regressor.png",
    "feature_importance_xgb_classifier.png",
    "feature_importance_lgb_classifier.png",
    "feature_importance_xgb_regressor.png",
    "shap_summary.png",
    "shap_importance_bar.png",
    "shap_force_plot.png",
    "model_comparison_accuracy.png",
    "model_comparison_pearson_ic.png",
    "model_comparison.csv",
    "model_report.html",
]


def _html(run_dir: Path) -> str:
    return (run_dir / "report" / "model_report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("filename", EXPECTED_FILES)
def test_every_report_file_is_written(run_dir, filename):
    assert (run_dir / "report" / filename).stat().st_size > 100


def test_html_has_no_external_references(run_dir):
    html = _html(run_dir)
    assert external_references(html) == []
    pngs = [f for f in EXPECTED_FILES if f.endswith(".png")]
    assert html.count('src="data:image/png;base64,') == len(pngs)


def test_classification_numbers_equal_metrics_json(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = {r["model"]: r for r in table(_html(run_dir), "metrics-classification")}
    expected = {
        **metrics["models"],
        **{k: {"test": v} for k, v in metrics["baselines"].items()},
    }
    checked = 0
    for name, entry in expected.items():
        test = entry["test"]
        if "accuracy" not in test:
            continue
        for column in ("accuracy", "balanced_accuracy", "f1_macro", "log_loss"):
            assert rows[name][column] == format_value(test[column]), (name, column)
            checked += 1
        assert rows[name]["n"] == str(int(test["n"]))
    assert checked == 4 * 4  # 2 models + 2 classification baselines
    assert rows["oracle"]["accuracy"] == format_value(metrics["oracle"]["accuracy"])


def test_regression_numbers_equal_metrics_json(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = {r["model"]: r for r in table(_html(run_dir), "metrics-regression")}
    for name, test in (
        ("xgb_regressor", metrics["models"]["xgb_regressor"]["test"]),
        ("zero_forecast", metrics["baselines"]["zero_forecast"]),
    ):
        for column in ("rmse", "mae", "r2", "directional_accuracy", "pearson_ic"):
            assert rows[name][column] == format_value(test[column]), (name, column)


def test_headline_compares_best_model_with_baseline_and_oracle(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    accuracies = {
        n: m["test"]["accuracy"]
        for n, m in metrics["models"].items()
        if m["task"] == "classification"
    }
    best = max(accuracies, key=accuracies.get)
    html = _html(run_dir)
    headline = html.split('id="headline">', 1)[1].split("</div>", 1)[0]
    assert f"Best model {best}: accuracy {format_value(accuracies[best])}" in headline
    assert "vs majority" in headline
    ratio = accuracies[best] / metrics["oracle"]["accuracy"]
    assert f"{ratio:.0%}".replace("%", " %") + " of oracle" in headline


def test_walk_forward_table_has_mean_and_std(run_dir):
    html = _html(run_dir)
    rows = table(html, "walk-forward-table")
    assert [r["fold"] for r in rows[:3]] == ["0", "1", "2"]
    # The footer row (mean ± std over folds) is parsed as the last row.
    assert rows[-1]["accuracy"] == "0.5167 ± 0.0306"


def test_run_summary_data_quality_and_shap_sections(run_dir):
    html = _html(run_dir)
    summary = {r["item"]: r["value"] for r in table(html, "run-summary")}
    assert summary["symbol"] == "BTCUSDT"
    assert summary["data_fingerprint"] == "d1e2a3d4b5e6e7f8"
    assert summary["feature_set_id"] == "fs_test0001"
    skipped = table(html, "skipped-features")
    assert skipped == [
        {"feature": "oi_change_12", "reason": "open_interest not in the data"}
    ]
    assert "2 gap bars filled" in html
    assert "Model explained:" in html
    assert "xgboost native TreeSHAP" in html or "lightgbm native TreeSHAP" in html
    # Config text is escaped, never interpreted as markup.
    assert "&lt;b&gt;not markup&lt;/b&gt;" in html
    assert "What could not be produced" not in html


def test_report_rebuilds_from_disk_and_reports_stages(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "report")
    stages: list[str] = []
    path = build_run_report(copy, on_stage=stages.append)
    assert path == copy / "report" / "model_report.html"
    assert stages[0] == "reading run directory" and stages[-1] == "writing HTML"
    assert "SHAP" in stages


def test_missing_parts_are_listed_not_hidden(tmp_path):
    run = build_fake_run(
        tmp_path / "run", n=400, classifiers=("xgb_classifier",), regressors=()
    )
    shutil.rmtree(run / "models")
    shutil.rmtree(run / "data")
    (run / "walk_forward.csv").unlink()
    html = build_run_report(run, quiet=True).read_text()
    assert "SHAP skipped: no saved tree classifier could be loaded." in html
    assert "walk-forward-table" not in html
    assert (run / "report" / "confusion_matrix_xgb_classifier.png").exists()
    assert external_references(html) == []


def test_shap_is_skipped_when_saved_features_do_not_reproduce_predictions(tmp_path):
    import pandas as pd

    run = build_fake_run(
        tmp_path / "run", n=400, classifiers=("xgb_classifier",), regressors=()
    )
    # Simulate a run whose models were trained on scaled features.
    pred_path = run / "predictions" / "xgb_classifier.parquet"
    pred = pd.read_parquet(pred_path)
    pred[["p_short", "p_neutral", "p_long"]] = 1.0 / 3.0
    pred.to_parquet(pred_path)
    html = build_run_report(run, quiet=True).read_text()
    assert "SHAP skipped for xgb_classifier: the saved model does not reproduce" in html
    assert not (run / "report" / "shap_summary.png").exists()


def test_shap_rebuilds_the_training_scaler_of_a_scaled_run(tmp_path):
    run = build_fake_run(
        tmp_path / "run",
        n=400,
        classifiers=("xgb_classifier",),
        regressors=(),
        scaler="standard",
    )
    html = build_run_report(run, quiet=True).read_text()
    assert "of standard-scaled features (scaler refit on the training split)" in html
    assert (run / "report" / "shap_summary.png").stat().st_size > 5_000


def test_no_model_beating_the_baseline_is_the_headline(tmp_path):
    run = build_fake_run(
        tmp_path / "run", n=400, classifiers=("xgb_classifier",), regressors=()
    )
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["baselines"]["majority"]["accuracy"] = 0.99
    (run / "metrics.json").write_text(json.dumps(metrics))
    html = build_run_report(run, quiet=True).read_text()
    assert "No model beats the best baseline on the test set" in html
    assert 'class="headline bad"' in html


@pytest.mark.parametrize("missing", ["run.json", "metrics.json"])
def test_incomplete_run_directory_raises(tmp_path, missing):
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / missing).unlink()
    with pytest.raises(ReportError, match=f"{missing} is missing"):
        build_run_report(tmp_path, quiet=True)


def test_not_a_directory_raises(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        build_run_report(tmp_path / "nope", quiet=True)


def test_corrupt_json_raises(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(ReportError, match="Cannot read"):
        build_run_report(tmp_path, quiet=True)
