"""What was fitted on which rows, and which splits a run used (for the leakage audit).

The audit (:mod:`perpml.evaluation.audit`) cannot trust a pipeline's own account of
its purging: it needs a record made *where the work happens*. The splitters
(:mod:`perpml.evaluation.splits`), the scaler, the feature selectors and the stacking
meta-model call :func:`record_split` / :func:`record_fit` here; while no recorder is
active (the default, e.g. in a notebook) those calls return at once and cost
nothing. ``perpml run`` starts a :class:`FitScopeRecorder` before it splits and
writes ``splits.json`` and ``fit_scopes.json`` into the run directory.

Scopes. Records carry the *scope* they were made in, a ``/``-separated path:
``run`` at the top, ``run/walk_forward#3/fold1`` inside the second fold of the third
walk-forward splitter (:class:`~perpml.evaluation.splits.PurgedWalkForward` opens a
scope per fold while the caller's loop body runs), ``run/stacking_check#5`` while
the ensemble compares stacking with averaging. A fit is checked against the latest
*reference* split (an outer split or a fold, not an early-stopping tail) recorded in
its own scope before it: its rows must all be that split's training rows.

Rows are stored as time ranges: ``[[first, last], ...]`` of consecutive bars (ISO
8601, UTC) with the bar spacing ``step``; a gap of more than one bar starts a new
range, so "every fitted row is a training row" is a comparison of ranges.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FIT_SCOPES_FILE",
    "SPLITS_FILE",
    "FitScopeRecorder",
    "active_recorder",
    "index_ranges",
    "record_fit",
    "record_split",
    "recording",
    "scope",
    "start_recording",
]

SPLITS_FILE = "splits.json"
FIT_SCOPES_FILE = "fit_scopes.json"
#: Label ends / open times kept per split side to count offending rows exactly (a
#: correctly purged split has none; an unpurged one has about horizon + embargo).
_KEEP = 256

_ACTIVE: ContextVar[FitScopeRecorder | None] = ContextVar(
    "perpml_fit_scope_recorder", default=None
)


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def index_ranges(ns: np.ndarray) -> tuple[list[list[str]], int]:
    """Consecutive-bar ranges of sorted int64-ns times, and the bar step (ns).

    The step is the smallest positive spacing; a larger gap starts a new range.
    """
    ns = np.asarray(ns, dtype=np.int64)
    if ns.size == 0:
        return [], 0
    diffs = np.diff(ns)
    positive = diffs[diffs > 0]
    step = int(positive.min()) if positive.size else 0
    breaks = np.flatnonzero(diffs != step) if step else np.arange(ns.size - 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [ns.size - 1]])
    return [[_iso(ns[a]), _iso(ns[b])] for a, b in zip(starts, ends, strict=True)], step


def _times_ns(index: pd.Index) -> np.ndarray:
    if isinstance(index, pd.DatetimeIndex):
        return index.as_unit("ns").asi8
    return np.asarray(index, dtype=np.int64)


@dataclass
class FitScopeRecorder:
    """Collects split and fit records; see the module docstring.

    Attributes
    ----------
    splits : list of dict
        One per recorded split (see :func:`record_split`).
    fits : list of dict
        One per recorded fit (see :func:`record_fit`).
    """

    splits: list[dict[str, Any]] = field(default_factory=list)
    fits: list[dict[str, Any]] = field(default_factory=list)
    _stack: list[str] = field(default_factory=lambda: ["run"])
    _counter: int = 0
    _latest_reference: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ scopes
    @property
    def current_scope(self) -> str:
        """The ``/``-joined path of open scopes."""
        return "/".join(self._stack)

    def next_id(self) -> int:
        """A number unique within this recording (names sub-scopes)."""
        self._counter += 1
        return self._counter

    def push(self, name: str) -> int:
        """Open scope ``name``; returns the depth to :meth:`pop_to`."""
        depth = len(self._stack)
        self._stack.append(name)
        return depth

    def pop_to(self, depth: int) -> None:
        """Close every scope opened after ``depth`` (tolerates a closed one)."""
        del self._stack[max(1, depth) :]

    # ------------------------------------------------------------------ files
    def write(self, run_dir: str | Path) -> tuple[Path, Path]:
        """Write ``splits.json`` and ``fit_scopes.json`` into ``run_dir`` (atomic)."""
        from perpml.rundir.io import write_json_atomic

        out = Path(run_dir)
        return (
            write_json_atomic(out / SPLITS_FILE, self.splits),
            write_json_atomic(out / FIT_SCOPES_FILE, self.fits),
        )


def active_recorder() -> FitScopeRecorder | None:
    """The recorder collecting records in this context, or None."""
    return _ACTIVE.get()


def start_recording() -> FitScopeRecorder:
    """Start a new recorder for this context and return it (replaces an active one).

    Stop with :meth:`stop_recording`; prefer the :func:`recording` context manager
    where one ``with`` block can hold the whole work.
    """
    recorder = FitScopeRecorder()
    _ACTIVE.set(recorder)
    return recorder


def stop_recording(recorder: FitScopeRecorder | None = None) -> None:
    """Stop recording (only if ``recorder`` is the active one, when given)."""
    if recorder is None or _ACTIVE.get() is recorder:
        _ACTIVE.set(None)


@contextlib.contextmanager
def recording() -> Iterator[FitScopeRecorder]:
    """``with recording() as rec:`` records everything inside the block."""
    recorder = FitScopeRecorder()
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def scope(name: str) -> Iterator[str | None]:
    """Open a sub-scope ``name#<n>`` (unique) while recording; no-op otherwise."""
    recorder = _ACTIVE.get()
    if recorder is None:
        yield None
        return
    depth = recorder.push(f"{name}#{recorder.next_id()}")
    try:
        yield recorder.current_scope
    finally:
        recorder.pop_to(depth)


