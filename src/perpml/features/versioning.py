"""Feature-set versioning: a short content hash identifying what produced a dataset.

Two datasets with the same :func:`feature_set_id` were built by the same feature code
(names, parameters, warm-ups and function source), the same perpml version and the same
market data (by fingerprint), with the same extra parameters.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from perpml.exceptions import FeatureError
from perpml.features.registry import FeatureSpec, get_feature

__all__ = ["feature_set_id", "spec_fingerprint"]

ID_LENGTH = 12


def _package_version() -> str:
    try:
        return version("perpml")
    except PackageNotFoundError:  # running from a source tree without install
        return "unknown"


def _jsonable(value: Any) -> Any:
    # Canonical JSON form: tuples become lists, numpy scalars become Python scalars,
    # mappings get sorted keys; anything else must be a plain JSON value.
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise FeatureError(
        f"Cannot version parameter value {value!r} of type {type(value).__name__}; "
        "use plain JSON values (str, int, float, bool, None, lists, mappings)."
    )


def _source_digest(spec: FeatureSpec) -> str:
    try:
        source = inspect.getsource(spec.func)
    except (OSError, TypeError):  # e.g. defined in an interactive session
        source = spec.func.__code__.co_code.hex()
    return hashlib.sha256(source.encode()).hexdigest()


def spec_fingerprint(spec: FeatureSpec) -> dict[str, Any]:
    """Return the canonical, JSON-serialisable description of one feature spec."""
    return {
        "name": spec.name,
        "category": spec.category,
        "inputs": list(spec.inputs),
        "warmup": spec.warmup,
        "params": _jsonable(spec.params),
        "func": f"{spec.func.__module__}.{spec.func.__qualname__}",
        "source_sha256": _source_digest(spec),
    }


def feature_set_id(
    feature_names: Sequence[str],
    *,
    data_fingerprint: str,
    params: Mapping[str, Any] | None = None,
) -> str:
    """Return a 12-hex-digit id of a feature set built on some market data.

    Parameters
    ----------
    feature_names : sequence of str
        Registered feature names; order and duplicates do not matter.
    data_fingerprint : str
        Fingerprint of the market frame the features were built on (see
        ``perpml.data.fingerprint.data_fingerprint``).
    params : mapping, optional
        Any further settings that shape the dataset (e.g. target horizon); JSON values.

    Returns
    -------
    str
        ``sha256`` over the sorted feature specs (with parameters, warm-ups and function
        source), the perpml version, ``data_fingerprint`` and ``params``, first 12 hex
        digits. Same inputs give the same id; changing any of them gives a new one.

    Raises
    ------
    FeatureError
        An unknown feature name, an empty feature list, a non-string fingerprint or a
        parameter value that is not plain JSON.
    """
    if isinstance(feature_names, str):
        raise FeatureError(
            "`feature_names` must be a sequence of feature names, got the string "
            f"{feature_names!r}. Pass a list, e.g. [{feature_names!r}]."
        )
    names = sorted(set(feature_names))
    if not names:
        raise FeatureError(
            "`feature_names` must name at least one feature, got an empty sequence."
        )
    if not isinstance(data_fingerprint, str) or not data_fingerprint:
        raise FeatureError(
            "`data_fingerprint` must be a non-empty string (from "
            f"perpml.data.fingerprint.data_fingerprint(frame)), got {data_fingerprint!r}."
        )
    payload = {
        "perpml": _package_version(),
        "data": data_fingerprint,
        "features": [spec_fingerprint(get_feature(n)) for n in names],
        "params": _jsonable(params or {}),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:ID_LENGTH]
