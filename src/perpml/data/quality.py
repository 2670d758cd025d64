"""Data-quality report of a market frame (JSON-serialisable summary)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from perpml.data.schema import INTERVALS, OPTIONAL_COLUMNS, infer_interval
from perpml.exceptions import DataContractError

__all__ = ["data_quality_report"]


def _iso(stamp: object) -> str | None:
    return stamp.isoformat() if isinstance(stamp, pd.Timestamp) else None


def data_quality_report(frame: pd.DataFrame) -> dict[str, Any]:
    """Summarise what is known and what is missing in a market frame.

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        A market frame (ideally validated). Optional columns may hold NaN, meaning
        "not known at that bar"; they are counted here, never filled.

    Returns
    -------
    dict
        JSON-serialisable: ``n_rows``, ``start`` / ``end`` (first / last bar open time,
        ISO 8601), ``interval``, ``symbol``, ``source``, ``missing_optional_columns``
        (optional columns absent from the frame), ``optional_columns``
        (``{column: {"nan_count", "nan_share", "first_valid", "last_valid"}}``) and
        ``notes`` (``frame.attrs["quality_notes"]``: repairs, dropped partial bars,
        alignment remarks).
    """
    if not isinstance(frame, pd.DataFrame) or not isinstance(
        frame.index, pd.DatetimeIndex
    ):
        raise DataContractError(
            "`data_quality_report` needs a DataFrame indexed by bar open time "
            f"(DatetimeIndex); got {type(frame).__name__}. Validate it with "
            "perpml.data.validate_market_data first."
        )
    interval = frame.attrs.get("interval")
    if interval not in INTERVALS:
        try:
            interval = infer_interval(frame.index)
        except DataContractError:
            interval = None
    n = len(frame)
    optional: dict[str, dict[str, Any]] = {}
    for col in OPTIONAL_COLUMNS:
        if col not in frame.columns:
            continue
        series = frame[col]
        nan_count = int(series.isna().sum())
        optional[col] = {
            "nan_count": nan_count,
            "nan_share": round(nan_count / n, 6) if n else 0.0,
            "first_valid": _iso(series.first_valid_index()),
            "last_valid": _iso(series.last_valid_index()),
        }
    return {
        "n_rows": n,
        "start": _iso(frame.index[0]) if n else None,
        "end": _iso(frame.index[-1]) if n else None,
        "interval": interval,
        "symbol": frame.attrs.get("symbol"),
        "source": frame.attrs.get("source"),
        "missing_optional_columns": [
            c for c in OPTIONAL_COLUMNS if c not in frame.columns
        ],
        "optional_columns": optional,
        "notes": [str(note) for note in frame.attrs.get("quality_notes", [])],
    }
