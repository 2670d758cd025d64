"""Chronological splits that purge overlapping labels (scikit-learn splitter API).

Why purging: the label of bar ``t`` is the return from ``close(t)`` to ``close(t + h)``,
so it is only known at ``label_end[t] = index[t + h] + interval`` (see
:mod:`perpml.data.schema`). A training row whose ``label_end`` falls inside the test
period carries information about test-period prices; keeping it inflates test scores.

Purge rule (``docs/architecture.md``), with ``test_start`` the open time of the first
test bar and ``embargo`` a non-negative ``pd.Timedelta``:

* a training row **before** the test period is kept only if
  ``label_end < test_start - embargo`` (with ``embargo = 0`` exactly the contract's
  "purged if ``label_end >= test_start``"; a positive embargo leaves an extra gap);
* a training row **after** the test period (rolling / K-fold-like layouts) is kept only
  if its open time is later than the test period's last ``label_end`` plus ``embargo``;
* a ``NaT`` ``label_end`` means the label is never known and is treated as +infinity:
  such a row is always purged from training that precedes a test period.

All indices are **positional** (``X.iloc[idx]``), as scikit-learn expects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from perpml.evaluation import fit_scope
from perpml.exceptions import ConfigError, InsufficientDataError, LeakageError

__all__ = [
    "PurgedTrainTestSplit",
    "PurgedWalkForward",
    "SplitIndices",
    "chronological_split",
    "label_end_from_index",
    "purge_rows",
    "purged_tail_split",
]

_NS = pd.Timedelta(nanoseconds=1)
_INF = np.iinfo(np.int64).max
_INFO_COLUMNS = [
    "fold",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "n_train",
    "n_test",
    "n_purged",
]


# --------------------------------------------------------------------------- helpers
def _check_embargo(embargo: Any) -> pd.Timedelta:
    if embargo is None:
        return pd.Timedelta(0)
    if not isinstance(embargo, pd.Timedelta):
        raise ConfigError(
            f"`embargo` must be a pd.Timedelta, got {type(embargo).__name__} "
            f"{embargo!r}. Pass e.g. embargo=pd.Timedelta('1h')."
        )
    if embargo < pd.Timedelta(0):
        raise ConfigError(
            f"`embargo` must be >= 0, got {embargo!r}. Pass a non-negative pd.Timedelta."
        )
    return embargo


def _time_ns(index: pd.Index, where: str) -> np.ndarray:
    """Open times as int64 ns; refuses unsorted or duplicate times (LeakageError)."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ConfigError(
            f"{where}: X must be indexed by bar open time (a DatetimeIndex), got "
            f"{type(index).__name__}. Pass the feature frame, not .to_numpy()."
        )
    ns = index.as_unit("ns").asi8
    if len(ns) > 1:
        bad = np.flatnonzero(np.diff(ns) <= 0)
        if bad.size:
            raise LeakageError(
                f"{where}: X must be sorted by time with unique timestamps; the order "
                f"breaks at {index[bad[0] + 1]} (after {index[bad[0]]}, {bad.size} "
                "place(s)). Sort with X.sort_index() and drop duplicates first."
            )
    return ns


