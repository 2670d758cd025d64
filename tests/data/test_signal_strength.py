"""Simulator ``signal_strength``: 0 plants no relation, 1 is the default market."""

from __future__ import annotations

import numpy as np
import pytest

from perpml.data import load_market_data
from perpml.data.sources.synthetic import (
    SyntheticSource,
    market_from_attrs,
    simulate_market,
)
from perpml.exceptions import ConfigError
from perpml.features.targets import make_targets


def test_default_strength_is_the_unchanged_market():
    a = simulate_market(days=2, seed=3)
    b = simulate_market(days=2, seed=3, signal_strength=1.0)
    assert a.frame.equals(b.frame)
    assert a.frame.attrs["signal_strength"] == 1.0


def test_zero_strength_plants_no_signal_and_no_cascades():
    market = simulate_market(days=3, seed=3, signal_strength=0.0)
    latent = market.latent
    assert (latent["drift"] == 0).all()
    assert (latent["cascade"] == 0).all()
    assert latent["volatility"].gt(0).all()  # still a market, only unpredictable
    assert "signal_strength=0" in repr(market)


def test_oracle_is_a_constant_prediction_on_pure_noise():
    market = simulate_market(days=8, seed=5, signal_strength=0.0)
    targets = make_targets(market.frame, horizon=12)
    scored = market.oracle_metrics(targets.iloc[-800:], n_paths=64)
    # no direction to know: the oracle rarely leaves NEUTRAL and gains ~nothing
    assert scored.accuracy == pytest.approx(scored.majority_accuracy, abs=0.04)
    assert scored.directional_coverage < 0.2
    strong = simulate_market(days=8, seed=5)
    planted = strong.oracle_metrics(
        make_targets(strong.frame, horizon=12).iloc[-800:], n_paths=64
    )
    assert planted.accuracy - planted.majority_accuracy > scored.accuracy - (
        scored.majority_accuracy
    )


def test_strength_through_load_market_data_and_rebuilt_from_attrs():
    frame = load_market_data("synthetic", days=2, seed=3, signal_strength=0.5)
    assert frame.attrs["signal_strength"] == 0.5
    rebuilt = market_from_attrs(frame)
    assert rebuilt.signal_strength == 0.5
    assert np.array_equal(rebuilt.frame["close"], frame["close"])
    assert "signal_strength=0.5" in repr(SyntheticSource(signal_strength=0.5))


@pytest.mark.parametrize(
    "bad", [pytest.param(-1.0, id="negative"), pytest.param(float("nan"), id="nan")]
)
def test_bad_strength_is_refused(bad):
    with pytest.raises(ConfigError, match="signal_strength"):
        simulate_market(days=1, signal_strength=bad)


def test_oracle_predictions_match_oracle_metrics():
    market = simulate_market(days=3, seed=2)
    targets = make_targets(market.frame, horizon=12).iloc[-300:]
    calls = market.oracle_predictions(targets, n_paths=32)
    labelled = targets["target_class"].dropna()
    assert calls.index.equals(labelled.index)
    accuracy = float((calls == labelled.astype("int64")).mean())
    assert accuracy == pytest.approx(market.oracle_accuracy(targets, n_paths=32))
