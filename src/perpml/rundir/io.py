"""Atomic writes and strict JSON for run-directory files.

Strict JSON: ``NaN`` and infinities become ``null`` (browsers, ``jq`` and most JSON
parsers reject the bare ``NaN`` Python's ``json`` writes by default); timestamps are
ISO 8601; numpy scalars become Python numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.exceptions import ArtifactError

__all__ = [
    "read_json",
    "sha256_file",
    "strict_json",
    "write_json_atomic",
    "write_text_atomic",
]


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder + ``os.replace``.

    A reader sees the old file or the new one, never half of it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; run files are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _plain(value: Any) -> Any:
    """``value`` with NaN/inf → None and numpy/pandas scalars → Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, pd.Timedelta):
        return None if pd.isna(value) else str(value)
    if isinstance(value, Path):
        return str(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def strict_json(payload: Any, *, indent: int | None = 2) -> str:
    """Serialise ``payload`` as strict JSON (no NaN / Infinity tokens)."""
    return json.dumps(_plain(payload), indent=indent, allow_nan=False)


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as strict JSON, atomically."""
    return write_text_atomic(path, strict_json(payload))


def read_json(path: str | Path) -> Any:
    """Read a run-directory JSON file; a missing or broken file raises ArtifactError."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(
            f"Cannot read {path}: the file does not exist. Re-run `perpml run` to "
            "write it."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"Cannot read {path}: {exc}. Re-run `perpml run` to rewrite it."
        ) from None


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