def _label_end_ns(label_end: Any, index: pd.DatetimeIndex, where: str) -> np.ndarray:
    """``label_end`` aligned to ``index`` as int64 ns, NaT mapped to +infinity."""
    if not isinstance(label_end, pd.Series):
        raise ConfigError(
            f"{where}: `label_end` must be a pd.Series of timestamps indexed like X, got "
            f"{type(label_end).__name__}. Use make_targets(...)['label_end']."
        )
    if not label_end.index.equals(index):
        raise ConfigError(
            f"{where}: `label_end` must be indexed exactly like X ({len(index)} rows "
            f"from {index[:1].tolist()}), got {len(label_end)} rows from "
            f"{label_end.index[:1].tolist()}. Align it: "
            "`label_end = label_end.reindex(X.index)`."
        )
    if not pd.api.types.is_datetime64_any_dtype(label_end.dtype):
        raise ConfigError(
            f"{where}: `label_end` must hold timestamps, got dtype {label_end.dtype}. "
            "Pass the `label_end` column of make_targets."
        )
    if (getattr(label_end.dtype, "tz", None) is None) != (index.tz is None):
        raise ConfigError(
            f"{where}: `label_end` (tz={getattr(label_end.dtype, 'tz', None)}) and X's "
            f"index (tz={index.tz}) must both be UTC-aware. Convert with "
            "`.dt.tz_localize('UTC')`."
        )
    values = pd.DatetimeIndex(label_end).as_unit("ns")
    ns = values.asi8.copy()
    ns[values.isna()] = _INF
    open_ns = index.as_unit("ns").asi8
    bad = np.flatnonzero(ns <= open_ns)
    if bad.size:
        raise LeakageError(
            f"{where}: `label_end` must be after each bar's open time (a label is known "
            f"at the earliest when its bar closes); row {index[bad[0]]} has label_end "
            f"{label_end.iloc[bad[0]]} ({bad.size} row(s)). Use the close time of bar "
            "t + horizon, as make_targets does."
        )
    return ns


def _purge(
    train: np.ndarray,
    test: np.ndarray,
    times: np.ndarray,
    ends: np.ndarray,
    embargo_ns: int,
) -> np.ndarray:
    """Drop training rows whose labels overlap the test period (see module docstring)."""
    test_start = times[test[0]]
    test_last = times[test[-1]]
    finite = ends[test][ends[test] != _INF]
    # The test period's information horizon: its last known label end. If no test label
    # is known, fall back to the last test bar's open time (the least we know).
    test_info_end = int(finite.max()) if finite.size else int(test_last)
    t = times[train]
    e = ends[train]
    before = t < test_start
    after = t > test_last
    keep_before = before & (e < test_start - embargo_ns)
    keep_after = after & (t > test_info_end + embargo_ns)
    return train[keep_before | keep_after]


def _info_row(
    fold: int,
    times_index: pd.DatetimeIndex,
    train: np.ndarray,
    test: np.ndarray,
    n_purged: int,
) -> dict[str, Any]:
    return {
        "fold": fold,
        "train_start": times_index[train[0]] if train.size else pd.NaT,
        "train_end": times_index[train[-1]] if train.size else pd.NaT,
        "test_start": times_index[test[0]],
        "test_end": times_index[test[-1]],
        "n_train": int(train.size),
        "n_test": int(test.size),
        "n_purged": int(n_purged),
    }


def _index_of(X: Any, label_end: pd.Series) -> pd.DatetimeIndex:
    index = getattr(X, "index", None)
    if index is None:
        # Arrays carry no time: trust label_end's index but insist on the same length.
        if len(X) != len(label_end):
            raise ConfigError(
                f"X has {len(X)} rows but `label_end` has {len(label_end)}. Pass X as a "
                "DataFrame indexed by bar open time."
            )
        return label_end.index
    return index


def label_end_from_index(
    index: pd.DatetimeIndex, horizon: int, interval: pd.Timedelta | None = None
) -> pd.Series:
    """Conservative ``label_end`` derived from the index alone.

    Parameters
    ----------
    index : DatetimeIndex of shape (n_bars,)
        Bar open times (UTC), sorted; rows may be missing (e.g. dropped NaN rows).
    horizon : int
        Label horizon ``h`` in bars.
    interval : Timedelta, optional
        Bar length; inferred as the most common spacing when omitted.

    Returns
    -------
    Series of shape (n_bars,), datetime
        ``index[i + h] + interval`` — the close time of the ``h``-th *following row*.
        With missing rows this is at or after the true ``close(t + h)``, so purging on
        it is never too lax. The last ``h`` rows get ``NaT`` (label end unknown, treated
        as +infinity: always purged when a test period follows).
    """
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(
            f"`horizon` must be a positive int (bars), got {horizon!r}. Pass e.g. 12."
        )
    _time_ns(index, "label_end_from_index")
    if interval is None:
        if len(index) < 2:
            raise InsufficientDataError(
                "Cannot infer the bar interval from fewer than 2 rows; pass `interval=`."
            )
        interval = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
    shifted = pd.Series(index, index=index).shift(-horizon) + interval
    return shifted.rename("label_end")


