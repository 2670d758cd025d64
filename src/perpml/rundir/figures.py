"""Atomic PNG writes for figures that go into a run directory (report, backtest)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from perpml.exceptions import ReportError

__all__ = ["DPI", "save_figure"]

#: Resolution of every PNG in a run directory.
DPI = 100


def save_figure(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as PNG to ``path`` atomically (temp file + ``os.replace``), then close it.

    A reader (the HTML builder, a browser) never sees a half-written PNG, and an
    interrupted run leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=DPI, bbox_inches="tight")
        # mkstemp creates 0600 files; reports are meant to be shared/read by others.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(
            f"Could not write the figure {path.name} to {path.parent}: {exc}. "
            "Check that the directory is writable and the disk is not full."
        ) from exc
    finally:
        plt.close(fig)
    return path