def record_split(
    kind: str,
    times_ns: np.ndarray,
    label_end_ns: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    embargo_ns: int,
    reference: bool,
    part: str = "",
) -> None:
    """Record one (train, test) pair of positional rows into ``times_ns``.

    Parameters
    ----------
    kind : str
        Which splitter (``chronological_split``, ``PurgedWalkForward``,
        ``purged_tail_split``, ``stacking_check`` ...).
    times_ns, label_end_ns : ndarray of int64
        Open times and label ends (ns; an unknown label end is int64 max) of the rows
        the positions refer to.
    train, test : ndarray of int
        Positional training / test rows.
    embargo_ns : int
        The embargo the splitter applied (the audit checks the run's).
    reference : bool
        Whether fits in this scope are checked against this split's training rows
        (outer splits, folds) or not (early-stopping tails).
    part : str
        Which pair of a multi-part split (``train|val`` ...).
    """
    recorder = _ACTIVE.get()
    if recorder is None or len(test) == 0:
        return
    train = np.asarray(train, dtype=np.int64)
    test = np.asarray(test, dtype=np.int64)
    t_train = times_ns[train]
    test_start = int(times_ns[test[0]])
    test_last = int(times_ns[test[-1]])
    ends_test = label_end_ns[test]
    known = ends_test[ends_test != np.iinfo(np.int64).max]
    test_info_end = int(known.max()) if known.size else test_last
    before = train[t_train < test_start]
    after = train[t_train > test_last]
    # Nearest rows to the test period, as offsets in seconds: test_start - label_end
    # (before) and open time - test_info_end (after); <= embargo means overlap.
    before_ends = np.sort(label_end_ns[before])[::-1][:_KEEP]
    gap_before = [
        None if e == np.iinfo(np.int64).max else (test_start - int(e)) / 1e9
        for e in before_ends
    ]
    gap_after = [
        (int(t) - test_info_end) / 1e9 for t in np.sort(times_ns[after])[:_KEEP]
    ]
    train_ranges, step = index_ranges(t_train)
    test_ranges, _ = index_ranges(times_ns[test])
    split_id = recorder.next_id()
    current = recorder.current_scope
    recorder.splits.append(
        {
            "id": split_id,
            "scope": current,
            "kind": kind,
            "part": part,
            "reference": bool(reference),
            "embargo_seconds": embargo_ns / 1e9,
            "n_train": int(train.size),
            "n_test": int(test.size),
            "test_start": _iso(test_start),
            "test_end": _iso(test_last),
            "test_info_end": _iso(test_info_end),
            "n_train_before": int(before.size),
            "n_train_after": int(after.size),
            "gap_before_seconds": gap_before,
            "gap_after_seconds": gap_after,
            "step_seconds": step / 1e9,
            "train_ranges": train_ranges,
            "test_ranges": test_ranges,
        }
    )
    if reference:
        recorder._latest_reference[current] = split_id


def record_fit(step: str, component: str, index: pd.Index) -> None:
    """Record that ``component`` (a ``step``: scaler, selector ...) was fitted on rows
    ``index`` (bar open times), against the latest reference split of this scope."""
    recorder = _ACTIVE.get()
    if recorder is None:
        return
    ns = np.sort(_times_ns(index))
    ranges, step_ns = index_ranges(ns)
    current = recorder.current_scope
    recorder.fits.append(
        {
            "id": recorder.next_id(),
            "scope": current,
            "step": step,
            "component": component,
            "reference": recorder._latest_reference.get(current),
            "n": int(ns.size),
            "first": ranges[0][0] if ranges else None,
            "last": ranges[-1][1] if ranges else None,
            "step_seconds": step_ns / 1e9,
            "ranges": ranges,
        }
    )
