"""The pipeline's side of the leakage audit: record while running, audit at the end.

``perpml run`` needs two lines::

    with PhaseProgress(...) as progress, audit_recording() as recorder:
        ...                                 # load, split, train, write metrics
        audit = record_and_audit(run_dir, recorder, progress=progress, enabled=...)

:func:`audit_recording` activates a
:class:`~perpml.evaluation.fit_scope.FitScopeRecorder` for the block (and ends it
even when the run fails), so the splitters, scaler, selectors and stacking
meta-model record what they fitted on; :func:`record_and_audit` stops it, writes
``splits.json`` / ``fit_scopes.json`` and runs
:func:`~perpml.evaluation.audit.audit_run` (``audit.json``) — before the report, so
the report can show the audit.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from perpml.evaluation.audit import AuditReport, audit_run
from perpml.evaluation.fit_scope import FitScopeRecorder, recording, stop_recording

__all__ = ["audit_recording", "record_and_audit"]


def audit_recording() -> contextlib.AbstractContextManager[FitScopeRecorder]:
    """``with audit_recording() as recorder:`` records the run's splits and fits."""
    return recording()


def record_and_audit(
    run_dir: str | Path,
    recorder: FitScopeRecorder | None,
    *,
    progress: Any = None,
    enabled: bool = True,
) -> AuditReport | None:
    """Stop ``recorder``, write its records into ``run_dir`` and audit the run.

    Parameters
    ----------
    run_dir : path
        The run directory (``run.json``, ``metrics.json`` ... already written).
    recorder : FitScopeRecorder or None
        From :func:`audit_recording`; None skips writing records.
    progress : PhaseProgress, optional
        Shows an "Audit" phase and prints the result line.
    enabled : bool, default True
        False (``--no-audit`` / ``[audit] enabled = false``): records are still
        written (``perpml audit RUN_DIR`` can run later), the audit is not.

    Returns
    -------
    AuditReport or None
        None when not ``enabled``.
    """
    run_dir = Path(run_dir)
    if recorder is not None:
        stop_recording(recorder)
        recorder.write(run_dir)
    if not enabled:
        return None
    if progress is None:
        return audit_run(run_dir)
    with progress.phase("Audit", total=1):
        report = audit_run(run_dir, on_check=lambda n: progress.stage(f"audit: {n}"))
        progress.advance("passed" if report.passed else "FAILED")
    failed = report.checks.loc[~report.checks["passed"], "check"].tolist()
    progress.info(
        "Leakage audit: passed (5 checks)"
        if report.passed
        else f"Leakage audit: FAILED ({', '.join(failed)}); see audit.json"
    )
    return report
