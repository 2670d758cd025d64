"""The ``perpml`` command line: a thin typer layer over the public functions.

One module per command (or command group); importing them registers them on
:data:`app`. Every command prints a clear one-line error (no traceback) for perpml
errors and exits with status 2.
"""

from __future__ import annotations

from perpml.cli import (  # noqa: F401  (importing a command module registers it)
    audit,
    collect,
    db,
    features,
    fetch,
    report,
    run,
    store,
    tune,
    validate,
)
from perpml.cli._app import app
from perpml.cli.seed import seed_main

__all__ = ["app", "seed_main"]
