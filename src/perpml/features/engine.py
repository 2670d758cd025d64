"""``build_features``: compute registered features on a market frame, causally.

The engine converts each needed market column to a float64 numpy array once, calls
every selected feature function, and writes the result straight into one preallocated
float32 ``(n_bars, n_features)`` array (column-major, so each column write is
contiguous and the final DataFrame wraps the array without a copy). Feature functions
release the GIL in their heavy parts (TA-Lib C code, numba ``nogil`` kernels, numpy
ufuncs), so a small thread pool over features uses both cores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from perpml.data.schema import INTERVALS, infer_interval
from perpml.exceptions import DataContractError, FeatureError
from perpml.features.kernels import safe_log, store_column
from perpml.features.registry import (
    CATEGORIES,
    FeatureSpec,
    get_feature,
    iter_features,
)

__all__ = ["build_features", "select_feature_specs"]


def _as_names(value: Sequence[str] | None, arg: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise FeatureError(
            f"`{arg}` must be a sequence of names, got the string {value!r}. "
            f"Pass a list, e.g. {arg}=[{value!r}]."
        )
    return list(value)


def select_feature_specs(
    *,
    categories: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> list[FeatureSpec]:
    """Return the registered specs selected by category and name, in registry order.

    Parameters
    ----------
    categories : sequence of str, optional
        Keep features of these categories (default: all).
    include : sequence of str, optional
        Keep only these feature names (intersected with ``categories``).
    exclude : sequence of str, optional
        Drop these feature names.

    Raises
    ------
    FeatureError
        Unknown category or feature name (every unknown one is listed).
    """
    cats = _as_names(categories, "categories")
    inc = _as_names(include, "include")
    exc = _as_names(exclude, "exclude")
    if cats is not None:
        unknown = [c for c in cats if c not in CATEGORIES]
        if unknown:
            raise FeatureError(
                f"Unknown feature categories {unknown}; valid ones are "
                f"{list(CATEGORIES)}."
            )
    for names in (inc, exc):
        for name in names or ():
            get_feature(name)  # raises FeatureError with suggestions
    specs = iter_features()
    keep_cats = set(cats) if cats is not None else None
    keep = set(inc) if inc is not None else None
    drop = set(exc or ())
    return [
        s
        for s in specs
        if (keep_cats is None or s.category in keep_cats)
        and (keep is None or s.name in keep)
        and s.name not in drop
    ]


def _check_market(market: Any) -> None:
    if not isinstance(market, pd.DataFrame):
        raise DataContractError(
            f"`market` must be a pandas DataFrame (the canonical market frame), got "
            f"{type(market).__name__}. Load it with perpml.load_market_data(...)."
        )
    index = market.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataContractError(
            "`market` must be indexed by a tz-aware UTC DatetimeIndex of bar open "
            f"times, got {type(index).__name__} (tz={getattr(index, 'tz', None)}). "
            "Validate it with perpml.data.contract.validate_market_data first."
        )
    if not (index.is_monotonic_increasing and index.is_unique):
        raise DataContractError(
            "`market` index must be sorted ascending and unique (one row per bar); "
            "computing rolling features on unsorted rows would mix past and future. "
            "Sort and de-duplicate it, or run validate_market_data."
        )


def _interval_seconds(market: pd.DataFrame) -> float | None:
    # The bar length is metadata, not a market value; prefer the declared one so a
    # one-row prefix of a frame gets the same calendar features as the whole frame.
    declared = market.attrs.get("interval")
    if isinstance(declared, str) and declared in INTERVALS:
        return INTERVALS[declared].total_seconds()
    if len(market.index) >= 2:
        return INTERVALS[infer_interval(market.index)].total_seconds()
    return None


def _resolve_inputs(
    market: pd.DataFrame, specs: Iterable[FeatureSpec]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (available input arrays, reasons for unavailable inputs)."""
    arrays: dict[str, Any] = {}
    missing: dict[str, str] = {}
    needed = {col for s in specs for col in s.inputs}
    for col in sorted(needed):
        if col == "timestamp":
            arrays[col] = market.index.as_unit("ns").asi8
        elif col == "interval":
            seconds = _interval_seconds(market)
            if seconds is None:
                missing[col] = (
                    "needs the bar interval (set market.attrs['interval'] or pass "
                    ">= 2 rows)"
                )
            else:
                arrays[col] = seconds
        else:
            # "log_<column>" is the log of a market column, computed once per build
            # and shared by every feature that needs it (NaN where column <= 0)
            base = col[4:] if col.startswith("log_") else col
            if base not in market.columns:
                missing[col] = f"needs column {base!r} (absent)"
                continue
            values = np.ascontiguousarray(market[base].to_numpy(dtype=np.float64))
            if len(values) and np.isnan(values).all():
                missing[col] = f"needs column {base!r} (all NaN)"
            else:
                arrays[col] = safe_log(values) if base != col else values
    return arrays, missing


