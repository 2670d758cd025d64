"""The database options (`--db-url` and the seed's `--db-host ... --db-password`).

Shared by ``perpml run`` / ``run_full_pipeline.py``, ``perpml db`` and
``perpml collect``; :func:`apply_db_options` turns them into ``[database]`` overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpml.config import RunConfig
from perpml.exceptions import ConfigError

__all__ = [
    "DbHostOpt",
    "DbNameOpt",
    "DbPasswordOpt",
    "DbPortOpt",
    "DbUrlOpt",
    "DbUserOpt",
    "apply_db_options",
]

DbUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        help="Market database, postgresql://USER[:PASSWORD]@HOST:PORT/NAME "
        "(default: env PERPML_DB_URL, else the --db-* parts). Implies --source "
        "postgres.",
    ),
]
DbHostOpt = Annotated[
    str | None, typer.Option("--db-host", help="Database host (default localhost).")
]
DbPortOpt = Annotated[
    int | None, typer.Option("--db-port", help="Database port (default 5432).")
]
DbNameOpt = Annotated[
    str | None, typer.Option("--db-name", help="Database name (default trading_db).")
]
DbUserOpt = Annotated[
    str | None, typer.Option("--db-user", help="Database user (default postgres).")
]
DbPasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--db-password",
        help="Database password (never written to the run directory; PGPASSWORD "
        "and ~/.pgpass work too).",
    ),
]


def apply_db_options(
    cfg: RunConfig,
    *,
    url: str | None = None,
    host: str | None = None,
    port: int | None = None,
    name: str | None = None,
    user: str | None = None,
    password: str | None = None,
    source: str | None = None,
    mock: bool = False,
    path: list[Path] | None = None,
    destination: bool = False,
) -> RunConfig:
    """Return ``cfg`` with the database options applied.

    When the database is where data is read from (``destination=False``), any
    database option without ``--source`` / ``--path`` selects ``--source postgres``
    and with ``--mock`` (the simulator) it is a contradiction. ``perpml db load`` and
    ``perpml collect`` write to it (``destination=True``): no implication.
    """
    given = [
        flag
        for flag, value in (
            ("--db-url", url),
            ("--db-host", host),
            ("--db-port", port),
            ("--db-name", name),
            ("--db-user", user),
            ("--db-password", password),
        )
        if value is not None
    ]
    if not given:
        return cfg
    if mock and not destination:
        raise ConfigError(
            f"--mock runs the offline simulator, but {', '.join(given)} name a "
            "database: pass one or the other."
        )
    cfg = cfg.with_overrides(
        "database",
        url=url,
        host=host,
        port=port,
        name=name,
        user=user,
        password=password,
    )
    if source is None and not path and not destination:
        cfg = cfg.with_overrides("data", source="postgres")
    return cfg
