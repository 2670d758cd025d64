"""Progress display for long commands: rich bars on a terminal, lines elsewhere.

On a terminal each phase gets a bar. When stdout is not a terminal (``make run``, CI
logs, ``nohup``) each phase prints one line when it starts and one with its elapsed
time when it ends, so a log never sits silent for a minute. Quiet when asked
(``--quiet``) or when ``PERPML_QUIET=1``: then only :meth:`PhaseProgress.info` lines,
errors and the caller's final summary are printed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["PhaseProgress", "is_quiet"]


def is_quiet(quiet: bool | None = None) -> bool:
    """Decide quiet mode: the explicit flag, else env ``PERPML_QUIET=1``."""
    if quiet is not None:
        return quiet
    return os.environ.get("PERPML_QUIET") == "1"


class PhaseProgress:
    """Phases of a run, each with a bar that advances through its stages.

    Examples
    --------
    >>> progress = PhaseProgress(quiet=True)
    >>> with progress.phase("Phase 1: data", total=1):
    ...     progress.advance("loaded")
    """

    def __init__(self, *, quiet: bool | None = None, console: Console | None = None):
        self.quiet = is_quiet(quiet)
        self.console = console or Console(stderr=False)
        # Not a terminal: plain lines instead of bars (bars would print nothing).
        self.lines = not self.quiet and not (
            console.is_terminal if console is not None else sys.stdout.isatty()
        )
        self.timings: dict[str, float] = {}
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> PhaseProgress:
        if not self.quiet and not self.lines:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[stage]}"),
                console=self.console,
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    @contextmanager
    def phase(self, name: str, total: int) -> Iterator[None]:
        """Show one phase with ``total`` stages; record its wall time."""
        start = time.perf_counter()
        if self._progress is not None:
            self._task = self._progress.add_task(name, total=total, stage="")
        if self.lines:
            self.console.print(f"{name} ...", markup=False, highlight=False)
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)
            if self.lines:
                self.console.print(
                    f"{name}: done in {self.timings[name]:.1f}s",
                    markup=False,
                    highlight=False,
                )
            if self._progress is not None and self._task is not None:
                self._progress.update(
                    self._task, completed=total, stage=f"done in {self.timings[name]}s"
                )
            self._task = None

    def info(self, text: str) -> None:
        """Print one line the user should see even with ``--quiet`` (no markup)."""
        target = self._progress.console if self._progress is not None else self.console
        target.print(text, markup=False, highlight=False, soft_wrap=True)

    def show(self, renderable: object) -> None:
        """Print a rich renderable (a table) the user should see, also with --quiet."""
        target = self._progress.console if self._progress is not None else self.console
        target.print(renderable)

    def warn(self, text: str) -> None:
        """Print a warning line (also with ``--quiet``)."""
        self.info(f"warning: {text}")

    def stage(self, text: str) -> None:
        """Describe what the current phase is doing now (without advancing)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, stage=text)

    def advance(self, text: str = "") -> None:
        """Mark one stage of the current phase done."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, stage=text)
