"""The Typer application, its consoles and the one way commands report errors.

Every command prints a clear one-line error (no traceback) for perpml errors and exits
with status 2; unexpected failures keep their traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from perpml.exceptions import PerpmlError

__all__ = ["app", "console", "err_console", "escape", "fail"]

# OMP_WAIT_POLICY is deliberately left to the user. Forcing PASSIVE (as earlier
# versions did) made every LightGBM fit ~7x and every XGBoost fit ~3x slower: their
# OpenMP runtime (the system libgomp, loaded after this module) then puts its threads
# to sleep between the many short parallel regions of each boosting round. Measured on
# the seed command, 2 cores: 90 s with PASSIVE, 65 s without (BENCHMARKS.md, issue 8);
# also with a PyTorch model trained in between. libgomp already throttles its spinning
# when the machine is oversubscribed.

app = typer.Typer(
    name="perpml",
    help=(
        "Machine-learning research on crypto perpetual futures, honestly evaluated.\n\n"
        "Start with `perpml run --mock` (simulated market, no network), then open "
        "RUN_DIR/report/model_report.html."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: rich markup would eat bracketed text such as "[data] max_gap".
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"perpml {version('perpml')}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the perpml version and exit.",
        ),
    ] = False,
) -> None:
    """Machine-learning research on crypto perpetual futures, honestly evaluated.

    Start with `perpml run --mock` (simulated market, no network), then open
    RUN_DIR/report/model_report.html.
    """


# Wide enough for the results table when output is piped (rich assumes 80 columns).
console = Console(width=None if sys.stdout.isatty() else 120)
# Errors are never wrapped mid-sentence, so they stay greppable and copyable.
err_console = Console(stderr=True, soft_wrap=True)


def fail(exc: PerpmlError) -> None:
    """Print a perpml error on one line (markup-escaped) and exit with status 2."""
    err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}")
    raise typer.Exit(code=2)
