"""The ``perpml`` command line: a thin typer layer over the public functions.

One module per command (or command group); importing them registers them on
:data:`app`. Every command prints a clear one-line error (no traceback) for perpml
errors and exits with status 2.
"""

from __future__ import annotations

from perpml.cli import features, report, run, tune, validate  # noqa: F401  (registers)
from perpml.cli._app import app
from perpml.cli.seed import seed_main

__all__ = ["app", "seed_main"]
