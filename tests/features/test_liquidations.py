"""Liquidation features: zeros stay finite, absent columns skip, simulator signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data.liquidations import aggregate_liquidations, events_to_frame
from perpml.data.schema import LIQUIDATION_COLUMNS
from perpml.features import build_features, list_features

N = 600


def _liq(market: pd.DataFrame) -> pd.DataFrame:
    return build_features(market, categories=["liquidations"])


def _cascade_bars(X: pd.DataFrame) -> pd.Series:
    """Bars whose liquidations reach CASCADE_SHARE of the volume traded."""
    from perpml.features.liquidations import CASCADE_SHARE

    return (X["liq_long_share_1"] + X["liq_short_share_1"]) >= CASCADE_SHARE


def test_the_category_is_registered_with_its_prefix() -> None:
    specs = list_features()
    names = specs.loc[specs["category"] == "liquidations", "name"]
    assert len(names) >= 20 and names.str.startswith("liq_").all()


def test_bars_without_liquidations_give_zeros_not_inf(market: pd.DataFrame) -> None:
    quiet = market.iloc[:N].copy()
    quiet[list(LIQUIDATION_COLUMNS)] = 0.0
    X = _liq(quiet)
    assert X.attrs["skipped"] == {}
    values = X.iloc[300:].to_numpy()
    assert np.isfinite(values).all()  # the seed's pct_change of zeros gave inf here
    assert (values == 0).all()


def test_mostly_zero_liquidations_never_give_inf(market: pd.DataFrame) -> None:
    X = _liq(market)
    assert not np.isinf(X.to_numpy()).any()
    assert (market["liquidation_count"] == 0).mean() > 0.3  # the fixture is sparse


def test_absent_columns_skip_the_category(price_only_market: pd.DataFrame) -> None:
    X = _liq(price_only_market)
    assert X.shape[1] == 0
    assert X.attrs["skipped"]
    assert all("liquidation" in r for r in X.attrs["skipped"].values())


def test_imbalance_and_cascade_follow_the_sides(market: pd.DataFrame) -> None:
    frame = market.iloc[:N].copy()
    frame[list(LIQUIDATION_COLUMNS)] = 0.0
    frame.loc[frame.index[400], "liquidation_long_volume"] = frame["volume"].iloc[400]
    frame.loc[frame.index[400], "liquidation_count"] = 50.0
    frame.loc[frame.index[500], "liquidation_short_volume"] = 1e-6  # no cascade
    X = _liq(frame)
    assert X["liq_imbalance_1"].iloc[400] == 1.0
    assert X["liq_imbalance_1"].iloc[500] == -1.0
    assert X["liq_cascade_12"].iloc[400:412].eq(1.0).all()
    assert X["liq_cascade_12"].iloc[412] == 0.0
    assert X["liq_cascade_side_12"].iloc[405] == 1.0
    assert X["liq_cascade_12"].iloc[500] == 0.0
    assert X["liq_long_share_1"].iloc[400] == pytest.approx(1.0)


def test_features_are_causal_on_truncation(market: pd.DataFrame) -> None:
    full = _liq(market.iloc[:N])
    for last in (0, 11, 287, 450, N - 1):
        head = _liq(market.iloc[: last + 1])
        pd.testing.assert_frame_equal(head, full.iloc[: last + 1], check_freq=False)


def test_events_sum_into_their_bars_and_sides() -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="5min", tz="UTC")
    times = pd.DatetimeIndex(
        ["2024-01-01 00:05:00", "2024-01-01 00:09:59.999", "2024-01-01 00:15:00"],
        tz="UTC",
    )
    events = events_to_frame(times, ["SELL", "buy", "SELL"], [1.0, 2.0, 4.0])
    bars = aggregate_liquidations(events, index, "5m")
    # before the first event nothing was recorded: NaN, not 0
    assert bars["liquidation_long_volume"].tolist()[1:] == [1.0, 0.0, 4.0]
    assert bars["liquidation_short_volume"].tolist()[1:] == [2.0, 0.0, 0.0]
    assert bars["liquidation_count"].tolist()[1:] == [2.0, 0.0, 1.0]
    assert bars.iloc[0].isna().all()


def test_simulator_liquidations_match_its_cascades_and_oi_drops() -> None:
    from perpml.data.sources.synthetic import simulate_market

    market = simulate_market("BTCUSDT", days=30, interval="5m", seed=1)
    frame, latent = market.frame, market.latent
    X = _liq(frame)
    flagged = _cascade_bars(X)
    cascade = latent["cascade"] == 1
    assert cascade.sum() >= 5
    assert (flagged == cascade).all()  # every cascade bar, nothing else
    # the liquidated volume is the OI the cascade removes (plus a little noise)
    removed = -frame["open_interest"].diff()[cascade]
    liquidated = (frame["liquidation_long_volume"] + frame["liquidation_short_volume"])[
        cascade
    ]
    ratio = (liquidated / removed).median()
    assert 0.5 < ratio < 2.0
    # the crowded side is flushed: long liquidations when the crowd was long
    crowd = latent["crowd"].shift(1)[cascade]
    side = X["liq_imbalance_1"][cascade]
    assert (np.sign(side) == np.sign(crowd)).mean() > 0.9


def test_simulator_liquidation_features_carry_the_planted_bounce() -> None:
    """Where the model puts it (docs/simulator.md): after a cascade 40 % of the
    overshoot reverts, so the planted 12-bar drift points against the flushed side."""
    from perpml.data.sources.synthetic import simulate_market

    scores = []
    for seed in (1, 2, 42):
        market = simulate_market("BTCUSDT", days=30, interval="5m", seed=seed)
        X = _liq(market.frame)
        latent = market.latent
        ahead = sum(latent["drift"].shift(-j) for j in range(1, 13))
        onset = _cascade_bars(X)
        side = np.sign(X["liq_imbalance_1"][onset])  # +1 longs flushed (price fell)
        scores.append((side * ahead[onset] / latent["volatility"][onset]).dropna())
    score = pd.concat(scores)
    assert len(score) >= 25
    assert score.mean() > 0.5  # in units of one bar's sigma
    assert (score > 0).mean() > 0.7
