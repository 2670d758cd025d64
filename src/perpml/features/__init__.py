"""Causal features for perpetual-futures research.

``build_features(market)`` computes every registered feature (160+ in 11 categories)
on a canonical market frame; ``list_features()`` describes them. A feature is one pure
function plus ``@register_feature``; see :mod:`perpml.features.registry`.
"""

from __future__ import annotations

from importlib import import_module

from perpml.features.engine import build_features, select_feature_specs
from perpml.features.registry import (
    CATEGORIES,
    FeatureSpec,
    get_feature,
    list_features,
    register_feature,
)
from perpml.features.targets import make_targets
from perpml.features.versioning import feature_set_id

# One module per category registers its features on import; importing them in
# CATEGORIES order fixes the output column order independently of import sorting.
for _category in CATEGORIES:
    import_module(f"perpml.features.{_category}")
del _category

__all__ = [
    "CATEGORIES",
    "FeatureSpec",
    "build_features",
    "feature_set_id",
    "get_feature",
    "list_features",
    "make_targets",
    "register_feature",
    "select_feature_specs",
]
