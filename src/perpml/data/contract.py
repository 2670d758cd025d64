"""The market-data contract: :func:`validate_market_data`.

A market frame is valid when it has the shape described in :mod:`perpml.data.schema`:
a sorted, unique, regularly spaced UTC ``DatetimeIndex`` of bar open times, every
required column present, numeric and complete, optional columns numeric (NaN allowed,
meaning "not known at that bar"), no infinities, positive prices, consistent OHLC and
non-negative volumes.

Column values are checked declaratively with a pandera ``DataFrameSchema`` (lazy, so
every failing check is reported at once); the index and the column set are checked
here directly because their failures need bar-level explanations (gaps, spacing).

Every problem becomes one :class:`Violation` with a fixed reason code; the raised
:class:`~perpml.exceptions.DataContractError` carries all of them.

Reason codes
------------
``not_a_dataframe``, ``index_type``, ``naive_timestamp``, ``non_utc``, ``unsorted``,
``duplicate``, ``irregular_spacing``, ``gap``, ``missing_column``, ``unknown_column``,
``dtype``, ``nan``, ``inf``, ``non_positive_price``, ``high_low``,
``negative_volume``, ``implausible_funding``, ``price_jump``, ``too_few_rows``;
file sources add ``close_time`` (klines stamped by close time).

Plausibility
------------
``implausible_funding`` and ``price_jump`` refuse values no market produces; the
limits, and the warnings for merely suspicious values, are in
:mod:`perpml.data.plausibility`.

Too few rows
------------
When ``too_few_rows`` is among the violations the error raised is
:class:`InsufficientMarketDataError`, which subclasses **both**
:class:`~perpml.exceptions.DataContractError` and
:class:`~perpml.exceptions.InsufficientDataError`; callers may catch either, and the
error still lists every other violation found.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from perpml.data.schema import (
    CANONICAL_COLUMNS,
    INTERVALS,
    OPTIONAL_COLUMNS,
    PRICE_COLUMNS,
    REQUIRED_COLUMNS,
    interval_to_timedelta,
)
from perpml.exceptions import ConfigError, DataContractError, InsufficientDataError

__all__ = [
    "NON_NEGATIVE_COLUMNS",
    "REASONS",
    "InsufficientMarketDataError",
    "Violation",
    "check_market_data",
    "validate_market_data",
]

#: Columns that count things or amounts and so can never be negative.
NON_NEGATIVE_COLUMNS: tuple[str, ...] = (
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "open_interest",
    "open_interest_value",
    "liquidation_long_volume",
    "liquidation_short_volume",
    "liquidation_count",
)

#: Every reason code a :class:`Violation` can carry.
REASONS: tuple[str, ...] = (
    "not_a_dataframe",
    "index_type",
    "naive_timestamp",
    "non_utc",
    "unsorted",
    "duplicate",
    "irregular_spacing",
    "gap",
    "missing_column",
    "unknown_column",
    "dtype",
    "nan",
    "inf",
    "non_positive_price",
    "high_low",
    "negative_volume",
    "implausible_funding",
    "price_jump",
    "close_time",
    "too_few_rows",
)


_MAX_SHOWN = 5
_UTC_NAMES = frozenset({"UTC", "ETC/UTC", "Z", "ZULU", "UCT", "ETC/UCT"})


class InsufficientMarketDataError(DataContractError, InsufficientDataError):
    """The frame has fewer rows than required (possibly among other violations).

    Catchable as :class:`~perpml.exceptions.DataContractError` and as
    :class:`~perpml.exceptions.InsufficientDataError`.
    """


@dataclass(frozen=True)
class Violation:
    """One broken rule of the market-data contract.

    Parameters
    ----------
    reason : str
        One of :data:`REASONS`.
    column : str or None
        The offending column, or None for index / frame-level problems.
    count : int
        How many rows (or bars, for ``gap``) are affected.
    first_bad : tuple of pandas.Timestamp
        Up to five offending bar open times (empty when not applicable).
    fix : str
        How to repair it.
    detail : str
        What must hold and what was got.
    """

    reason: str
    column: str | None
    count: int
    first_bad: tuple[pd.Timestamp, ...]
    fix: str
    detail: str = ""

    def describe(self) -> str:
        """One human-readable paragraph: rule, what was got, where, fix."""
        where = f" column {self.column!r}" if self.column is not None else ""
        shown = ", ".join(str(t) for t in self.first_bad)
        at = f"; first at: {shown}" if shown else ""
        return f"[{self.reason}]{where}: {self.detail} (count={self.count}{at}). Fix: {self.fix}"


def _first(stamps: Sequence[object] | pd.Index) -> tuple[pd.Timestamp, ...]:
    """Up to five offending timestamps (non-timestamp labels are not reported)."""
    out: list[pd.Timestamp] = []
    for stamp in stamps:
        if isinstance(stamp, pd.Timestamp) and stamp not in out:
            out.append(stamp)
        if len(out) == _MAX_SHOWN:
            break
    return tuple(out)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(
        series.dtype
    ) and not pd.api.types.is_bool_dtype(series.dtype)


# --- index ------------------------------------------------------------------------


def _check_index(frame: pd.DataFrame, interval: str | None) -> list[Violation]:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        return [
            Violation(
                "index_type",
                None,
                len(frame),
                (),
                "Set the bar open time as index, e.g. "
                "`frame = frame.set_index(pd.to_datetime(frame['timestamp'], unit='ms', "
                "utc=True)).drop(columns='timestamp')`.",
                f"the index must be a pandas DatetimeIndex of bar open times; got "
                f"{type(index).__name__} of dtype {index.dtype}",
            )
        ]
    out: list[Violation] = []
    if index.tz is None:
        out.append(
            Violation(
                "naive_timestamp",
                None,
                len(index),
                _first(index),
                "If the times are UTC: `frame.index = frame.index.tz_localize('UTC')`.",
                "the index must be tz-aware UTC; got tz-naive timestamps",
            )
        )
    elif str(index.tz).upper() not in _UTC_NAMES:
        out.append(
            Violation(
                "non_utc",
                None,
                len(index),
                _first(index),
                "`frame.index = frame.index.tz_convert('UTC')`.",
                f"the index must be in UTC; got time zone {index.tz}",
            )
        )
    values = index.asi8
    backwards = np.flatnonzero(values[1:] < values[:-1]) + 1
    if backwards.size:
        out.append(
            Violation(
                "unsorted",
                None,
                int(backwards.size),
                _first(index[backwards]),
                "`perpml.data.sort_bars(frame)`.",
                "bar open times must increase; got times earlier than the row before",
            )
        )
    dup_mask = index.duplicated(keep="first")
    if dup_mask.any():
        differ = _differing_copies(frame, index)
        if differ:
            copies = (
                f"; {len(differ)} of them with copies that differ (e.g. "
                f"{differ[0]}), so one copy is wrong"
            )
            fix = (
                "Find out which copy is right and delete the others from the source; "
                "`perpml.data.drop_duplicate_bars(frame, keep='last')` keeps the "
                "latest row of each bar."
            )
        else:
            copies = "; every copy is identical, so dropping the repeats loses nothing"
            fix = "`perpml.data.drop_duplicate_bars(frame, keep='last')`."
        out.append(
            Violation(
                "duplicate",
                None,
                int(dup_mask.sum()),
                _first(index[dup_mask]),
                fix,
                f"each bar open time must appear once; got repeated times{copies}",
            )
        )
    out.extend(_check_spacing(index, interval))
    return out


def _differing_copies(frame: pd.DataFrame, index: pd.Index) -> list[str]:
    """Repeated bar times whose rows differ, as ``"TIME: col a vs b"`` (up to five)."""
    repeated = frame.loc[index.duplicated(keep=False)]
    out: list[str] = []
    for stamp, rows in repeated.groupby(level=0, sort=True):
        for col in rows.columns:
            values = rows[col]
            if values.nunique(dropna=False) > 1:
                shown = " vs ".join(repr(v) for v in values.iloc[:3].tolist())
                when = stamp.isoformat() if isinstance(stamp, pd.Timestamp) else stamp
                out.append(f"{when}: {col} {shown}")
                break
        if len(out) == _MAX_SHOWN:
            break
    return out


def _check_spacing(index: pd.DatetimeIndex, interval: str | None) -> list[Violation]:
    unique = index.unique().sort_values().as_unit("ns")
    if len(unique) < 2:
        return []
    diffs = unique[1:] - unique[:-1]
    if interval is None:
        mode = pd.Series(diffs).mode().iloc[0]
        names = [name for name, length in INTERVALS.items() if length == mode]
        if not names:
            return [
                Violation(
                    "irregular_spacing",
                    None,
                    len(diffs),
                    _first(unique[1:]),
                    "Resample to a supported interval, or pass --interval (config key [data] interval; `interval=` in Python).",
                    f"the most common bar spacing must be one of {', '.join(INTERVALS)}; "
                    f"got {mode}",
                )
            ]
        interval = names[0]
    step = interval_to_timedelta(interval).value
    gaps_ns = np.asarray(diffs.asi8, dtype="int64")
    # Both ends may be unaligned; a diff that is not a multiple of the step means the
    # bars are not on one grid at all (mixed intervals, shifted bars).
    irregular = np.flatnonzero(gaps_ns % step != 0)
    out: list[Violation] = []
    if irregular.size:
        got = sorted(
            {str(pd.Timedelta(int(g))) for g in gaps_ns[irregular][:_MAX_SHOWN]}
        )
        out.append(
            Violation(
                "irregular_spacing",
                None,
                int(irregular.size),
                _first(unique[irregular + 1]),
                f"Make sure every bar is a {interval} bar on one time grid (resample, or "
                "drop the stray rows); pass the right `interval=` if it was wrong.",
                f"bar spacing must be a multiple of {interval}; got spacings {', '.join(got)}",
            )
        )
    gap_pos = np.flatnonzero((gaps_ns % step == 0) & (gaps_ns > step))
    if gap_pos.size:
        missing = int(((gaps_ns[gap_pos] // step) - 1).sum())
        first_missing = unique[gap_pos] + pd.Timedelta(step, unit="ns")
        out.append(
            Violation(
                "gap",
                None,
                missing,
                _first(first_missing),
                "Insert the missing bars explicitly with "
                "`perpml.data.fill_gaps(frame, policy='flat')` (or policy='drop_before', "
                "keeping only the data after the last gap); from files, "
                "`perpml run --gaps flat` or load_market_data('file', ..., gaps='flat').",
                f"every {interval} bar between the first and the last must be present; "
                f"got {missing} missing bar(s) in {gap_pos.size} gap(s)",
            )
        )
    return out


# --- columns ----------------------------------------------------------------------


def _check_columns(frame: pd.DataFrame) -> tuple[list[Violation], list[str]]:
    """Column-set and dtype problems, plus the numeric columns pandera may check."""
    out: list[Violation] = []
    n = len(frame)
    names = [str(c) for c in frame.columns]
    for col in REQUIRED_COLUMNS:
        if col not in names:
            out.append(
                Violation(
                    "missing_column",
                    col,
                    n,
                    (),
                    f"Add a numeric {col!r} column (or rename yours to it).",
                    f"required columns are {', '.join(REQUIRED_COLUMNS)}; got none named "
                    f"{col!r}",
                )
            )
    lowered = {c.lower(): c for c in CANONICAL_COLUMNS}
    for col in names:
        if col in CANONICAL_COLUMNS:
            continue
        guess = lowered.get(col.lower().strip())
        if guess is None:
            close = difflib.get_close_matches(
                col.lower(), CANONICAL_COLUMNS, n=1, cutoff=0.6
            )
            guess = close[0] if close else None
        fix = (
            f"Rename it: `frame.rename(columns={{{col!r}: {guess!r}}})`."
            if guess
            else f"Drop it (`frame.drop(columns=[{col!r}])`) or keep it in a separate frame."
        )
        out.append(
            Violation(
                "unknown_column",
                col,
                n,
                (),
                fix,
                "columns must be canonical names (perpml.data.CANONICAL_COLUMNS); got "
                f"{col!r}" + (f", did you mean {guess!r}?" if guess else ""),
            )
        )
    if frame.columns.duplicated().any():
        dups = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        out.append(
            Violation(
                "duplicate",
                dups[0],
                len(dups),
                (),
                "Keep one column per name.",
                f"each column name must appear once; got repeated columns {dups}",
            )
        )
        return out, []
    numeric: list[str] = []
    for col in names:
        if col not in CANONICAL_COLUMNS:
            continue
        series = frame[col]
        if _is_numeric(series):
            numeric.append(col)
            continue
        out.append(
            Violation(
                "dtype",
                col,
                n,
                (),
                f"Convert it: `frame[{col!r}] = pd.to_numeric(frame[{col!r}])` "
                "(float64 is the canonical dtype).",
                f"column must be numeric (float64); got dtype {series.dtype}",
            )
        )
    return out, numeric


# --- values (pandera) -------------------------------------------------------------

_FIXES: dict[str, Callable[[str | None], str]] = {
    "nan": lambda c: (
        f"Required columns cannot be unknown. If bars are missing, drop the rows and "
        f"insert them explicitly with `perpml.data.fill_gaps(frame, policy='flat')`; "
        f"otherwise repair {c!r} at the source."
    ),
    "inf": lambda c: (
        f"Replace infinities in {c!r} at the source (NaN if unknown and optional)."
    ),
    "non_positive_price": lambda c: (
        f"Prices in {c!r} must be > 0; check the file's units and rows."
    ),
    "high_low": lambda c: (
        "Check the column order of the source file (open, high, low, close)."
    ),
    "negative_volume": lambda c: (
        f"{c!r} counts an amount; negative values mean a corrupt row."
    ),
}

_DETAILS: dict[str, str] = {
    "nan": "required columns must have no NaN; got NaN",
    "inf": "values must be finite (or NaN in optional columns); got +/-inf",
    "non_positive_price": "prices must be > 0; got values <= 0",
    "high_low": "each bar needs low <= min(open, close) <= max(open, close) <= high; got bars "
    "breaking it",
    "negative_volume": "volumes, trade counts and open interest must be >= 0; got negatives",
}


def _high_low_ok(frame: pd.DataFrame) -> pd.Series:
    high, low = frame["high"], frame["low"]
    ok = high >= low
    if "open" in frame and "close" in frame:
        body_top = np.fmax(frame["open"], frame["close"])
        body_bottom = np.fmin(frame["open"], frame["close"])
        ok &= (high >= body_top) & (low <= body_bottom)
    # NaN rows are reported as `nan`, not as an OHLC inconsistency.
    return ok | frame[["high", "low"]].isna().any(axis=1)


def _value_schema(numeric: Sequence[str]) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for col in numeric:
        checks = [pa.Check(lambda s: ~np.isinf(s), name="inf")]
        if col in PRICE_COLUMNS:
            checks.append(pa.Check(lambda s: s > 0, name="non_positive_price"))
        if col in NON_NEGATIVE_COLUMNS:
            checks.append(pa.Check(lambda s: s >= 0, name="negative_volume"))
        columns[col] = pa.Column(
            nullable=col in OPTIONAL_COLUMNS, checks=checks, required=True, coerce=False
        )
    frame_checks = []
    if "high" in numeric and "low" in numeric:
        frame_checks.append(pa.Check(_high_low_ok, name="high_low"))
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=False, coerce=False)


def _check_values(frame: pd.DataFrame, numeric: Sequence[str]) -> list[Violation]:
    if not numeric or frame.empty:
        return []
    schema = _value_schema(numeric)
    # pandera checks columns by name; positional index problems (dups) don't matter.
    subset = frame.loc[:, list(numeric)]
    try:
        schema.validate(subset, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    else:
        return []
    out: list[Violation] = []
    cases = cases.assign(reason=cases["check"].replace({"not_nullable": "nan"}))
    for reason in ("nan", "inf", "non_positive_price", "negative_volume", "high_low"):
        part = cases[cases["reason"] == reason]
        if part.empty:
            continue
        groups = (
            [(None, part)] if reason == "high_low" else list(part.groupby("column"))
        )
        for col, rows in groups:
            stamps = pd.Index(rows["index"]).unique()
            column = None if reason == "high_low" else str(col)
            out.append(
                Violation(
                    reason,
                    column,
                    len(stamps),
                    _first(_stamps_like(frame.index, stamps)),
                    _FIXES[reason](column),
                    _DETAILS[reason],
                )
            )
    unexpected = sorted(set(cases["reason"]) - set(_DETAILS))
    if unexpected:  # pragma: no cover - pandera internals changed
        raise DataContractError(
            f"Unexpected pandera failures {unexpected}: {cases.head()}"
        )
    return out


def _stamps_like(index: pd.Index, stamps: pd.Index) -> list[object]:
    # pandera reports index values at microsecond resolution; map back to the frame's.
    if isinstance(index, pd.DatetimeIndex) and len(stamps):
        return list(pd.DatetimeIndex(stamps).as_unit(index.unit))
    return list(stamps)


# --- public -------------------------------------------------------------------------


def check_market_data(
    frame: object, *, interval: str | None = None, min_rows: int = 1
) -> list[Violation]:
    """Return every contract violation of ``frame`` (empty list when valid).

    Same rules and arguments as :func:`validate_market_data`, without raising.
    """
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
        raise ConfigError(f"`min_rows` must be an int >= 0, got {min_rows!r}.")
    if interval is not None:
        interval_to_timedelta(interval)  # ConfigError on unknown interval strings
    if not isinstance(frame, pd.DataFrame):
        return [
            Violation(
                "not_a_dataframe",
                None,
                0,
                (),
                "Pass a pandas DataFrame (e.g. from `perpml.data.load_market_data`).",
                f"the market data must be a pandas DataFrame; got {type(frame).__name__}",
            )
        ]
    violations = _check_index(frame, interval)
    column_violations, numeric = _check_columns(frame)
    violations.extend(column_violations)
    violations.extend(_check_values(frame, numeric))
    if (
        isinstance(frame.index, pd.DatetimeIndex)
        and frame.index.is_monotonic_increasing
    ):
        from perpml.data.plausibility import implausible_values

        violations.extend(implausible_values(frame, numeric))
    if len(frame) < min_rows:
        violations.append(
            Violation(
                "too_few_rows",
                None,
                len(frame),
                (),
                "Load a longer period (a larger --days / [data] days; `days=` in Python) or lower the requirement.",
                f"the frame must have at least {min_rows} row(s); got {len(frame)}",
            )
        )
    return violations


def format_violations(violations: Sequence[Violation], frame: object = None) -> str:
    """Render violations as the multi-line message of a DataContractError."""
    where = ""
    if isinstance(frame, pd.DataFrame):
        where = f" ({len(frame)} rows"
        symbol = frame.attrs.get("symbol")
        source = frame.attrs.get("source")
        where += f", symbol {symbol}" if symbol else ""
        where += f", source {source}" if source else ""
        where += ")"
    head = (
        f"Market data breaks the data contract{where}: {len(violations)} violation(s)."
    )
    lines = [f"  {i}. {v.describe()}" for i, v in enumerate(violations, 1)]
    return "\n".join([head, *lines])


def validate_market_data(
    frame: pd.DataFrame, *, interval: str | None = None, min_rows: int = 1
) -> pd.DataFrame:
    """Check a market frame against the contract; return it unchanged when valid.

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Canonical market frame (see :mod:`perpml.data.schema`). Values in row ``t``
        are known at ``t + interval``.
    interval : str, optional
        Bar length such as ``"5m"``. Inferred from the most common spacing when
        omitted (spacing checks are skipped for frames with fewer than two rows).
    min_rows : int, default 1
        Minimum number of rows.

    Returns
    -------
    DataFrame
        ``frame`` itself (not a copy).

    Raises
    ------
    perpml.exceptions.DataContractError
        Listing every violation (``err.violations``, ``err.reasons``).
    InsufficientMarketDataError
        Instead, when ``too_few_rows`` is among the violations (subclass of both
        ``DataContractError`` and ``InsufficientDataError``).
    perpml.exceptions.ConfigError
        If ``interval`` or ``min_rows`` is invalid.
    """
    violations = check_market_data(frame, interval=interval, min_rows=min_rows)
    if not violations:
        return frame
    message = format_violations(violations, frame)
    if any(v.reason == "too_few_rows" for v in violations):
        raise InsufficientMarketDataError(message, violations)
    raise DataContractError(message, violations)
