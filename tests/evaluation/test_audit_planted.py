"""End-to-end: the audit at the end of ``perpml run`` passes a clean run and
catches a planted feature that peeks one bar ahead (truncation and ceiling)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from perpml.cli import app
from perpml.features import registry

runner = CliRunner()
PEEK = "price_peek_next_logret"
TINY = [
    "--mock",
    "--days",
    "6",
    "--features",
    "5",
    "--skip-lstm",
    "--skip-catboost",
    "--skip-nn",
    "--no-report",
    "--quiet",
]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text("[split]\nwalk_forward_splits = 2\n[models]\nensemble_splits = 2\n")
    return path


@pytest.fixture
def peeking_feature():  # type: ignore[no-untyped-def]
    """Register, for one test only, a feature whose row t reads bar t + 1."""

    @registry.register_feature(category="price", inputs=("close",), warmup=0, name=PEEK)
    def _peek(close: np.ndarray) -> np.ndarray:
        """Next bar's log return (look-ahead, planted)."""
        out = np.full_like(close, np.nan)
        out[:-1] = np.log(close[1:] / close[:-1])
        return out

    yield PEEK
    registry._REGISTRY.pop(PEEK)


def _audit(run_dir: Path) -> dict[str, dict]:
    payload = json.loads((run_dir / "audit.json").read_text())
    return {c["check"]: c for c in payload["checks"]} | {"_": payload}


@pytest.mark.slow
def test_clean_default_run_passes_the_audit(tmp_path, config_file) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", *TINY, "--config", str(config_file), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Leakage audit" in result.output and "Audit passed" in result.output
    checks = _audit(out)
    assert checks["_"]["passed"] is True, checks
    assert [c["check"] for c in checks["_"]["checks"]] == [
        "truncation",
        "permutation",
        "overlap",
        "fit_scope",
        "ceiling",
    ]
    for name in ("splits.json", "fit_scopes.json"):
        assert (out / name).stat().st_size > 0
    kinds = {s["kind"] for s in json.loads((out / "splits.json").read_text())}
    assert {"chronological_split", "PurgedWalkForward", "purged_tail_split"} <= kinds
    assert "stacking_check" in kinds
    again = runner.invoke(app, ["audit", str(out)])
    assert again.exit_code == 0, again.output
    assert "pass" in again.output


@pytest.mark.slow
def test_peeking_feature_fails_truncation_and_ceiling(
    tmp_path, config_file, peeking_feature
) -> None:
    out = tmp_path / "run"
    args = ["run", *TINY, "--horizon", "1", "--config", str(config_file)]
    result = runner.invoke(app, [*args, "--no-audit", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert peeking_feature in json.loads((out / "run.json").read_text())["features"]
    # --no-audit: records are written, the audit is not run.
    assert not (out / "audit.json").exists() and (out / "splits.json").exists()
    audited = runner.invoke(app, ["audit", str(out)])
    assert audited.exit_code == 1, audited.output
    checks = _audit(out)
    assert checks["_"]["passed"] is False
    assert not checks["truncation"]["passed"]
    assert peeking_feature in checks["truncation"]["detail"]
    assert not checks["ceiling"]["passed"]
    assert "look-ahead suspected" in checks["ceiling"]["detail"]
    # The leak sits in a feature, not in the splits or fits.
    assert checks["overlap"]["passed"] and checks["fit_scope"]["passed"]
