"""Where a study lives: memory, a journal file, or a database any worker can reach.

``open_storage(value)`` accepts what ``perpml tune --storage`` accepts:

* ``None`` / ``"memory"``: in memory; the study ends with the process.
* a file path (``studies/xgb.log``): Optuna's ``JournalStorage`` with a
  ``JournalFileBackend`` — one machine, several processes may share it, and
  re-running with the same study name continues the study;
* a SQLAlchemy URL (``postgresql://user:pw@host/db``, ``sqlite:///x.db``): Optuna's
  ``RDBStorage``. Plain ``postgresql://`` / ``postgres://`` URLs use psycopg 3
  (``postgresql+psycopg://``). Workers on many machines share the study.

With a database the storage runs Optuna's heartbeat: a running trial records a
heartbeat every ``heartbeat_interval`` seconds, and a trial whose heartbeat is older
than ``grace_period`` (default twice the interval) is marked FAIL by the next worker
that starts a trial (or by :func:`fail_stale_trials`) — a killed worker never leaves
a trial RUNNING forever. Journal files have no heartbeat in Optuna; a trial of a
killed process there stays RUNNING (harmless for the search, visible in the summary).
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from perpml.exceptions import ConfigError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "close_storage",
    "fail_stale_trials",
    "normalize_url",
    "open_storage",
    "redact_url",
    "storage_kind",
]

StorageKind = Literal["memory", "journal", "rdb"]


def storage_kind(value: str | Path | None) -> StorageKind:
    """``"memory"``, ``"journal"`` (a file path) or ``"rdb"`` (a URL)."""
    if value is None or str(value) in ("", "memory", ":memory:"):
        return "memory"
    return "rdb" if "://" in str(value) else "journal"


def normalize_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(value: str | Path | None) -> str:
    """The storage as it may be printed or recorded: passwords replaced by ``***``."""
    if value is None:
        return "memory"
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", str(value))


def open_storage(
    value: str | Path | None,
    *,
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
) -> optuna.storages.BaseStorage:
    """Open the storage named by ``value`` (see the module docstring).

    Parameters
    ----------
    value : str, Path or None
    heartbeat_interval : int, default 60
        Seconds between heartbeats of a running trial (databases only).
    grace_period : int, optional
        Seconds without a heartbeat after which a running trial is failed (default
        ``2 * heartbeat_interval``).

    Raises
    ------
    ConfigError
        Unusable URL, unreachable database or unwritable journal file.
    """
    import optuna

    kind = storage_kind(value)
    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    if kind == "journal":
        path = Path(str(value))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            from optuna.storages.journal import JournalFileBackend

            backend = JournalFileBackend(str(path))
        except OSError as exc:
            raise ConfigError(
                f"Cannot open the journal file {str(path)!r}: {exc.strerror or exc}. "
                "Pass a writable path to --storage."
            ) from None
        return optuna.storages.JournalStorage(backend)
    if heartbeat_interval < 1 or (grace_period is not None and grace_period < 1):
        raise ConfigError(
            f"Heartbeat interval and grace period must be >= 1 second, got "
            f"{heartbeat_interval} and {grace_period}. Fix --heartbeat / --grace."
        )
    url = normalize_url(str(value))
    for attempt in range(5):
        try:
            return _rdb_storage(url, heartbeat_interval, grace_period)
        except Exception as exc:  # sqlalchemy raises many types; report them alike
            if _is_creation_race(exc) and attempt < 4:
                # Workers started together on an empty database race to create
                # Optuna's tables; the loser sees "already exists" and retries.
                time.sleep(0.5 * (attempt + 1))
                continue
            if isinstance(exc, ImportError):
                raise ConfigError(
                    f"The database driver for {redact_url(url)!r} is missing ({exc}). "
                    "Install it (PostgreSQL: pip install 'psycopg[binary]') or fix "
                    "--storage."
                ) from None
            text = str(exc).strip()
            first = text.splitlines()[0] if text else repr(exc)
            raise ConfigError(
                f"Cannot open the study database {redact_url(url)!r}: "
                f"{type(exc).__name__}: {redact_url(first)}. Check the URL given to "
                "--storage and that the server is running."
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _rdb_storage(
    url: str, heartbeat_interval: int, grace_period: int | None
) -> optuna.storages.RDBStorage:
    import optuna

    with warnings.catch_warnings():
        # heartbeat_interval / grace_period are flagged experimental by Optuna.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
        )


def _is_creation_race(exc: Exception) -> bool:
    text = str(exc)
    return type(exc).__name__ in ("IntegrityError", "ProgrammingError") and (
        "already exists" in text or "duplicate key" in text
    )


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark RUNNING trials whose heartbeat stopped as FAIL (databases only)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def close_storage(storage: optuna.storages.BaseStorage) -> None:
    """Close a database storage's connections (a no-op for other storages)."""
    backend = getattr(storage, "_backend", storage)  # a study wraps it in a cache
    engine = getattr(backend, "engine", None)
    if engine is not None:
        backend.remove_session()
        engine.dispose()
