"""Parsing a file's time column: epoch numbers of any unit, or ISO 8601 strings.

Epoch numbers are read in s, ms, µs or ns, decided per value by magnitude (the
Binance archive switched from ms to µs in 2025). Recognisable mistakes are named
rather than reported as symptoms: a column mixing epoch numbers and date strings, or
several date formats, and times outside :data:`PLAUSIBLE_TIMES` (millisecond values
read as seconds give bars in 1970, 3 days apart).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpml.data.schema import INTERVALS
from perpml.exceptions import DataFormatError

__all__ = ["PLAUSIBLE_TIMES", "parse_times"]

#: Times outside this window cannot be market data of a crypto perpetual (the first
#: perpetuals traded in 2016); they are units read wrongly.
PLAUSIBLE_TIMES = (
    pd.Timestamp("2010-01-01", tz="UTC"),
    pd.Timestamp("2100-01-01", tz="UTC"),
)

_UNITS = {1_000_000_000: "s", 1_000_000: "ms", 1_000: "µs", 1: "ns"}


def _epoch_scale(magnitude: np.ndarray) -> np.ndarray:
    return np.select(
        [magnitude >= 1e17, magnitude >= 1e14, magnitude >= 1e11],
        [1, 1_000, 1_000_000],
        default=1_000_000_000,
    )


def _check_plausible(out: pd.DatetimeIndex, where: str, unit: str | None) -> None:
    """Refuse times outside :data:`PLAUSIBLE_TIMES`, naming the likely unit mix-up."""
    low, high = PLAUSIBLE_TIMES
    bad = (out < low) | (out > high)
    if not bad.any():
        return
    first = out[bad][0]
    spacing = ""
    cause = (
        "the numbers are not epoch times since 1970-01-01 in s, ms, µs or ns "
        "(relative times, or another epoch?)"
    )
    if len(out) >= 2:
        step = pd.Series(np.diff(np.sort(out.asi8))).median()
        spacing = f", spaced {pd.Timedelta(int(step), unit='ns')} apart"
        for factor, wrong, right in ((1000, "seconds", "milliseconds"),):
            for name, length in INTERVALS.items():
                if step == length.value * factor:
                    cause = (
                        f"{right} read as {wrong}: the values look like {name} bars "
                        f"counted in {right}, but are too small to be {right} since "
                        "1970 (write full epoch times: 13 digits for ms)"
                    )
                elif step * factor == length.value:
                    cause = (
                        f"{wrong} read as {right}: the values look like {name} bars "
                        f"counted in {wrong} (convert the times with unit='s', or "
                        "write epoch seconds as plain numbers)"
                    )
    if unit is not None and cause.startswith("the numbers"):
        cause += f"; they were read as {unit} by their magnitude"
    raise DataFormatError(
        f"{where}: times must lie between {low.year} and {high.year}; got "
        f"{first.isoformat()} ({int(bad.sum())} of {len(out)} rows outside{spacing}). "
        f"Likely cause: {cause}. Fix the time column of the file."
    )


def parse_times(values: pd.Series, where: str) -> pd.DatetimeIndex:
    """Parse epoch numbers (s/ms/µs/ns by magnitude) or ISO strings into UTC times.

    Raises :class:`DataFormatError` naming the cause for a column that mixes epoch
    numbers and date strings or several date formats, and for times outside
    :data:`PLAUSIBLE_TIMES` (e.g. millisecond values read as seconds).
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = pd.DatetimeIndex(values)
        out = out.tz_localize("UTC") if out.tz is None else out.tz_convert("UTC")
        out = out.as_unit("ns")
        _check_plausible(out, where, None)
        return out
    missing = values.isna() | (values.astype(str).str.strip() == "")
    if missing.any():
        raise DataFormatError(
            f"{where}: every row needs a time; {int(missing.sum())} row(s) have none "
            f"(an empty cell), first at row {missing.idxmax()}. Remove those rows or "
            "fill in their times."
        )
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and len(numbers):
        raw = numbers.to_numpy(dtype="float64")
        scale = _epoch_scale(np.abs(raw))
        # Integers up to 2**53 are exact in float64: enough for ms and µs epochs.
        ns = np.round(raw).astype("int64") * scale.astype("int64")
        out = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True))
        units = sorted({_UNITS[int(k)] for k in np.unique(scale)})
        _check_plausible(out, where, "/".join(units))
        return out
    is_number = numbers.notna() & values.notna()
    if is_number.any():
        texts = values[~is_number]
        raise DataFormatError(
            f"{where}: the column mixes epoch numbers ({int(is_number.sum())} rows, "
            f"first {str(values[is_number].iloc[0])!r} at row {is_number.idxmax()}) "
            f"and date strings ({len(texts)} rows, first {str(texts.iloc[0])!r} at row "
            f"{texts.index[0]}). Write every time in one format (epoch ms, or ISO "
            "8601 such as 2024-01-01T00:00:00Z)."
        )
    parsed = pd.to_datetime(
        values.astype(str), utc=True, format="ISO8601", errors="coerce"
    )
    bad = values[parsed.isna()]
    if len(bad) or not len(values):
        shown = ", ".join(repr(v) for v in bad.head(5))
        good = values[parsed.notna()]
        mixed = ""
        if len(good) and len(bad):
            try:
                pd.to_datetime(bad.astype(str).head(5), format="mixed", utc=True)
            except (ValueError, TypeError):
                pass
            else:
                mixed = (
                    f" The column mixes date formats: {good.iloc[0]!r} (ISO 8601) "
                    f"and {bad.iloc[0]!r} at row {bad.index[0]}; write every time "
                    "in one format (ISO 8601 such as 2024-01-01T00:00:00Z, or epoch "
                    "ms)."
                )
        raise DataFormatError(
            f"{where}: every time must be an epoch number (s/ms/µs/ns) or an ISO 8601 "
            f"string; got {len(bad)} unparsable value(s): {shown}.{mixed or ' Fix or remove those rows.'}"
        )
    out = pd.DatetimeIndex(parsed).as_unit("ns")
    _check_plausible(out, where, None)
    return out
