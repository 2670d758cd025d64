"""Content fingerprint of a market frame: same data, same id."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from perpml.exceptions import DataContractError

__all__ = ["data_fingerprint"]


def data_fingerprint(frame: pd.DataFrame) -> str:
    """Return a 16-hex-digit id of a frame's index, column names and values.

    Parameters
    ----------
    frame : DataFrame of shape (n_bars, n_columns), indexed by bar open time
        Numeric columns (cast to float64 for hashing).

    Returns
    -------
    str
        First 16 hex digits of a SHA-256 over the index as int64 nanoseconds since
        the epoch (UTC), the column names in order, and the float64 values in
        row-major order. Every NaN hashes the same (so a round trip through Parquet
        or CSV keeps the id); ``attrs`` and the index's time-zone label do not count,
        only the instants.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataContractError(
            f"`data_fingerprint` needs a pandas DataFrame, got {type(frame).__name__}."
        )
    digest = hashlib.sha256()
    index = frame.index
    if isinstance(index, pd.DatetimeIndex):
        if index.tz is not None:
            index = index.tz_convert("UTC")
        digest.update(b"dt64ns:")
        digest.update(
            np.ascontiguousarray(index.as_unit("ns").asi8, dtype="<i8").tobytes()
        )
    else:
        digest.update(b"labels:")
        digest.update("\x1f".join(map(str, index)).encode())
    digest.update(b"\x1ecolumns:")
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    try:
        values = frame.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise DataContractError(
            "`data_fingerprint` needs numeric columns; got dtypes "
            f"{dict(frame.dtypes.astype(str))}. Validate with "
            "perpml.data.validate_market_data first."
        ) from None
    values = np.where(np.isnan(values), np.nan, values)  # one canonical NaN bit pattern
    digest.update(b"\x1evalues:")
    digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    return digest.hexdigest()[:16]
