"""Where the offline store lives: ``--store-dir`` > ``PERPML_STORE_DIR`` > default.

The default sits beside perpml's cache: ``platformdirs.user_cache_dir("perpml")``
plus ``/store`` (``~/.cache/perpml/store`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_STORE_DIR", "default_store_dir", "resolve_store_dir"]

#: Environment variable naming the offline store directory.
ENV_STORE_DIR = "PERPML_STORE_DIR"


def default_store_dir() -> Path:
    """The store directory when neither a path nor ``PERPML_STORE_DIR`` is given."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("perpml")) / "store"


def resolve_store_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return ``path`` if given (non-empty), else ``$PERPML_STORE_DIR``, else the default."""
    if path is not None and str(path):
        return Path(path).expanduser()
    env = os.environ.get(ENV_STORE_DIR)
    if env:
        return Path(env).expanduser()
    return default_store_dir()
