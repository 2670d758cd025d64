"""The verdict through ``perpml run``: pure noise → no signal; the default → signal.

Real pipeline runs through the CLI with XGBoost and LightGBM (+ their ensemble) and
no report. The overlap-aware interval is honest, so finding the default simulator's
weak signal takes data: the signal run uses 90 days (about 4,900 test rows, n_eff
about 900) without walk-forward; the noise run 40 days with two walk-forward folds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app

runner = CliRunner()


pytestmark = pytest.mark.slow


def _run(
    tmp_path_factory: pytest.TempPathFactory, strength: str, days: int, folds: int
) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp(f"verdict-{strength}")
    config = out.parent / f"verdict-{strength}.toml"
    config.write_text(f"[split]\nwalk_forward_splits = {folds}\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "run", "--mock", "--days", str(days), "--features", "15",
            "--signal-strength", strength, "--config", str(config),
            "--skip-lstm", "--skip-catboost", "--skip-nn", "--no-report",
            "--out", str(out / "run"), "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out / "run", result.output


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    return _run(tmp_path_factory, "0", days=40, folds=2)


@pytest.fixture(scope="module")
def signal(tmp_path_factory):
    return _run(tmp_path_factory, "1.0", days=90, folds=0)


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


def test_pure_noise_verdict_finds_no_signal(noise):
    run_dir, output = noise
    verdict = _metrics(run_dir)["verdict"]
    assert verdict["beats_baseline"] is False
    assert verdict["ci_low"] <= 0
    assert verdict["chosen_on"] == "validation"
    assert verdict["sentence"].startswith(
        "No evidence of a signal beyond the baselines"
    )
    assert "No evidence of a signal beyond the baselines" in " ".join(output.split())
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["signal_strength"] == 0.0
    # pure noise: nothing to find, nothing leaked
    assert verdict["audit_passed"] is True, (run_dir / "audit.json").read_text()


def test_default_simulator_verdict_finds_the_signal(signal):
    run_dir, output = signal
    metrics = _metrics(run_dir)
    verdict = metrics["verdict"]
    assert verdict["beats_baseline"] is True, verdict["sentence"]
    assert verdict["ci_low"] > 0
    assert verdict["best_model"] in verdict["selection_scores"]
    assert verdict["audit_passed"] is True, (run_dir / "audit.json").read_text()
    assert 0 < verdict["edge_captured"] < 1.2
    assert "beats the best baseline" in " ".join(output.split())


def test_every_scored_entry_carries_intervals(noise):
    run_dir, _ = noise
    metrics = _metrics(run_dir)
    for name, entry in metrics["models"].items():
        for period in ("test", "val"):
            scores = entry[period]
            key = (
                "accuracy"
                if entry["task"] == "classification"
                else ("directional_accuracy")
            )
            low, high = scores[f"{key}_ci"]
            assert low <= scores[key] <= high, (name, period)
            assert scores["n_eff"] <= scores["n"]
    for name in ("majority_class", "previous_return_sign"):
        assert len(metrics["baselines"][name]["accuracy_ci"]) == 2
    pooled = metrics["walk_forward"]["pooled"]
    assert {"xgb_classifier", "lgb_classifier", "ensemble_classifier"} <= set(pooled)
    assert "oracle" in pooled and metrics["oracle"]["accuracy"] > 0


def test_walk_forward_csv_has_every_model_per_fold_and_pooled_rows(noise):
    run_dir, _ = noise
    walk = pd.read_csv(run_dir / "walk_forward.csv")
    folds = walk[walk["fold"].astype(str) != "pooled"]
    assert set(folds["fold"].astype(int)) == {0, 1}
    for _, fold in folds.groupby("fold"):
        assert {"xgb_classifier", "lgb_classifier", "ensemble_classifier",
                "majority_class", "oracle"} <= set(fold["model"])  # fmt: skip
    pooled = walk[walk["fold"].astype(str) == "pooled"]
    assert pooled["accuracy_ci_low"].notna().all()


def test_year_of_date_skipped_on_less_than_two_years(noise):
    run_dir, _ = noise
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert "time_year_sin" in info["skipped_features"]
    assert "half the training span" in info["skipped_features"]["time_year_sin"]
    assert "time_year_sin" not in info["features"]


def test_report_opens_on_the_verdict_and_collapses_long_lists(noise, tmp_path):
    import re
    import shutil

    from perpml.report import build_run_report

    run_dir = tmp_path / "run"
    shutil.copytree(noise[0], run_dir)
    html = build_run_report(run_dir, quiet=True).read_text(encoding="utf-8")
    headline = html.split('id="headline">', 1)[1].split("</div>", 1)[0]
    assert "No evidence of a signal beyond the baselines" in headline
    assert "95% CI" in headline
    sections = re.findall(r'<section id="([^"]+)"', html)
    assert sections[:3] == ["audit", "headline", "metrics"]
    assert 'id="audit-table"' in html
    assert sections.index("walk-forward") < sections.index("summary")
    for collapsed in ("summary", "features", "data-quality", "versions", "config"):
        block = html.split(f'<section id="{collapsed}"', 1)[1].split("</section>", 1)[0]
        assert "<details>" in block, collapsed
    assert 'id="walk-forward-pooled"' in html
    assert "total gain (XGBoost)" in html