# ------------------------------------------------------------------ walk-forward
class PurgedWalkForward:
    """Walk-forward splitter with purging and embargo (scikit-learn ``split`` API).

    The last ``n_splits * test_size`` rows are cut into ``n_splits`` consecutive,
    non-overlapping test folds in chronological order; each fold trains on rows before
    it (``window="expanding"``: all of them; ``"rolling"``: the ``train_size`` rows just
    before it), minus the rows purged because their labels end inside the test period.

    .. warning::
       Look-ahead. Without a correct ``label_end`` the last ``horizon`` training rows
       of every fold have labels computed from test-period prices. Pass the
       ``label_end`` column of ``make_targets`` (or :func:`label_end_from_index`), keep
       X sorted by time, and fit scalers / selectors on each fold's training rows only.

    Parameters
    ----------
    n_splits : int, default 5
        Number of test folds.
    label_end : Series of shape (n_bars,), datetime UTC
        When each row's label becomes known; indexed exactly like X.
    embargo : Timedelta, default 0
        Extra gap between a training label end and a test period (both sides).
    window : {"expanding", "rolling"}, default "expanding"
    train_size : int, optional
        Rows in the rolling window (default: the initial training block). With either
        window it also sets the default ``test_size = (n - train_size) // n_splits``.
    test_size : int, optional
        Rows per test fold; default ``n // (n_splits + 1)``.
    min_train_size : int, optional
        Minimum training rows after purging; fewer raise InsufficientDataError
        (default 1).

    Attributes
    ----------
    last_split_info_ : list of dict
        Set by :meth:`split`: one dict per fold with ``fold, train_start, train_end,
        test_start, test_end, n_train, n_test, n_purged``.
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        label_end: pd.Series,
        embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
        window: Literal["expanding", "rolling"] = "expanding",
        train_size: int | None = None,
        test_size: int | None = None,
        min_train_size: int | None = None,
    ) -> None:
        self.n_splits = n_splits
        self.label_end = label_end
        self.embargo = embargo
        self.window = window
        self.train_size = train_size
        self.test_size = test_size
        self.min_train_size = min_train_size

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of folds ``split`` yields."""
        return int(self.n_splits)

    def _layout(self, n: int) -> tuple[int, int, int | None]:
        """Return (first_test_start, test_size, rolling_window) after validation."""
        where = "PurgedWalkForward"
        if not isinstance(self.n_splits, int | np.integer) or self.n_splits < 1:
            raise ConfigError(
                f"{where}: `n_splits` must be an int >= 1, got {self.n_splits!r}."
            )
        if self.window not in ("expanding", "rolling"):
            raise ConfigError(
                f"{where}: `window` must be 'expanding' or 'rolling', got "
                f"{self.window!r}."
            )
        for name in ("train_size", "test_size", "min_train_size"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int | np.integer) or value < 1
            ):
                raise ConfigError(
                    f"{where}: `{name}` must be a positive int or None, got {value!r}."
                )
        if self.test_size is not None:
            test_size = int(self.test_size)
        elif self.train_size is not None:
            test_size = (n - int(self.train_size)) // self.n_splits
        else:
            test_size = n // (self.n_splits + 1)
        first = n - self.n_splits * test_size
        if (
            test_size < 1
            or first < 1
            or (self.train_size is not None and first < self.train_size)
        ):
            raise InsufficientDataError(
                f"{where}: {n} rows cannot hold a training block"
                f"{'' if self.train_size is None else f' of {self.train_size} rows'} "
                f"plus {self.n_splits} test folds of {max(test_size, 0)} rows. Use more "
                "data, fewer `n_splits` or a smaller `test_size`/`train_size`."
            )
        rolling = None
        if self.window == "rolling":
            rolling = int(self.train_size) if self.train_size is not None else first
        return first, test_size, rolling

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield positional ``(train_idx, test_idx)`` per fold, oldest fold first.

        Parameters
        ----------
        X : DataFrame of shape (n_bars, n_features), indexed by bar open time (UTC)
            Must be sorted ascending with unique timestamps.
        y, groups : ignored
            Present for scikit-learn compatibility.

        Raises
        ------
        LeakageError
            X unsorted / duplicated, or a ``label_end`` not after its bar's open time.
        ConfigError
            ``label_end`` misaligned, bad parameters.
        InsufficientDataError
            Too few rows, or a fold left with fewer than ``min_train_size`` rows.
        """
        where = "PurgedWalkForward.split"
        embargo_ns = int(_check_embargo(self.embargo) / _NS)
        index = _index_of(X, self.label_end)
        times = _time_ns(index, where)
        ends = _label_end_ns(self.label_end, index, where)
        self._layout(len(times))  # validate before the first fold is asked for
        self.last_split_info_: list[dict[str, Any]] = []
        with fit_scope.scope("walk_forward"):
            yield from self._folds(index, times, ends, embargo_ns, where)

    def _folds(
        self,
        index: pd.DatetimeIndex,
        times: np.ndarray,
        ends: np.ndarray,
        embargo_ns: int,
        where: str,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        first, test_size, rolling = self._layout(len(times))
        min_train = 1 if self.min_train_size is None else int(self.min_train_size)
        for fold in range(self.n_splits):
            start = first + fold * test_size
            test = np.arange(start, start + test_size)
            lo = 0 if rolling is None else max(0, start - rolling)
            candidates = np.arange(lo, start)
            train = _purge(candidates, test, times, ends, embargo_ns)
            if train.size < min_train:
                raise InsufficientDataError(
                    f"{where}: fold {fold} keeps {train.size} training rows after "
                    f"purging {candidates.size - train.size} (need >= {min_train}). "
                    "Use more data, a shorter horizon/embargo or fewer folds."
                )
            self.last_split_info_.append(
                _info_row(fold, index, train, test, candidates.size - train.size)
            )
            recorder = fit_scope.active_recorder()
            if recorder is None:
                yield train, test
                continue
            # The caller's loop body runs inside this fold's scope, so what it fits
            # is checked against this fold's training rows (fit_scope docstring).
            depth = recorder.push(f"fold{fold}")
            try:
                fit_scope.record_split(
                    "PurgedWalkForward",
                    times,
                    ends,
                    train,
                    test,
                    embargo_ns=embargo_ns,
                    reference=True,
                    part=f"fold{fold}",
                )
                yield train, test
            finally:
                recorder.pop_to(depth)

    def split_info(self, X: Any) -> pd.DataFrame:
        """Fold table (``fold, train_start, ... , n_purged``) without keeping indices."""
        for _ in self.split(X):
            pass
        return pd.DataFrame(self.last_split_info_, columns=_INFO_COLUMNS)


# ------------------------------------------------------------- train/val/test
@dataclass(frozen=True)
class SplitIndices:
    """Positional indices of a chronological train / validation / test split.

    Attributes
    ----------
    train, val, test : ndarray of int
        Positional rows; ``train`` < ``val`` < ``test`` in time, each purged against
        every later period.
    info : DataFrame
        One row per period (``train``, ``val``, ``test``) with start, end, rows and
        ``n_purged`` (rows dropped from that period because their labels overlap a
        later one).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    info: pd.DataFrame


