"""``perpml tune`` and ``perpml run --params`` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpml.cli import app

runner = CliRunner()
DATA = ["--mock", "--days", "6", "--features", "12"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Path, Path, str]:
    """A journal study of 2 trials, then resumed to 3; the params file and output."""
    root = tmp_path_factory.mktemp("tune")
    journal, params = root / "studies" / "xgb.log", root / "tuned.json"
    base = ["tune", *DATA, "--model", "xgb_classifier", "--cv", "holdout"]
    base += ["--storage", str(journal), "--study-name", "cli", "--out", str(params)]
    first = runner.invoke(app, [*base, "--n-trials", "2", "--n-jobs", "1"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*base, "--n-trials", "3", "--n-jobs", "1"])
    assert second.exit_code == 0, second.output
    return journal, params, first.output + second.output


def test_tune_prints_trials_and_a_summary_and_writes_the_params_file(tuned):
    journal, params, output = tuned
    assert "xgb_classifier trial    0" in output and "best" in output
    assert "Tuning summary" in output and "complete" in output
    assert "test period (from" in output
    entry = json.loads(params.read_text())["models"]["xgb_classifier"]
    assert entry["n_trials"] == 3  # resumed: 2 + 1, not 3 new ones
    assert entry["n_complete"] + entry["n_pruned"] == 3
    assert entry["params"]["early_stopping_rounds"] == 30
    assert journal.exists()


@pytest.mark.slow
def test_run_with_params_applies_them_and_records_the_trial_count(tuned, tmp_path):
    from perpml.models import load_model

    _, params, _ = tuned
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            *DATA,
            "--params",
            str(params),
            "--skip-lstm",
            "--skip-catboost",
            "--skip-nn",
            "--no-report",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads((out / "run.json").read_text())
    assert info["n_tuning_trials"] == {"xgb_classifier": 3}
    assert (out / info["tuned_params_file"]).exists()
    best = json.loads(params.read_text())["models"]["xgb_classifier"]["params"]
    model = load_model(out / "models" / "xgb_classifier")
    assert {k: model.params_[k] for k in best} == best
    assert "params_file" in (out / "config.toml").read_text()

    # The prepared datasets of that run feed another tuning worker.
    again = runner.invoke(
        app,
        ["tune", "--datasets", str(out), "--model", "lgbm_classifier"]
        + ["--n-trials", "1", "--cv", "holdout", "--n-jobs", "1", "-q"],
    )
    assert again.exit_code == 0, again.output
    written = json.loads((out / "tuned_params.json").read_text())["models"]
    assert {"xgb_classifier", "lgb_classifier"} <= set(written)


@pytest.mark.parametrize(
    "args, match",
    [
        pytest.param(["--model", "svm", "--mock"], "Unknown model 'svm'", id="model"),
        pytest.param(
            ["--datasets", ".", "--mock"], "--datasets reuses", id="datasets+mock"
        ),
        pytest.param(["--datasets", "."], "no prepared dataset", id="not-a-run"),
        pytest.param(
            ["--mock", "--days", "6", "--n-trials", "0"], "--n-trials", id="n-trials"
        ),
    ],
)
def test_bad_tune_input_is_one_clear_error(args, match):
    result = runner.invoke(app, ["tune", *args, "-q"])
    assert result.exit_code == 2
    assert match in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_run_refuses_a_bad_params_file_before_loading_data(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"xgb_classifier": {"depth": 3}}))
    result = runner.invoke(
        app, ["run", "--mock", "--days", "6", "--params", str(bad), "-q"]
    )
    assert result.exit_code == 2
    assert "depth" in result.output and "--params" in result.output
