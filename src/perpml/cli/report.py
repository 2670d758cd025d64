"""``perpml report``: rebuild a run's HTML report without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpml.cli._app import app, console, err_console, escape, fail
from perpml.exceptions import PerpmlError


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `perpml run`.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Rebuild RUN_DIR/report/model_report.html from a saved run, without retraining.

    Exits 1 when the report was written but the run directory is damaged (a saved
    model or scaler fails its checksum), 2 when no report could be built.
    """
    from perpml.report import build_run_report
    from perpml.report.run_report import ReportIntegrityError

    try:
        path = build_run_report(run_dir, quiet=quiet)
    except ReportIntegrityError as exc:
        console.print(f"Report: {escape(str(exc.path))}")
        for problem in exc.problems:
            err_console.print(f"[bold red]integrity:[/] {escape(problem)}")
        err_console.print(
            "[bold red]error:[/] the run directory is damaged; re-run `perpml run "
            "--overwrite` to rebuild it."
        )
        raise typer.Exit(code=1) from None
    except PerpmlError as exc:
        fail(exc)
        return
    console.print(f"Report: {escape(str(path))}")
