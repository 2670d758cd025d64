"""The pipeline's side of the leakage audit: record while running, audit at the end.

``perpml run`` needs two lines::

    recorder = begin_recording()            # before the data is split
    ...
    audit = record_and_audit(run_dir, recorder, progress=progress, enabled=...)

:func:`begin_recording` starts a :class:`~perpml.evaluation.fit_scope.FitScopeRecorder`
so the splitters, scaler, selectors and stacking meta-model record what they fitted
on; :func:`record_and_audit` stops it, writes ``splits.json`` / ``fit_scopes.json``
and runs :func:`~perpml.evaluation.audit.audit_run` (``audit.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpml.evaluation.audit import AuditReport, audit_run
from perpml.evaluation.fit_scope import (
    FitScopeRecorder,
    start_recording,
    stop_recording,
)

__all__ = ["begin_recording", "record_and_audit"]


def begin_recording() -> FitScopeRecorder:
    """Start recording splits and fits for this run (call before splitting)."""
    return start_recording()


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
        From :func:`begin_recording`; None skips writing records.
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
