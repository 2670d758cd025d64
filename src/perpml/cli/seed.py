"""``run_full_pipeline.py``: the seed's command, with its flags."""

from __future__ import annotations

import sys

from perpml.cli._app import app

__all__ = ["seed_main"]


def seed_main(argv: list[str] | None = None) -> None:
    """Entry point of ``run_full_pipeline.py`` with the seed's flags.

    ``--symbol --days --features --mock`` as in the seed; any other ``perpml run``
    option is accepted too. As in the seed, without ``--mock`` (or ``--source``,
    ``--path``, ``--config``) the data comes from the Phase 1 market database
    (``--db-url`` / ``PERPML_DB_URL`` or ``--db-host --db-port --db-name --db-user
    --db-password``, default ``localhost:5432/trading_db``); an unreachable database
    stops the run with a message naming the host. ``--mock`` always means the
    simulator: there is no silent fallback either way.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    flags = {a.split("=", 1)[0] for a in args}
    if not {"--mock", "--source", "--config", "--path", "--help"} & flags:
        args = [*args, "--source", "postgres"]
    app(["run", *args], prog_name="run_full_pipeline.py")
