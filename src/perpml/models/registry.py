"""The fixed model-name → class mapping used to load saved models.

:class:`perpml.models.base.BaseModel` registers every concrete subclass here when it
is defined; :func:`perpml.models.persistence.load_model` looks classes up here. Keeping
the mapping in its own module lets both depend on it without depending on each other
(never class-path strings read from files).
"""

from __future__ import annotations

from typing import Any

__all__ = ["register_model", "registered_models"]

_REGISTRY: dict[str, type[Any]] = {}


def register_model(cls: type[Any]) -> None:
    """Register ``cls`` under its class name (a later class of that name replaces it)."""
    _REGISTRY[cls.__name__] = cls


def registered_models() -> dict[str, type[Any]]:
    """Return a copy of the model-name -> class mapping used to load saved models."""
    return dict(_REGISTRY)
