"""Input validation of :class:`~perpml.models.base.BaseModel` (internal).

Pure functions that check ``params``, the constructor arguments, ``X``, ``y`` and the
class labels, and raise the perpml error with a message that names the model and the
fix. ``BaseModel`` calls them from thin private methods (``_check_X``, ``_check_y``,
...) so subclasses can still extend a check by overriding that method.

Time semantics: ``X`` is a DataFrame of shape ``(n_bars, n_features)`` indexed by bar
open time (UTC); ``y`` is aligned to the same index. Nothing here reorders rows.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from perpml.exceptions import (
    DataContractError,
    InsufficientDataError,
    ModelParamsError,
)

__all__ = [
    "CLASS_LABELS",
    "check_X",
    "check_common_params",
    "check_finite",
    "check_y",
    "encode_classes",
    "resolve_params",
]

#: Integer class labels of the entry task, in ``predict_proba`` column order.
#: Defined here (not in ``base``) so validation does not import the base class;
#: ``perpml.models.base.CLASS_LABELS`` is this same object.
CLASS_LABELS: tuple[int, int, int] = (0, 1, 2)

# How many offending labels/columns an error message lists.
_MAX_BAD_LABELS = 5


def _first_labels(index: pd.Index, mask: np.ndarray) -> list[str]:
    return [str(v) for v in index[mask][:_MAX_BAD_LABELS]]


def resolve_params(
    name: str,
    given: Any,
    default_params: Mapping[str, Any],
    random_state: Any,
    n_jobs: Any,
) -> dict[str, Any]:
    """Check the constructor arguments and merge ``given`` over ``default_params``.

    Parameters
    ----------
    name : str
        Model class name, used in error messages.
    given : mapping or None
        The ``params=`` argument (never mutated).
    default_params : mapping
        Every valid key with its default.
    random_state, n_jobs : Any
        Constructor arguments; must be an int and a positive int.

    Returns
    -------
    dict
        Defaults updated with ``given``; common keys (``n_estimators``,
        ``early_stopping_rounds``, ``learning_rate``, ``class_weight``) checked.
    """
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ModelParamsError(
            f"{name}: `params` must be a mapping or None, got "
            f"{type(given).__name__}. Pass e.g. params={{'max_depth': 4}}."
        )
    unknown = sorted(str(k) for k in given if k not in default_params)
    if unknown:
        hint = ""
        if {"random_state", "seed", "random_seed", "n_jobs", "nthread"} & set(unknown):
            hint = (
                " Seed and threads are the constructor arguments random_state= and "
                "n_jobs=."
            )
        raise ModelParamsError(
            f"{name}: unknown params key(s) {unknown}. Valid keys: "
            f"{sorted(default_params)}.{hint}"
        )
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise ModelParamsError(
            f"{name}: `random_state` must be an int, got {random_state!r}."
        )
    if (
        isinstance(n_jobs, bool)
        or not isinstance(n_jobs, numbers.Integral)
        or n_jobs < 1
    ):
        raise ModelParamsError(
            f"{name}: `n_jobs` must be a positive int, got {n_jobs!r}. "
            "Pass e.g. n_jobs=2."
        )
    params = {**default_params, **given}
    check_common_params(name, params)
    return params


def check_common_params(name: str, params: Mapping[str, Any]) -> None:
    """Check the values of keys several models share; raise ModelParamsError."""

    def bad(key: str, must: str) -> ModelParamsError:
        return ModelParamsError(
            f"{name}: params[{key!r}] must be {must}, got {params[key]!r}."
        )

    for key in ("n_estimators", "early_stopping_rounds"):
        if key in params and params[key] is not None:
            v = params[key]
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise bad(
                    key, "a positive int" + (" or None" if "early" in key else "")
                )
    if "learning_rate" in params:
        v = params["learning_rate"]
        if (
            isinstance(v, bool)
            or not isinstance(v, numbers.Real)
            or not math.isfinite(v)
            or v <= 0
        ):
            raise bad("learning_rate", "a positive finite float")
    if "class_weight" in params:
        cw = params["class_weight"]
        if cw is None or cw == "balanced":
            return
        ok = isinstance(cw, Mapping) and all(
            str(k).isdigit()
            and int(k) in CLASS_LABELS
            and isinstance(w, numbers.Real)
            and math.isfinite(w)
            and float(w) > 0
            for k, w in cw.items()
        )
        if not ok:
            raise bad(
                "class_weight",
                "None, 'balanced' or a mapping {0|1|2: positive weight}",
            )


def encode_classes(
    name: str, y: np.ndarray, y_val: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Map class labels to codes ``0..k-1`` of the classes present in ``y``.

    Parameters
    ----------
    name : str
        Model class name, used in error messages.
    y, y_val : ndarray of shape (n,), int64 labels in {0, 1, 2}
        Validated training and (optional) early-stopping labels.

    Returns
    -------
    trained_classes : ndarray of int64
        Classes present in ``y``, ascending.
    y_codes, y_val_codes : ndarray of int64
        Codes of ``y`` and ``y_val`` (``None`` when ``y_val`` is ``None``).
    """
    present = np.unique(y)
    if len(present) < 2:
        raise InsufficientDataError(
            f"{name}.fit: y holds a single class "
            f"{[int(c) for c in present]}; a classifier needs at least 2. Use a "
            "longer training period or a smaller label threshold."
        )
    trained_classes = present.astype(np.int64)
    lookup = np.full(len(CLASS_LABELS), -1, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    y_codes = lookup[y]
    if y_val is None:
        return trained_classes, y_codes, None
    unseen = sorted(set(np.unique(y_val).tolist()) - set(present.tolist()))
    if unseen:
        raise InsufficientDataError(
            f"{name}.fit: y_val holds class(es) {unseen} that never "
            f"occur in y (training classes {present.tolist()}), so the validation "
            "loss is undefined. Use a longer training period or drop those rows."
        )
    return trained_classes, y_codes, lookup[y_val]


def check_X(
    X: Any,
    where: str,
    *,
    model: str,
    fitting: bool,
    allow_nan: bool,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Validate a feature frame and return it as float64 (same index and columns).

    Parameters
    ----------
    X : DataFrame of shape (n_bars, n_features), indexed by bar open time
    where : str
        Argument name for messages (``"X"``, ``"X_val"``, ``"context"``).
    model : str
        Model class name, used in error messages.
    fitting : bool
        True in ``fit`` (empty frames are rejected), False in ``predict``.
    allow_nan : bool
        Whether NaN is accepted (inf never is).
    columns : list of str, optional
        Required columns, in this order.
    """
    name = f"{model}.{'fit' if fitting else 'predict'}"
    if not isinstance(X, pd.DataFrame):
        raise DataContractError(
            f"{name}: `{where}` must be a pandas DataFrame of shape (n_bars, "
            f"n_features) indexed by bar open time, got {type(X).__name__}. Wrap "
            "it: pd.DataFrame(values, index=timestamps, columns=feature_names)."
        )
    cols = list(X.columns)
    if not all(isinstance(c, str) for c in cols):
        bad = [c for c in cols if not isinstance(c, str)][:_MAX_BAD_LABELS]
        raise DataContractError(
            f"{name}: `{where}` column names must be strings, got {bad!r}. "
            "Rename the columns."
        )
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DataContractError(
            f"{name}: `{where}` has duplicated columns {dup}. Drop the duplicates."
        )
    if columns is not None and cols != columns:
        missing = [c for c in columns if c not in cols]
        extra = [c for c in cols if c not in columns]
        detail = (
            f"missing {missing}, unexpected {extra}"
            if missing or extra
            else "same columns in a different order"
        )
        raise DataContractError(
            f"{name}: `{where}` must have the {len(columns)} training columns in "
            f"training order; {detail}. Select them with "
            f"{where}[model.feature_names_in_]."
        )
    if fitting and (X.shape[1] == 0 or X.shape[0] == 0):
        raise InsufficientDataError(
            f"{name}: `{where}` must have at least 1 row and 1 column, got shape "
            f"{X.shape}."
        )
    # Checked on X.dtypes, not X[c]: building one Series per column dominated the
    # latency of a one-row decision (docs/store.md).
    non_numeric = [
        c
        for c, dtype in zip(cols, X.dtypes, strict=True)
        if not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        )
    ]
    if non_numeric:
        raise DataContractError(
            f"{name}: `{where}` columns must be numeric, got non-numeric "
            f"{non_numeric[:_MAX_BAD_LABELS]}. Encode or drop them."
        )
    values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    check_finite(values, X.index, cols, name, where, allow_nan=allow_nan)
    return pd.DataFrame(values, index=X.index, columns=cols, copy=False)


def check_finite(
    values: np.ndarray,
    index: pd.Index,
    cols: list[str],
    name: str,
    where: str,
    *,
    allow_nan: bool,
) -> None:
    """Raise DataContractError listing inf (and, unless allowed, NaN) cells.

    ``values`` has shape ``(len(index), len(cols))``; ``name`` is the calling
    ``Model.method`` for the message.
    """
    problems = []
    inf = np.isinf(values)
    if inf.any():
        bad_cols = [c for c, m in zip(cols, inf.any(axis=0), strict=True) if m]
        problems.append(
            f"infinite values in columns {bad_cols[:_MAX_BAD_LABELS]} (first rows "
            f"{_first_labels(index, inf.any(axis=1))})"
        )
    nan = np.isnan(values)
    if nan.any() and not allow_nan:
        bad_cols = [c for c, m in zip(cols, nan.any(axis=0), strict=True) if m]
        problems.append(
            f"NaN in {int(nan.any(axis=1).sum())} rows, columns "
            f"{bad_cols[:_MAX_BAD_LABELS]} (first rows "
            f"{_first_labels(index, nan.any(axis=1))})"
        )
    if problems:
        raise DataContractError(
            f"{name}: `{where}` must be finite: {'; '.join(problems)}. Drop the "
            "feature warm-up rows and other incomplete rows first (e.g. "
            "mask = X.notna().all(axis=1); X, y = X[mask], y[mask])."
        )


def check_y(
    y: Any,
    X: pd.DataFrame,
    where: str,
    *,
    model: str,
    task: Literal["classification", "regression"],
) -> np.ndarray:
    """Validate a 1-D target aligned to the (validated) features ``X``.

    Returns
    -------
    ndarray of shape (len(X),)
        float64 for ``task="regression"``; int64 labels in {0, 1, 2} for
        ``task="classification"``.
    """
    name = model
    if isinstance(y, pd.DataFrame):
        raise DataContractError(
            f"{name}: `{where}` must be 1-D (a Series), got a DataFrame with "
            f"columns {list(y.columns)[:_MAX_BAD_LABELS]}. Select one column."
        )
    if isinstance(y, pd.Series):
        if len(y) == len(X) and not y.index.equals(X.index):
            raise DataContractError(
                f"{name}: `{where}` index must equal the features' index (the same "
                "bars in the same order). Align it: y = y.loc[X.index]."
            )
        arr = y.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            arr = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataContractError(
                f"{name}: `{where}` must be numeric, got {type(y).__name__}."
            ) from exc
    if arr.ndim != 1 or len(arr) != len(X):
        raise DataContractError(
            f"{name}: `{where}` must have shape ({len(X)},) to match the features, "
            f"got {arr.shape}. Pass the target aligned to X."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataContractError(
            f"{name}: `{where}` must be finite; {int(bad.sum())} NaN/inf values "
            f"(first rows {_first_labels(X.index, bad)}). Drop rows whose target "
            "is unknown (the last `horizon` bars) from both X and y."
        )
    if task == "regression":
        return arr
    invalid = ~np.isin(arr, CLASS_LABELS)
    if invalid.any():
        raise DataContractError(
            f"{name}: `{where}` must hold class labels in {{0 SHORT, 1 NEUTRAL, "
            f"2 LONG}}, got {np.unique(arr[invalid])[:_MAX_BAD_LABELS].tolist()} "
            f"(first rows {_first_labels(X.index, invalid)}). Use "
            "make_targets(...)['target_class']."
        )
    return arr.astype(np.int64)
