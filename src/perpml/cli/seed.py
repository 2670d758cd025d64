"""``run_full_pipeline.py``: the seed's command, with its flags."""

from __future__ import annotations

import sys

from perpml.cli._app import app, err_console

__all__ = ["seed_main"]


def seed_main(argv: list[str] | None = None) -> None:
    """Entry point of ``run_full_pipeline.py`` with the seed's flags.

    ``--symbol --days --features --mock`` as in the seed; any other ``perpml run``
    option is accepted too.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not {"--mock", "--source", "--config", "--path"} & set(args):
        err_console.print(
            "[bold red]error:[/] no data source: pass --mock for the offline simulator "
            "or --path FILE... for your own data."
        )
        raise SystemExit(2)
    app(["run", *args], prog_name="run_full_pipeline.py")
