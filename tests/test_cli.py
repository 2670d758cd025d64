"""End-to-end through the command line on small simulator data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

SEED_OUTPUTS = (
    "model_report.html",
    "model_comparison.csv",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = runner.invoke(
        app,
        [
            "run",
            "--mock",
            "--symbol",
            "BTCUSDT",
            "--days",
            "12",
            "--features",
            "20",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_run_writes_the_documented_run_directory(run_dir):
    for name in (
        "config.toml",
        "run.json",
        "metrics.json",
        "metrics.csv",
        "walk_forward.csv",
    ):
        assert (run_dir / name).stat().st_size > 0, name
    info = json.loads((run_dir / "run.json").read_text())
    assert info["source"] == "synthetic"
    assert len(info["features"]) == 20
    assert info["n_features_built"] >= 160
    assert info["oracle_accuracy"] is not None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    expected = {
        "xgb_classifier",
        "lgb_classifier",
        "cat_classifier",
        "xgb_regressor",
        "nn_regressor",
        "lstm",
        "ensemble_classifier",
        "ensemble_regressor",
    }
    assert expected <= set(metrics["models"])
    for name in expected:
        assert (run_dir / "predictions" / f"{name}.parquet").exists()
    assert {"majority_class", "always_neutral", "previous_return_sign"} <= set(
        metrics["baselines"]
    )
    assert (run_dir / "models" / "scaler.json").exists()
    for name in SEED_OUTPUTS:
        assert (run_dir / "report" / name).stat().st_size > 0


@pytest.mark.slow
def test_split_boundaries_are_chronological_and_purged(run_dir):
    info = json.loads((run_dir / "run.json").read_text())
    splits = {
        k: {kk: pd.Timestamp(v) for kk, v in s.items() if kk != "n"}
        for k, s in info["splits"].items()
    }
    assert splits["train"]["end"] < splits["val"]["start"]
    assert splits["val"]["end"] < splits["test"]["start"]
    from perpml.pipeline.artifacts import load_prepared_datasets

    *_, meta = load_prepared_datasets(info["feature_set_id"], root=run_dir / "data")
    train_end = meta.targets["train"]["label_end"].max()
    val_end = meta.targets["val"]["label_end"].max()
    assert train_end < splits["val"]["start"]
    assert val_end < splits["test"]["start"]


@pytest.mark.slow
def test_report_rebuilds_without_retraining(run_dir):
    html = run_dir / "report" / "model_report.html"
    html.unlink()
    result = runner.invoke(app, ["report", str(run_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    assert html.stat().st_size > 0


@pytest.mark.slow
def test_config_file_reproduces_a_run(run_dir, tmp_path):
    text = (run_dir / "config.toml").read_text()
    assert "days = 12.0" in text
    from perpml.config import load_config

    assert load_config(run_dir / "config.toml").features.n_features == 20


def test_bad_input_gives_a_clear_error_not_a_traceback(tmp_path):
    bad = tmp_path / "klines.csv"
    bad.write_text("foo,bar\n1,2\n")
    result = runner.invoke(
        app,
        [
            "run",
            "--source",
            "file",
            "--path",
            str(bad),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ],
    )
    assert result.exit_code == 2
    assert "error" in result.output.lower()
    assert "Traceback" not in result.output


def test_too_little_data_is_refused(tmp_path):
    result = runner.invoke(
        app, ["run", "--mock", "--days", "0.5", "--out", str(tmp_path / "r"), "-q"]
    )
    assert result.exit_code == 2
    assert "rows" in result.output


def test_help_explains_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "report", "features", "list-features", "validate"):
        assert command in result.output
    result = runner.invoke(app, ["run", "--help"])
    assert "--features" in result.output and "--mock" in result.output


def test_seed_script_requires_a_source():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_full_pipeline.py"), "--days", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "--mock" in proc.stderr


@pytest.mark.slow
def test_lstm_is_scored_on_the_same_test_rows_as_every_model(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = {name: entry["test"]["n"] for name, entry in metrics["models"].items()}
    assert rows["lstm"] == rows["xgb_classifier"], rows
    lstm = pd.read_parquet(run_dir / "predictions" / "lstm.parquet")
    assert lstm["y_pred"].notna().all()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["lstm_context_rows"]["test"] > 0
    assert (run_dir / "report" / "regression_scatter_lstm.png").exists()
