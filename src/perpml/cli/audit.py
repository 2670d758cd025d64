"""``perpml audit RUN_DIR``: the leakage audit's pass/fail table; exit 1 on a fail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from perpml.cli._app import app, console, escape, fail
from perpml.exceptions import PerpmlError

__all__ = ["audit", "print_audit"]


def print_audit(report) -> None:  # type: ignore[no-untyped-def]
    """Print an :class:`~perpml.evaluation.audit.AuditReport` as a table + verdict."""
    table = Table(title="Leakage audit", box=box.SIMPLE_HEAD)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for row in report.checks.itertuples(index=False):
        table.add_row(
            row.check,
            "[green]pass[/]" if row.passed else "[bold red]FAIL[/]",
            escape(str(row.detail)),
        )
    console.print(table)
    if report.passed:
        console.print("[green]Audit passed[/]: no sign of look-ahead in any check.")
    else:
        console.print(
            "[bold red]Audit FAILED[/]: do not trust this run's scores until the "
            "failing check is explained."
        )


@app.command()
def audit(
    run_dir: Annotated[
        Path, typer.Argument(help="Run directory written by `perpml run`.")
    ],
) -> None:
    """Audit a run for look-ahead: truncation, permutation, overlap, fit scope and
    ceiling checks. Writes RUN_DIR/audit.json; exits 1 if any check fails."""
    from perpml.evaluation.audit import audit_run

    try:
        report = audit_run(run_dir)
    except PerpmlError as exc:
        fail(exc)
        return
    print_audit(report)
    console.print(f"Written: {escape(str(report.run_dir / 'audit.json'))}")
    if not report.passed:
        raise typer.Exit(code=1)
