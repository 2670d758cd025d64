"""Explicit repairs of a market frame: missing bars, duplicate bars, ordering.

Nothing here runs automatically: the contract (:func:`perpml.data.validate_market_data`)
names these functions in its fix messages and the user decides. Every repair returns a
new frame and appends a sentence to ``frame.attrs["quality_notes"]`` so the data-quality
report (and the run directory) says what was changed.

Gap policies
------------
``"flat"``
    Insert every missing bar. OHLC = the previous bar's close (a bar with no trades),
    volume-like columns (``volume``, ``quote_volume``, ``trades``, ``taker_buy_*``) = 0,
    state columns (open interest, funding, ratios, mark / index price) = the previous
    bar's value, i.e. carried forward causally and never back-filled. An inserted bar
    therefore only uses information known at its own close.
``"drop_before"``
    Keep only the bars after the last gap (the longest gap-free tail ending at the last
    bar); nothing is invented.

There is no ``"nan"`` policy: required columns may never be NaN, so bars with unknown
prices cannot be represented in a valid frame.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from perpml.data.schema import INDEX_NAME, infer_interval, interval_to_timedelta
from perpml.exceptions import ConfigError, DataContractError

__all__ = [
    "VOLUME_LIKE_COLUMNS",
    "add_quality_note",
    "drop_duplicate_bars",
    "fill_gaps",
    "sort_bars",
]

#: Columns that are flows over the bar (zero when nothing traded).
VOLUME_LIKE_COLUMNS: tuple[str, ...] = (
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)

GapPolicy = Literal["flat", "drop_before"]
_POLICIES: tuple[str, ...] = ("flat", "drop_before")


def add_quality_note(frame: pd.DataFrame, note: str) -> None:
    """Append ``note`` to ``frame.attrs["quality_notes"]`` (a fresh list, in place)."""
    notes = list(frame.attrs.get("quality_notes", []))
    notes.append(note)
    frame.attrs["quality_notes"] = notes


def _require_datetime_index(frame: pd.DataFrame, where: str) -> pd.DatetimeIndex:
    if not isinstance(frame, pd.DataFrame) or not isinstance(
        frame.index, pd.DatetimeIndex
    ):
        got = type(frame).__name__
        if isinstance(frame, pd.DataFrame):
            got = f"DataFrame with {type(frame.index).__name__}"
        raise DataContractError(
            f"`{where}` needs a DataFrame indexed by a DatetimeIndex of bar open times; "
            f"got {got}. Set the index first (see perpml.data.validate_market_data)."
        )
    return frame.index


def sort_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` sorted by bar open time (stable, so equal times keep order).

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time

    Returns
    -------
    DataFrame
        A sorted copy; a quality note records how many rows moved.
    """
    index = _require_datetime_index(frame, "sort_bars")
    order = np.argsort(index.asi8, kind="stable")
    moved = int((order != np.arange(len(order))).sum())
    out = frame.iloc[order].copy()
    out.attrs = dict(frame.attrs)
    if moved:
        add_quality_note(
            out, f"sort_bars: {moved} row(s) were out of time order and moved."
        )
    return out


def drop_duplicate_bars(
    frame: pd.DataFrame, keep: Literal["first", "last"] = "last"
) -> pd.DataFrame:
    """Return ``frame`` with one row per bar open time.

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time
    keep : {"last", "first"}, default "last"
        Which copy to keep. ``"last"`` suits appended downloads, where a later copy of
        a bar replaces a partial one collected while the bar was still open.

    Returns
    -------
    DataFrame
        A copy without repeated times; a quality note records how many were dropped.
    """
    if keep not in ("first", "last"):
        raise ConfigError(f"`keep` must be 'first' or 'last', got {keep!r}.")
    index = _require_datetime_index(frame, "drop_duplicate_bars")
    dup = index.duplicated(keep=keep)
    out = frame.loc[~dup].copy()
    out.attrs = dict(frame.attrs)
    if dup.any():
        first = index[dup][0]
        add_quality_note(
            out,
            f"drop_duplicate_bars(keep={keep!r}): dropped {int(dup.sum())} repeated bar(s), "
            f"first at {first.isoformat()}.",
        )
    return out