def _check_fraction(name: str, value: Any, allow_zero: bool) -> float:
    ok = isinstance(value, float | int) and math.isfinite(value)
    ok = ok and (0 <= value < 1 if allow_zero else 0 < value < 1)
    if not ok:
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise ConfigError(f"`{name}` must be a number in {bound}, got {value!r}.")
    return float(value)


def chronological_split(
    X: Any,
    *,
    label_end: pd.Series,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
) -> SplitIndices:
    """Split rows chronologically into purged train / validation / test periods.

    The last ``test_fraction`` of rows is the test period, the ``val_fraction`` before
    it the validation period, the rest training. Validation rows whose labels end at or
    after ``test_start - embargo`` are purged; training rows whose labels end at or
    after ``val_start - embargo`` (hence also the test start) are purged.

    .. warning::
       Look-ahead. Use validation only for early stopping / model choice and report the
       test period once; fit scalers and selectors on ``train`` only.

    Parameters
    ----------
    X : DataFrame of shape (n_bars, n_features), indexed by bar open time (UTC), sorted
    label_end : Series of shape (n_bars,), datetime UTC, indexed like X
    val_fraction : float in [0, 1), default 0.15
        0 gives an empty validation period.
    test_fraction : float in (0, 1), default 0.15
    embargo : Timedelta, default 0

    Returns
    -------
    SplitIndices
    """
    where = "chronological_split"
    embargo_ns = int(_check_embargo(embargo) / _NS)
    val_fraction = _check_fraction("val_fraction", val_fraction, allow_zero=True)
    test_fraction = _check_fraction("test_fraction", test_fraction, allow_zero=False)
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            f"`val_fraction + test_fraction` must be < 1, got {val_fraction} + "
            f"{test_fraction}. Leave rows for training."
        )
    index = _index_of(X, label_end)
    times = _time_ns(index, where)
    ends = _label_end_ns(label_end, index, where)
    n = len(times)
    n_test = math.ceil(n * test_fraction)
    n_val = math.ceil(n * val_fraction) if val_fraction > 0 else 0
    n_train = n - n_val - n_test
    if n_test < 1 or n_train < 1:
        raise InsufficientDataError(
            f"{where}: {n} rows are too few for the fractions val={val_fraction}, "
            f"test={test_fraction}. Use more data."
        )
    test = np.arange(n - n_test, n)
    val_all = np.arange(n_train, n - n_test)
    val = _purge(val_all, test, times, ends, embargo_ns) if n_val else val_all
    # Training must not overlap whichever period comes next (val, or test if no val).
    nxt = val_all if n_val else test
    train_all = np.arange(0, n_train)
    train = _purge(train_all, nxt, times, ends, embargo_ns)
    if train.size == 0:
        raise InsufficientDataError(
            f"{where}: no training rows left after purging {n_train}. Use more data or "
            "a shorter horizon/embargo."
        )
    for part, a, b, reference in (
        ("train|val", train, val_all, True),
        ("val|test", val, test, False),
        ("train|test", train, test, False),
    ):
        if n_val or part == "train|test":
            fit_scope.record_split(
                where,
                times,
                ends,
                a,
                b,
                embargo_ns=embargo_ns,
                reference=reference or not n_val,
                part=part,
            )
    rows = []
    for name, kept, total in (
        ("train", train, n_train),
        ("val", val, n_val),
        ("test", test, n_test),
    ):
        rows.append(
            {
                "period": name,
                "start": index[kept[0]] if kept.size else pd.NaT,
                "end": index[kept[-1]] if kept.size else pd.NaT,
                "n_rows": int(kept.size),
                "n_purged": int(total - kept.size),
            }
        )
    return SplitIndices(train=train, val=val, test=test, info=pd.DataFrame(rows))


