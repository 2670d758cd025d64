"""The feature registry: one pure function + one decorator = one feature.

A feature is a small pure function of float64 numpy arrays (the market columns named in
``inputs``, passed positionally in that order) plus keyword parameters, returning a
float64 array of the same length. Row ``t`` of the result may use rows ``<= t`` of the
inputs only (THE TIME RULE, :mod:`perpml.data.schema`); the causality test suite walks
the registry and proves it for every feature.

Besides market columns, ``inputs`` may name ``"log_<column>"`` (the natural log of a
market column, NaN where it is <= 0 or unknown; computed once per build and shared)
and two pseudo-inputs:

* ``"timestamp"`` — the bar **open** times as int64 nanoseconds since the epoch (UTC);
* ``"interval"`` — the bar length in seconds as a Python float (a scalar, not an array),
  taken from ``market.attrs["interval"]`` or inferred from the index.

Registering a parametrised family (same function, several windows) is one decorator
with ``grid=``; each grid point becomes its own :class:`FeatureSpec` named
``<function name>_<param values joined by "_">``::

    @register_feature(
        category="momentum",
        inputs=("close",),
        warmup=lambda p: 6 * p["window"],
        grid=[{"window": w} for w in (7, 14, 28)],
    )
    def mom_rsi(close, *, window):
        return talib.RSI(close, timeperiod=window)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import pandas as pd

from perpml.exceptions import FeatureError

__all__ = [
    "CATEGORIES",
    "PSEUDO_INPUTS",
    "FeatureSpec",
    "get_feature",
    "iter_features",
    "list_features",
    "register_feature",
    "window_grid",
]

#: Category name -> the prefix every feature name of that category starts with.
CATEGORIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "price": "price",
        "trend": "trend",
        "momentum": "mom",
        "volatility": "vola",
        "volume": "volume",
        "open_interest": "oi",
        "funding": "funding",
        "positioning": "pos",
        "calendar": "time",
        "interactions": "ix",
        "liquidations": "liq",
    }
)

#: Inputs that are not market columns (see the module docstring).
PSEUDO_INPUTS: Final[tuple[str, ...]] = ("timestamp", "interval")

FeatureFunc = Callable[..., np.ndarray]


@dataclass(frozen=True)
class FeatureSpec:
    """One registered feature.

    Attributes
    ----------
    name : str
        Unique name ``<category prefix>_<what>[_<window>]``, e.g. ``"mom_rsi_14"``.
    category : str
        One of :data:`CATEGORIES`.
    inputs : tuple of str
        Market columns (or :data:`PSEUDO_INPUTS`) passed positionally to ``func``.
    warmup : int
        Leading rows that are NaN in the output: the feature needs ``warmup`` earlier
        bars (EMA-type indicators also get time to forget their starting point).
    params : mapping
        Keyword arguments passed to ``func`` (read-only).
    func : callable
        ``func(*input_arrays, **params) -> ndarray of shape (n_bars,)``, pure and causal.
    description : str
        First line of ``func``'s docstring.
    """

    name: str
    category: str
    inputs: tuple[str, ...]
    warmup: int
    params: Mapping[str, Any]
    func: FeatureFunc = field(repr=False, compare=False)
    description: str = ""

    def compute(self, *arrays: Any) -> np.ndarray:
        """Call the feature function on input arrays (in ``inputs`` order)."""
        return self.func(*arrays, **self.params)


_REGISTRY: dict[str, FeatureSpec] = {}


def _describe(func: FeatureFunc) -> str:
    doc = (func.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def register_feature(
    *,
    category: str,
    inputs: Sequence[str],
    warmup: int | Callable[[Mapping[str, Any]], int],
    params: Mapping[str, Any] | None = None,
    grid: Sequence[Mapping[str, Any]] | None = None,
    name: str | None = None,
) -> Callable[[FeatureFunc], FeatureFunc]:
    """Register a feature function (decorator).

    Parameters
    ----------
    category : str
        One of :data:`CATEGORIES`; the feature name must start with its prefix + ``_``.
    inputs : sequence of str
        Market columns (or :data:`PSEUDO_INPUTS`) the function takes, in order.
    warmup : int or callable
        Leading bars without a valid value; a callable receives the merged params of
        each grid point (``lambda p: p["window"]``).
    params : mapping, optional
        Keyword arguments shared by every grid point.
    grid : sequence of mappings, optional
        One spec per entry; each entry's values are appended to the name.
    name : str, optional
        Base name; defaults to the function's ``__name__``.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Raises
    ------
    FeatureError
        Unknown category, name without the category prefix, duplicate name, empty
        ``inputs`` or negative warm-up.
    """
    if category not in CATEGORIES:
        raise FeatureError(
            f"`category` must be one of {list(CATEGORIES)}, got {category!r}. "
            "Add the category to perpml.features.registry.CATEGORIES first."
        )
    if isinstance(inputs, str) or not inputs:
        raise FeatureError(
            f"`inputs` must be a non-empty sequence of column names, got {inputs!r}. "
            "Pass e.g. inputs=('close',)."
        )
    base_params = dict(params or {})
    points = [dict(p) for p in grid] if grid is not None else [{}]

    def decorator(func: FeatureFunc) -> FeatureFunc:
        base = name or func.__name__
        prefix = CATEGORIES[category] + "_"
        if not base.startswith(prefix):
            raise FeatureError(
                f"Feature {base!r} of category {category!r} must be named "
                f"'{prefix}<what>[_<window>]'. Rename the function or pass name=."
            )
        new: list[FeatureSpec] = []
        for point in points:
            merged = {**base_params, **point}
            full = "_".join([base, *(str(v) for v in point.values())])
            wu = warmup(merged) if callable(warmup) else warmup
            if not isinstance(wu, int | np.integer) or wu < 0:
                raise FeatureError(
                    f"Feature {full!r}: warm-up must be an int >= 0, got {wu!r}."
                )
            if full in _REGISTRY or any(s.name == full for s in new):
                raise FeatureError(
                    f"Feature name {full!r} is already registered "
                    f"(by {_REGISTRY[full].func.__module__ if full in _REGISTRY else func.__module__}). "
                    "Feature names must be unique; choose another name."
                )
            new.append(
                FeatureSpec(
                    name=full,
                    category=category,
                    inputs=tuple(inputs),
                    warmup=int(wu),
                    params=MappingProxyType(merged),
                    func=func,
                    description=_describe(func),
                )
            )
        for spec in new:
            _REGISTRY[spec.name] = spec
        return func

    return decorator


def _ensure_loaded() -> None:
    # The category modules register on import; importing the package imports them.
    import perpml.features  # noqa: F401


def iter_features() -> tuple[FeatureSpec, ...]:
    """Return every registered spec, in registration (= output column) order."""
    _ensure_loaded()
    return tuple(_REGISTRY.values())


def get_feature(name: str) -> FeatureSpec:
    """Return the spec registered under ``name``.

    Raises
    ------
    FeatureError
        If no feature has that name (the message suggests close names).
    """
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise FeatureError(
            f"Unknown feature {name!r}.{hint} See perpml.features.list_features()."
        ) from None


def list_features() -> pd.DataFrame:
    """Describe every registered feature.

    Returns
    -------
    DataFrame of shape (n_features, 5)
        Columns ``name``, ``category``, ``inputs`` (tuple of column names),
        ``warmup`` (int, leading NaN rows) and ``description``, in output column order.
    """
    specs = iter_features()
    return pd.DataFrame(
        {
            "name": [s.name for s in specs],
            "category": [s.category for s in specs],
            "inputs": [s.inputs for s in specs],
            "warmup": [s.warmup for s in specs],
            "description": [s.description for s in specs],
        }
    )


def window_grid(*windows: int, key: str = "window") -> list[dict[str, int]]:
    """Return ``[{key: w} for w in windows]``, the usual ``grid=`` of a family."""
    return [{key: int(w)} for w in windows]
