"""Fixtures of the store tests: small simulated markets, one cheap run directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app
from perpml.data.sources.synthetic import simulate_market

runner = CliRunner()

RUN_ARGS = [
    "run",
    "--mock",
    "--days",
    "4",
    "--features",
    "8",
    "--skip-lstm",
    "--skip-catboost",
    "--skip-nn",
    "--no-report",
    "--quiet",
]


@pytest.fixture(autouse=True)
def _private_store_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    # Never touch the user's cache: every test gets its own default store dir.
    monkeypatch.setenv("PERPML_STORE_DIR", str(tmp_path / "default-store"))


@pytest.fixture(scope="session")
def store_run(tmp_path_factory) -> tuple[Path, Path]:
    """(run_dir, store_dir) of one cheap `perpml run` (4 days, 8 features, no LSTM)."""
    root = tmp_path_factory.mktemp("store-run")
    out, store = root / "run", root / "store"
    result = runner.invoke(
        app, [*RUN_ARGS, "--out", str(out), "--store-dir", str(store)]
    )
    assert result.exit_code == 0, result.output
    assert "written to the offline store" in result.output
    return out, store


@pytest.fixture(scope="session")
def month_market() -> pd.DataFrame:
    """6 days of 5-minute bars across the January/February 2024 boundary."""
    return simulate_market(days=6, start="2024-01-28", seed=7).frame