def fill_gaps(
    frame: pd.DataFrame,
    policy: GapPolicy = "flat",
    *,
    interval: str | None = None,
    max_gap: int | None = None,
) -> pd.DataFrame:
    """Repair missing bars explicitly.

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Sorted, unique market frame whose spacing is a multiple of ``interval``.
    policy : {"flat", "drop_before"}, default "flat"
        See the module docstring. ``"flat"`` inserts bars; ``"drop_before"`` keeps
        only the bars after the last gap.
    interval : str, optional
        Bar length; inferred from the most common spacing when omitted.
    max_gap : int, optional
        Largest number of consecutive missing bars ``"flat"`` may insert. A longer
        gap raises instead of inventing a long flat stretch.

    Returns
    -------
    DataFrame of shape (n_bars_out, n_columns)
        A new frame on the complete grid (``"flat"``) or the gap-free tail
        (``"drop_before"``); ``attrs["quality_notes"]`` says what was done.

    Raises
    ------
    perpml.exceptions.ConfigError
        Unknown policy, bad ``max_gap`` or ``interval``.
    perpml.exceptions.DataContractError
        The index is not a sorted unique DatetimeIndex on the interval's grid, or a
        gap is longer than ``max_gap``.
    """
    if policy not in _POLICIES:
        raise ConfigError(f"`policy` must be one of {list(_POLICIES)}, got {policy!r}.")
    if max_gap is not None and (
        isinstance(max_gap, bool) or not isinstance(max_gap, int) or max_gap < 1
    ):
        raise ConfigError(f"`max_gap` must be None or an int >= 1, got {max_gap!r}.")
    index = _require_datetime_index(frame, "fill_gaps")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataContractError(
            "`fill_gaps` needs sorted bars with unique open times; got an unsorted or "
            "repeated index. Call perpml.data.sort_bars(frame) and "
            "perpml.data.drop_duplicate_bars(frame) first."
        )
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    if len(index) < 2:
        return out
    name = interval if interval is not None else infer_interval(index)
    step = interval_to_timedelta(name)
    ns = index.as_unit("ns").asi8
    diffs = np.diff(ns)
    if (diffs % step.value).any():
        bad = index[1:][diffs % step.value != 0][0]
        raise DataContractError(
            f"`fill_gaps` needs bars on one {name} grid; got a spacing that is not a "
            f"multiple of {name} before {bad.isoformat()}. Resample or drop stray rows."
        )
    missing_per_gap = diffs // step.value - 1
    gap_pos = np.flatnonzero(missing_per_gap > 0)
    if gap_pos.size == 0:
        return out
    if policy == "drop_before":
        start = index[gap_pos[-1] + 1]
        out = out.loc[out.index >= start]
        add_quality_note(
            out,
            f"fill_gaps(policy='drop_before'): dropped {len(frame) - len(out)} bar(s) "
            f"before the last gap; data now starts at {start.isoformat()}.",
        )
        return out
    if max_gap is not None and (missing_per_gap > max_gap).any():
        too_long = gap_pos[missing_per_gap[gap_pos] > max_gap]
        shown = ", ".join(
            f"{int(missing_per_gap[p])} bars after {index[p].isoformat()}"
            for p in too_long[:5]
        )
        raise DataContractError(
            f"`fill_gaps` may insert at most max_gap={max_gap} consecutive {name} bars; "
            f"got {too_long.size} longer gap(s): {shown}. Raise the limit (--max-gap, "
            "config key [data] max_gap, `max_gap=` in Python), use --gaps "
            "drop_before (policy='drop_before'), or split the data at the gap."
        )
    full = pd.date_range(index[0], index[-1], freq=step, name=index.name or INDEX_NAME)
    full = full.as_unit(index.unit)
    inserted = ~full.isin(index)
    out = out.reindex(full)
    # Everything not price/volume is a state: carry the previous bar's value forward.
    # The forward fill is restricted to inserted rows so NaN in real rows stays NaN.
    state_cols = [c for c in out.columns if c not in ("open", "high", "low", "close")]
    volume_cols = [c for c in state_cols if c in VOLUME_LIKE_COLUMNS]
    carry_cols = [c for c in state_cols if c not in VOLUME_LIKE_COLUMNS]
    prev_close = out["close"].ffill() if "close" in out else None
    if prev_close is not None:
        for col in ("open", "high", "low", "close"):
            if col in out:
                out.loc[inserted, col] = prev_close[inserted]
    for col in volume_cols:
        out.loc[inserted, col] = 0.0
    if carry_cols:
        carried = _carry_previous_real_row(out[carry_cols], inserted)
        out.loc[inserted, carry_cols] = carried.loc[inserted]
    n_inserted = int(inserted.sum())
    add_quality_note(
        out,
        f"fill_gaps(policy='flat'): inserted {n_inserted} {name} bar(s) in {gap_pos.size} "
        f"gap(s), first at {full[inserted][0].isoformat()}; OHLC = previous close, "
        "volumes = 0, state columns carried forward from the previous bar.",
    )
    return out


def _carry_previous_real_row(
    values: pd.DataFrame, inserted: np.ndarray
) -> pd.DataFrame:
    """Value of the last real (non-inserted) row, for each row, NaN included."""
    real_pos = np.where(~inserted, np.arange(len(values)), -1)
    last_real = np.maximum.accumulate(real_pos)
    return pd.DataFrame(
        values.to_numpy()[last_real], index=values.index, columns=values.columns
    )