def _compute_into(
    out: np.ndarray, j: int, spec: FeatureSpec, arrays: dict[str, Any]
) -> None:
    n = out.shape[0]
    with np.errstate(all="ignore"):
        values = spec.compute(*(arrays[c] for c in spec.inputs))
    if not isinstance(values, np.ndarray) or values.shape != (n,):
        raise FeatureError(
            f"Feature {spec.name!r} ({spec.func.__module__}.{spec.func.__name__}) must "
            f"return an ndarray of shape ({n},), got "
            f"{getattr(values, 'shape', type(values).__name__)}. Fix the function."
        )
    # one pass: float64 -> float32 straight into the output column, warm-up rows and
    # non-finite values (division by zero, overflow) -> NaN
    store_column(np.ascontiguousarray(values, dtype=np.float64), out[:, j], spec.warmup)


def build_features(
    market: pd.DataFrame,
    *,
    categories: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    n_jobs: int = 2,
) -> pd.DataFrame:
    """Compute causal features for every bar of a market frame.

    Parameters
    ----------
    market : DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
        Canonical market frame (:mod:`perpml.data.schema`); row ``t`` holds values
        known at the close of bar ``t``. Optional columns may be absent or NaN.
    categories, include, exclude : sequence of str, optional
        Feature selection, see :func:`select_feature_specs`.
    n_jobs : int, default 2
        Threads computing features concurrently (1 = serial). The result does not
        depend on it.

    Returns
    -------
    DataFrame of shape (n_bars, n_features), float32, same index as ``market``
        Row ``t`` uses market rows ``<= t`` only, so ``build_features(market.iloc[:T+1])``
        equals ``build_features(market).iloc[:T+1]``. Columns follow registry order.
        The first ``warmup`` rows of each feature are NaN (drop them; they are never
        filled from later rows); an unknown input value makes the rows that depend on
        it NaN. ``result.attrs["skipped"]`` maps each selected feature that could not
        be computed to the reason, e.g. ``"needs column 'open_interest' (absent)"``;
        skipped features are left out, never zero-filled.

    Raises
    ------
    DataContractError
        ``market`` is not a DataFrame with a sorted, unique, tz-aware DatetimeIndex.
    FeatureError
        Unknown category/feature name, or a feature function returned a bad shape.
    """
    _check_market(market)
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise FeatureError(f"`n_jobs` must be an int >= 1, got {n_jobs!r}.")
    selected = select_feature_specs(
        categories=categories, include=include, exclude=exclude
    )
    arrays, missing = _resolve_inputs(market, selected)
    specs: list[FeatureSpec] = []
    skipped: dict[str, str] = {}
    for spec in selected:
        reasons = [missing[c] for c in spec.inputs if c in missing]
        if reasons:
            skipped[spec.name] = "; ".join(reasons)
        else:
            specs.append(spec)

    n = len(market.index)
    out = np.empty((n, len(specs)), dtype=np.float32, order="F")
    if n_jobs == 1 or len(specs) < 2:
        for j, spec in enumerate(specs):
            _compute_into(out, j, spec, arrays)
    else:
        # Interleave features over workers: neighbours in the registry share cost
        # profiles (e.g. all ADX variants), so striping balances the load.
        def work(start: int) -> None:
            for j in range(start, len(specs), n_jobs):
                _compute_into(out, j, specs[j], arrays)

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            for future in [pool.submit(work, k) for k in range(n_jobs)]:
                future.result()

    result = pd.DataFrame(
        out, index=market.index, columns=[s.name for s in specs], copy=False
    )
    result.attrs = {
        **{k: market.attrs[k] for k in ("symbol", "interval") if k in market.attrs},
        "skipped": skipped,
    }
    return result