class PurgedTrainTestSplit:
    """One chronological, purged train/test split as a scikit-learn splitter.

    The last ``test_fraction`` of rows is the test set; training rows whose labels end
    at or after ``test_start - embargo`` are purged. For a validation period too use
    :func:`chronological_split`.

    .. warning::
       Look-ahead: pass a correct ``label_end`` and keep X sorted by time.

    Parameters
    ----------
    test_fraction : float in (0, 1), default 0.2
    label_end : Series of shape (n_bars,), datetime UTC, indexed like X
    embargo : Timedelta, default 0
    """

    def __init__(
        self,
        test_fraction: float = 0.2,
        *,
        label_end: pd.Series,
        embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
    ) -> None:
        self.test_fraction = test_fraction
        self.label_end = label_end
        self.embargo = embargo

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Always 1."""
        return 1

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one positional ``(train_idx, test_idx)`` pair."""
        parts = chronological_split(
            X,
            label_end=self.label_end,
            val_fraction=0.0,
            test_fraction=self.test_fraction,
            embargo=self.embargo,
        )
        index = _index_of(X, self.label_end)
        self.last_split_info_ = [
            _info_row(
                0, index, parts.train, parts.test, int(parts.info["n_purged"].iloc[0])
            )
        ]
        yield parts.train, parts.test


