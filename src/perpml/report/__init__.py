"""Performance reports: seed reporter, plots and the self-contained HTML run report.

* :class:`ModelPerformanceReporter` — the seed's metrics + plots + HTML API.
* :func:`build_run_report` — ``RUN_DIR/report/`` from a finished ``perpml run``.
"""

from __future__ import annotations

from perpml.report.reporter import ModelPerformanceReporter
from perpml.report.run_report import build_run_report

__all__ = ["ModelPerformanceReporter", "build_run_report"]
