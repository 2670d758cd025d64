"""``perpml report``: rebuild a run's HTML report without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpml.cli._app import app, console, fail
from perpml.exceptions import PerpmlError


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `perpml run`.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Rebuild RUN_DIR/report/model_report.html from a saved run, without retraining."""
    from perpml.report import build_run_report

    try:
        path = build_run_report(run_dir, quiet=quiet)
    except PerpmlError as exc:
        fail(exc)
        return
    console.print(f"Report: {path}")
