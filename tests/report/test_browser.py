"""Open the run report in headless Chromium: it renders, offline, with its content.

Skipped when Chromium is not installed locally; CI installs it (``.ci/run``) and sets
``PERPML_REQUIRE_BROWSER=1`` so a skip fails there (see tests/conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
# Flags that keep Chromium from touching the network or a real profile.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)


def _chromium() -> str:
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.skip("chromium not installed; CI installs it via .ci/run")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False
    )


def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    chromium = _chromium()
    url = (run_dir / "report" / "model_report.html").resolve().as_uri()
    shot = tmp_path / "report.png"
    profile = [f"--user-data-dir={tmp_path / 'profile-shot'}"]
    result = _run(
        [
            chromium,
            *_FLAGS,
            *profile,
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            url,
        ]
    )
    assert shot.exists(), f"no screenshot; chromium said: {result.stderr[-2000:]}"
    assert shot.stat().st_size > 20_000
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    # A blank (all-white or all-dark) page has ~zero variance; the report has text,
    # tables and a dark header.
    assert pixels.std() > 20.0
    assert (pixels < 100).mean() > 0.01

    dom = _run(
        [
            chromium,
            *_FLAGS,
            f"--user-data-dir={tmp_path / 'profile-dom'}",
            "--dump-dom",
            url,
        ]
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<title>perpml run report — BTCUSDT 5m</title>" in html
    for text in (
        "Best model",
        "Test-set metrics vs baselines",
        "Walk-forward validation",
        "SHAP interpretability",
        "Model comparison",
        "fs_test0001",
    ):
        assert text in html, text
    # The sorting script ran without breaking the page: tables are still there.
    assert 'id="metrics-classification"' in html
