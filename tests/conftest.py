"""Shared test configuration.

Server- and browser-backed tests carry markers (``redis``, ``postgres``, ``browser``)
and skip locally with a reason when the service is absent. CI sets
``PERPML_REQUIRE_BROWSER=1`` (see ``.ci/run``) so a missing browser fails instead.
"""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")

# Deterministic, quiet, thread-capped runs on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# libgomp's default busy-wait makes LightGBM 7-10x slower when cores are shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PERPML_QUIET", "1")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    """Turn a skipped browser test into a failure when CI requires the browser."""
    report = yield
    if (
        report.skipped
        and item.get_closest_marker("browser") is not None
        and os.environ.get("PERPML_REQUIRE_BROWSER") == "1"
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"browser test skipped in CI ({report.longrepr}); "
            ".ci/run must install chromium"
        )
    return report
