"""Registry: naming, families, validation of registrations, list_features."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from perpml.exceptions import FeatureError
from perpml.features import registry
from perpml.features.registry import (
    CATEGORIES,
    get_feature,
    list_features,
    register_feature,
    window_grid,
)


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Let a test register features without leaking them into other tests."""
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_list_features_describes_every_feature() -> None:
    table = list_features()
    assert list(table.columns) == [
        "name",
        "category",
        "inputs",
        "warmup",
        "description",
    ]
    assert table["name"].is_unique
    assert len(table) >= 160
    assert table["category"].nunique() >= 8
    assert (table["description"].str.len() > 0).all()
    for name, category in zip(table["name"], table["category"], strict=True):
        assert name.startswith(CATEGORIES[category] + "_"), name


def test_family_registers_one_spec_per_window(scratch_registry: None) -> None:
    @register_feature(
        category="momentum",
        inputs=("close",),
        warmup=lambda p: 2 * p["window"],
        grid=window_grid(3, 5),
    )
    def mom_test_double(close: np.ndarray, *, window: int) -> np.ndarray:
        """Close times two (test)."""
        return close * 2

    three, five = get_feature("mom_test_double_3"), get_feature("mom_test_double_5")
    assert (three.warmup, five.warmup) == (6, 10)
    assert dict(five.params) == {"window": 5}
    assert three.description == "Close times two (test)."
    with pytest.raises(TypeError):
        three.params["window"] = 4  # type: ignore[index]


def test_spec_is_frozen() -> None:
    spec = get_feature("mom_rsi_14")
    with pytest.raises(AttributeError):
        spec.warmup = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "name", "match"),
    [
        pytest.param(
            {"category": "astrology", "inputs": ("close",), "warmup": 0},
            "astro_x",
            "`category` must be one of",
            id="unknown-category",
        ),
        pytest.param(
            {"category": "momentum", "inputs": ("close",), "warmup": 0},
            "rsi_wrong_prefix",
            "must be named 'mom_<what>",
            id="prefix",
        ),
        pytest.param(
            {"category": "momentum", "inputs": ("close",), "warmup": 0},
            "mom_rsi_14",
            "already registered",
            id="duplicate",
        ),
        pytest.param(
            {"category": "momentum", "inputs": ("close",), "warmup": -1},
            "mom_negative",
            "warm-up must be an int >= 0",
            id="negative-warmup",
        ),
        pytest.param(
            {"category": "momentum", "inputs": "close", "warmup": 0},
            "mom_str_inputs",
            "`inputs` must be a non-empty sequence",
            id="string-inputs",
        ),
    ],
)
def test_bad_registration_raises(
    scratch_registry: None, kwargs: dict, name: str, match: str
) -> None:
    def func(close: np.ndarray) -> np.ndarray:
        return close

    with pytest.raises(FeatureError, match=match):
        register_feature(name=name, **kwargs)(func)
    if name != "mom_rsi_14":
        assert name not in registry._REGISTRY


def test_duplicate_inside_a_family_registers_nothing(scratch_registry: None) -> None:
    before = len(registry._REGISTRY)
    with pytest.raises(FeatureError, match="already registered"):
        register_feature(
            category="momentum",
            inputs=("close",),
            warmup=0,
            grid=window_grid(7, 7),
            name="mom_twice",
        )(lambda close, *, window: close)
    assert len(registry._REGISTRY) == before


def test_unknown_feature_suggests_close_names() -> None:
    with pytest.raises(FeatureError, match=r"Did you mean \['mom_rsi_14'"):
        get_feature("mom_rsi_13")
