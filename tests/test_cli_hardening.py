"""Issue 7: the CLI does what it says, bad input gets a clear answer, runs never mix.

Every case goes through the command line (typer's runner on ``perpml.cli.app``), since
an option that passes its unit tests can still be dropped on the way from the CLI.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app
from perpml.data.sources.synthetic import simulate_market

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

FAST = ["--features", "5", "--skip-lstm", "--skip-catboost", "--skip-nn", "--quiet"]


def write_klines(path: Path, *, days: float = 4, drop: tuple[int, ...] = ()) -> Path:
    """A Binance-layout 5m kline CSV (header, ms epochs) from the simulator."""
    frame = simulate_market(symbol="ETHUSDT", days=days, seed=7).frame
    if drop:
        frame = frame.drop(frame.index[list(drop)])
    ms = frame.index.as_unit("ms").asi8
    out = pd.DataFrame(
        {
            "open_time": ms,
            "open": frame["open"].round(2),
            "high": frame["high"].round(2),
            "low": frame["low"].round(2),
            "close": frame["close"].round(2),
            "volume": frame["volume"].round(3),
            "close_time": ms + 5 * 60_000 - 1,
            "quote_volume": frame["quote_volume"].round(2),
            "count": frame["trades"].astype(np.int64),
            "taker_buy_volume": frame["taker_buy_volume"].round(3),
            "taker_buy_quote_volume": frame["taker_buy_quote_volume"].round(2),
            "ignore": 0,
        }
    )
    out.to_csv(path, index=False)
    return path


def invoke(*args: str | Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def strict_json(path: Path) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"non-strict JSON token {token} in {path}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


# ------------------------------------------------------------------ file runs
@pytest.fixture(scope="module")
def gappy_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gappy")
    return write_klines(folder / "ETHUSDT-5m-2024-01.csv", drop=(400, 401))


@pytest.fixture(scope="module")
def file_run(tmp_path_factory, gappy_file) -> Path:
    """``--path`` alone (no --source), --gaps flat, default run dir under runs/."""
    cwd = tmp_path_factory.mktemp("cwd")
    import os

    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = invoke(
            "run",
            "--path",
            gappy_file,
            "--symbol",
            "ETHUSDT",
            "--interval",
            "5m",
            "--gaps",
            "flat",
            "--max-gap",
            "3",
            "--funding-rate-scale",
            "8",
            "--keep-last-bar",
            "--no-report",
            *FAST,
        )
    finally:
        os.chdir(before)
    assert result.exit_code == 0, result.output
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow
def test_path_alone_means_file_data_and_gap_flags_reach_the_source(file_run):
    info = json.loads((file_run / "run.json").read_text())
    assert info["source"] == "file"
    assert info["oracle_accuracy"] is None
    config = tomllib.loads((file_run / "config.toml").read_text())
    data = config["data"]
    assert data["source"] == "file"
    assert data["gaps"] == "flat" and data["max_gap"] == 3
    assert data["funding_rate_scale"] == 8.0 and data["drop_last_bar"] is False
    # The two missing bars were filled flat, and the data-quality notes say so.
    notes = " ".join(map(str, info["data_quality"].get("notes", [])))
    assert "flat" in notes or "fill" in notes, notes


@pytest.mark.slow
def test_default_run_directory_is_under_runs(file_run):
    assert file_run.parent.name == "runs"
    assert file_run.name.startswith("ETHUSDT_file_5m_")


def test_gap_error_names_the_flag_and_without_it_the_run_stops(tmp_path, gappy_file):
    result = invoke(
        "run", "--path", gappy_file, "--symbol", "ETHUSDT", "--interval", "5m",
        "--out", tmp_path / "r", *FAST,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--gaps" in result.output
    assert not (tmp_path / "r").exists()  # nothing written for a refused run


@pytest.mark.slow
def test_config_gaps_key_is_applied(tmp_path, gappy_file):
    """``[data] gaps`` in a config file reaches the file source (not just --gaps)."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'[data]\nsource = "file"\npaths = ["{gappy_file.name}"]\n'
        'symbol = "ETHUSDT"\ninterval = "5m"\ngaps = "flat"\nmax_gap = 2\n',
        encoding="utf-8",
    )
    # The config's relative path is resolved against the config file's folder.
    (tmp_path / gappy_file.name).write_bytes(gappy_file.read_bytes())
    result = invoke(
        "run", "--config", cfg, "--out", tmp_path / "r", "--no-report", *FAST
    )
    assert result.exit_code == 0, result.output
    saved = tomllib.loads((tmp_path / "r" / "config.toml").read_text())["data"]
    assert saved["gaps"] == "flat"
    assert saved["paths"] == [str((tmp_path / gappy_file.name).resolve())]


@pytest.mark.slow
def test_saved_config_reruns_from_another_directory(tmp_path, file_run, monkeypatch):
    saved = tomllib.loads((file_run / "config.toml").read_text())
    assert all(Path(p).is_absolute() for p in saved["data"]["paths"])
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "run", "--config", file_run / "config.toml", "--out", tmp_path / "again",
        "--no-report", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    first = json.loads((file_run / "run.json").read_text())
    second = json.loads((tmp_path / "again" / "run.json").read_text())
    assert first["data_fingerprint"] == second["data_fingerprint"]


