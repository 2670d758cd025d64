"""A real (tiny) run directory and its report, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._fake_run import build_fake_run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with 2 classifiers + 1 regressor and a built report/."""
    from perpml.report import build_run_report

    directory = build_fake_run(tmp_path_factory.mktemp("run"))
    build_run_report(directory, quiet=True)
    return directory
