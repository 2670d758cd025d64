"""feature_set_id: stable for equal inputs, different for any change."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from perpml.exceptions import FeatureError
from perpml.features import registry, versioning
from perpml.features.registry import register_feature, window_grid
from perpml.features.versioning import feature_set_id

NAMES = ["mom_rsi_14", "oi_change_12", "funding_zscore_288"]
FP = "a1b2c3d4e5f6"


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_same_inputs_give_same_short_id() -> None:
    first = feature_set_id(NAMES, data_fingerprint=FP, params={"horizon": 12})
    again = feature_set_id(
        list(reversed(NAMES)) + [NAMES[0]], data_fingerprint=FP, params={"horizon": 12}
    )
    assert first == again  # order and duplicates do not matter
    assert len(first) == 12 and int(first, 16) >= 0


@pytest.mark.parametrize(
    ("names", "fingerprint", "params"),
    [
        pytest.param(NAMES[:2], FP, None, id="fewer-features"),
        pytest.param([*NAMES, "mom_rsi_7"], FP, None, id="more-features"),
        pytest.param(NAMES, "ffffffffffff", None, id="other-data"),
        pytest.param(NAMES, FP, {"horizon": 24}, id="params"),
    ],
)
def test_any_change_gives_a_new_id(
    names: list[str], fingerprint: str, params: dict | None
) -> None:
    base = feature_set_id(NAMES, data_fingerprint=FP)
    assert feature_set_id(names, data_fingerprint=fingerprint, params=params) != base


def test_package_version_is_part_of_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    base = feature_set_id(NAMES, data_fingerprint=FP)
    monkeypatch.setattr(versioning, "_package_version", lambda: "99.0.0")
    assert feature_set_id(NAMES, data_fingerprint=FP) != base


def test_changed_feature_params_give_a_new_id(scratch_registry: None) -> None:
    def mom_probe(close: np.ndarray, *, window: int, scale: float) -> np.ndarray:
        """Probe (test)."""
        return close * scale

    register_feature(
        category="momentum",
        inputs=("close",),
        warmup=0,
        params={"scale": 1.0},
        grid=window_grid(5),
    )(mom_probe)
    before = feature_set_id(["mom_probe_5"], data_fingerprint=FP)
    del registry._REGISTRY["mom_probe_5"]
    register_feature(
        category="momentum",
        inputs=("close",),
        warmup=0,
        params={"scale": 2.0},
        grid=window_grid(5),
    )(mom_probe)
    assert feature_set_id(["mom_probe_5"], data_fingerprint=FP) != before


@pytest.mark.parametrize(
    ("names", "fingerprint", "params", "match"),
    [
        pytest.param(["nope"], FP, None, "Unknown feature 'nope'", id="unknown"),
        pytest.param([], FP, None, "at least one feature", id="empty"),
        pytest.param("mom_rsi_14", FP, None, "got the string", id="string"),
        pytest.param(NAMES, "", None, "non-empty string", id="fingerprint"),
        pytest.param(NAMES, FP, {"f": object()}, "plain JSON", id="params"),
    ],
)
def test_bad_input_raises(names, fingerprint, params, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FeatureError, match=match):
        feature_set_id(names, data_fingerprint=fingerprint, params=params)