# ------------------------------------------------------------------ contradictions
@pytest.mark.parametrize(
    "args, match",
    [
        pytest.param(["--mock", "--path", "x.csv"], "--mock runs the simulator", id="mock+path"),
        pytest.param(["--mock", "--source", "file"], "--mock runs the simulator", id="mock+source"),
        pytest.param(["--source", "synthetic", "--path", "x.csv"], "--path names data files", id="synthetic+path"),
        pytest.param(["--mock", "--symbol", "../../X"], "not an exchange symbol", id="symbol-path"),
        pytest.param(["--mock", "--symbol", "/tmp/abs"], "not an exchange symbol", id="symbol-abs"),
        pytest.param(["--mock", "--symbol", "BTC'; DROP TABLE x; --"], "upper-case", id="symbol-sql"),
        pytest.param(["--mock", "--days", "inf"], "positive, finite", id="days-inf"),
        pytest.param(["--mock", "--days", "-3"], "positive, finite", id="days-negative"),
        pytest.param(["--mock", "--start", "yesterday-ish"], "--start", id="bad-start"),
        pytest.param(["--mock", "--start", "2024-02-01", "--end", "2024-01-01"], "must be after", id="end<start"),
    ],
)  # fmt: skip
def test_contradictions_and_bad_values_are_clear_errors(
    tmp_path, monkeypatch, args, match
):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", *args, *FAST)
    assert result.exit_code == 2, result.output
    assert match in result.output
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir()), "a refused run must not write anything"