def purged_tail_split(
    train_idx: np.ndarray,
    label_end: pd.Series,
    fraction: float = 0.15,
    embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
) -> tuple[np.ndarray, np.ndarray]:
    """Split a training fold into a fit part and an early-stopping tail.

    The early-stopping set is the last ``ceil(fraction * len(train_idx))`` rows of the
    **training period** — never the test period, which must stay unseen until scoring.
    Fit rows whose labels end at or after the tail's first open time minus ``embargo``
    are purged.

    Parameters
    ----------
    train_idx : ndarray of int
        Positional training rows (e.g. from :meth:`PurgedWalkForward.split`), ascending.
    label_end : Series of shape (n_bars,), datetime UTC
        ``label_end`` of the **whole** X the positions refer to.
    fraction : float in (0, 1), default 0.15
    embargo : Timedelta, default 0

    Returns
    -------
    fit_idx, early_stop_idx : ndarray of int
        Positional rows into the same X.

    Raises
    ------
    InsufficientDataError
        Fewer than 2 rows, or no fit rows left after purging.
    """
    where = "purged_tail_split"
    fraction = _check_fraction("fraction", fraction, allow_zero=False)
    embargo_ns = int(_check_embargo(embargo) / _NS)
    idx = np.asarray(train_idx, dtype=np.int64)
    if idx.ndim != 1 or (idx.size > 1 and (np.diff(idx) <= 0).any()):
        raise LeakageError(
            f"{where}: `train_idx` must be a 1-D ascending array of positions (time "
            "order). Pass the training indices as yielded by the splitter."
        )
    if idx.size < 2:
        raise InsufficientDataError(
            f"{where}: need >= 2 training rows to carve an early-stopping tail, got "
            f"{idx.size}."
        )
    index = label_end.index
    times = _time_ns(index, where)
    ends = _label_end_ns(label_end, index, where)
    if idx[0] < 0 or idx[-1] >= len(times):
        raise ConfigError(
            f"{where}: `train_idx` positions must lie in [0, {len(times)}), got "
            f"[{idx[0]}, {idx[-1]}]. Pass positions into the X that label_end indexes."
        )
    n_tail = min(max(1, math.ceil(idx.size * fraction)), idx.size - 1)
    tail = idx[-n_tail:]
    head = _purge(idx[:-n_tail], tail, times, ends, embargo_ns)
    fit_scope.record_split(
        where, times, ends, head, tail, embargo_ns=embargo_ns, reference=False
    )
    if head.size == 0:
        raise InsufficientDataError(
            f"{where}: no fit rows left after purging against the early-stopping tail "
            f"({idx.size} training rows). Use more data or a smaller `fraction`."
        )
    return head, tail


def purge_rows(
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    label_end: pd.Series,
    embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
    *,
    kind: str = "purge_rows",
) -> np.ndarray:
    """Drop the rows of ``train_idx`` whose labels overlap the rows ``test_idx``.

    The module's purge rule for an arbitrary pair of row sets (e.g. the earlier
    out-of-fold blocks against the block that checks a stacking ensemble).

    Parameters
    ----------
    train_idx, test_idx : ndarray of int
        Positional rows, ascending; ``test_idx`` non-empty.
    label_end : Series of shape (n_bars,), datetime UTC
        ``label_end`` of the whole X the positions refer to (its index = open times).
    embargo : Timedelta, default 0
    kind : str
        Name under which the split is recorded for the leakage audit
        (:mod:`perpml.evaluation.fit_scope`); it is a reference split there.

    Returns
    -------
    ndarray of int
        The kept rows of ``train_idx``.
    """
    where = "purge_rows"
    embargo_ns = int(_check_embargo(embargo) / _NS)
    index = label_end.index
    times = _time_ns(index, where)
    ends = _label_end_ns(label_end, index, where)
    train = np.asarray(train_idx, dtype=np.int64)
    test = np.asarray(test_idx, dtype=np.int64)
    if test.size == 0:
        raise ConfigError(
            f"{where}: `test_idx` is empty; pass the rows to purge against."
        )
    kept = _purge(train, test, times, ends, embargo_ns)
    fit_scope.record_split(
        kind, times, ends, kept, test, embargo_ns=embargo_ns, reference=True
    )
    return kept