def test_markup_in_messages_is_printed_verbatim(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[data]\ndays = -1\n", encoding="utf-8")
    result = invoke("run", "--config", cfg, *FAST)
    assert result.exit_code == 2
    assert "[data].days" in result.output


def test_help_keeps_brackets_and_shows_defaults():
    result = invoke("run", "--help")
    assert result.exit_code == 0
    assert "--skip-lstm" in result.output and "--no-skip-lstm" not in result.output
    assert "--no-report" in result.output and "--no-no-report" not in result.output
    assert "default 12" in result.output  # horizon
    assert (
        "--keep-last-bar" in result.output and "--funding-rate-scale" in result.output
    )


def test_double_negative_flags_are_gone():
    result = invoke("run", "--mock", "--no-no-report")
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_version():
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"perpml {version('perpml')}"


# ------------------------------------------------------------------ mock runs
@pytest.fixture(scope="module")
def mock_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mock") / "run"
    result = invoke("run", "--mock", "--days", "5", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_metrics_json_is_strict_json(mock_run):
    for name in ("metrics.json", "run.json"):
        strict_json(mock_run / name)


@pytest.mark.slow
def test_skip_nn_flag_leaves_the_mlp_out(mock_run):
    metrics = strict_json(mock_run / "metrics.json")
    assert isinstance(metrics, dict)
    assert not any(name.startswith("nn_") for name in metrics["models"])


@pytest.mark.slow
def test_non_empty_run_directory_is_refused_then_overwritten(mock_run, tmp_path):
    out = tmp_path / "run"
    first = invoke("run", "--mock", "--days", "5", "--out", out, "--no-report", *FAST)
    assert first.exit_code == 0, first.output
    stray = out / "predictions" / "old_model.parquet"
    stray.write_bytes(b"left over from an earlier run")
    again = invoke("run", "--mock", "--days", "5", "--out", out, "--no-report", *FAST)
    assert again.exit_code == 2
    assert "not empty" in again.output and "--overwrite" in again.output
    replaced = invoke(
        "run", "--mock", "--days", "5", "--out", out, "--overwrite", "--no-report",
        *FAST,
    )  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    assert not stray.exists()


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("...", encoding="utf-8")
    result = invoke("run", "--mock", "--out", precious, "--overwrite", *FAST)
    assert result.exit_code == 2
    assert "does not look like a perpml run directory" in result.output
    assert (precious / "chapter1.tex").exists()


def test_out_naming_a_file_is_a_clear_error(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x", encoding="utf-8")
    result = invoke("run", "--mock", "--out", target, *FAST)
    assert result.exit_code == 2
    assert "is an existing file" in result.output


@pytest.mark.slow
def test_report_ignores_models_the_run_does_not_list(mock_run):
    import shutil

    preds = mock_run / "predictions"
    shutil.copy(preds / "xgb_classifier.parquet", preds / "ghost_classifier.parquet")
    try:
        result = invoke("report", mock_run, "--quiet")
        assert result.exit_code == 0, result.output
        html = (mock_run / "report" / "model_report.html").read_text(encoding="utf-8")
        assert "ghost_classifier" not in html
    finally:
        (preds / "ghost_classifier.parquet").unlink()


@pytest.mark.slow
def test_report_on_a_corrupt_model_prints_it_and_exits_1(mock_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(mock_run, copy)
    model_dir = copy / "models" / "xgb_classifier"
    native = next(p for p in model_dir.iterdir() if p.name != "model.json")
    native.write_bytes(native.read_bytes() + b"tampered")
    result = invoke("report", copy, "--quiet")
    assert result.exit_code == 1, result.output
    assert "xgb_classifier" in result.output and "checksum" in result.output.lower()


@pytest.mark.slow
def test_edited_scaler_fails_its_checksum(mock_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(mock_run, copy)
    scaler = copy / "models" / "scaler.json"
    payload = json.loads(scaler.read_text())
    first = next(iter(payload["state"]))
    payload["state"][first][0] = 123.0
    scaler.write_text(json.dumps(payload), encoding="utf-8")
    from perpml.evaluation.preprocessing import FeatureScaler
    from perpml.exceptions import ArtifactError

    with pytest.raises(ArtifactError, match="fails its checksum"):
        FeatureScaler.load(scaler)


def test_phase_lines_when_output_is_not_a_terminal(tmp_path, monkeypatch):
    """Piped output (CI, make run, nohup) gets one line per phase with its time."""
    monkeypatch.delenv("PERPML_QUIET", raising=False)
    result = invoke(
        "run", "--mock", "--days", "5", "--out", tmp_path / "r", "--no-report",
        "--features", "5", "--skip-lstm", "--skip-catboost", "--skip-nn",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Market: BTCUSDT 5m from synthetic" in result.output
    assert "Phase 1: market data: done in" in result.output
    assert "Phase 3: models: done in" in result.output


def test_pyproject_uses_the_spdx_license_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"


def test_out_under_a_file_or_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    for target in (blocker / "run", Path("/proc/perpml-run")):
        result = invoke("run", "--mock", "--out", target, *FAST)
        assert result.exit_code == 2, result.output
        assert "Pass a writable --out" in result.output


def test_a_feed_that_misses_the_training_period_is_named(tmp_path):
    """OI that starts after the training period: its features go, and the run says so."""
    frame = simulate_market(symbol="ETHUSDT", days=5, seed=3).frame
    late = frame.index[int(len(frame) * 0.9)]
    canonical = frame[
        ["open", "high", "low", "close", "volume", "open_interest"]
    ].copy()
    canonical.loc[canonical.index < late, "open_interest"] = np.nan
    path = tmp_path / "ETHUSDT-5m.csv"
    canonical.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    result = invoke(
        "run", "--path", path, "--symbol", "ETHUSDT", "--interval", "5m",
        "--out", tmp_path / "r", "--no-report", "--features", "5", "--skip-lstm",
        "--skip-catboost", "--skip-nn",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "input open_interest: all" in result.output
    assert "too late for the training period" in result.output


@pytest.mark.slow
def test_constant_zero_input_is_named_on_the_console_and_as_the_reason(tmp_path):
    frame = simulate_market(symbol="ETHUSDT", days=5, seed=4).frame
    canonical = frame[
        ["open", "high", "low", "close", "volume", "open_interest"]
    ].copy()
    canonical["open_interest"] = 0.0
    path = tmp_path / "ETHUSDT-5m.csv"
    canonical.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    result = invoke(
        "run", "--path", path, "--out", tmp_path / "r", "--no-report", "--no-backtest",
        "--features", "5", "--skip-lstm", "--skip-catboost", "--skip-nn",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: open_interest is zero on every bar" in result.output
    skipped = json.loads((tmp_path / "r" / "run.json").read_text())["skipped_features"]
    reasons = [
        r for n, r in skipped.items() if n.startswith("oi_") and "absent" not in r
    ]
    assert reasons and all("constant (zero)" in r for r in reasons), reasons


# ------------------------------------------------------------------ backtest in the run
@pytest.mark.slow
def test_run_backtests_the_chosen_model_and_the_report_shows_it(mock_run):
    payload = strict_json(mock_run / "backtest.json")
    assert isinstance(payload, dict)
    metrics = strict_json(mock_run / "metrics.json")
    assert isinstance(metrics, dict)
    assert payload["model"] == metrics["verdict"]["best_model"]
    assert "walk-forward out-of-fold" in payload["probabilities_from"]
    assert (mock_run / "backtest_trades.csv").exists()
    html = (mock_run / "report" / "model_report.html").read_text(encoding="utf-8")
    assert 'id="backtest"' in html and "Deflated Sharpe" in html


def test_no_backtest_flag_skips_it(tmp_path):
    out = tmp_path / "r"
    result = invoke(
        "run", "--mock", "--days", "5", "--out", out, "--no-report", "--no-backtest",
        "--no-audit", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (out / "backtest.json").exists()


def test_backtest_without_funding_is_skipped_loudly_not_zeroed(tmp_path):
    path = write_klines(tmp_path / "ETHUSDT-5m-2024-01.csv", days=5)
    result = invoke(
        "run", "--path", path, "--out", tmp_path / "r", "--no-report", "--no-audit",
        *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "backtest skipped" in result.output
    assert "--allow-missing-funding" in result.output
    assert not (tmp_path / "r" / "backtest.json").exists()
