"""Incremental features equal the batch features for the newest bars — every feature.

Tolerance. Finite-memory features are computed from exactly the bars the batch
reads, so they match to float32 rounding. Infinite-memory ones (EMA, Wilder RSI/ADX/
ATR, KAMA, TRIX, MACD) are started ``MEMORY_FACTOR * warmup`` bars back; the start's
weight is then below ``e^-20`` (see ``perpml.store.incremental``), far below float32
resolution. What remains is float64 round-off that may round to the neighbouring
float32: we allow 2 float32 ulps (2 * 2^-23) of the larger of the value and the
column's median magnitude (a feature that is a difference of two large terms, like
``trend_di_spread``, has the resolution of its terms, not of its tiny result). A
truncation error would be orders of magnitude larger. NaN positions must match.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data.sources.synthetic import simulate_market
from perpml.features import build_features, list_features
from perpml.store import latest_features, trailing_window

TOLERANCE = 2 * 2.0**-23
ROWS = 3

#: Features whose *batch* value depended on where the history starts. The
#: liquidation shares and imbalance used to (running-sum residues of ~1e-16 on bars
#: without events); ``features.liquidations._volume_sum`` fixed it, so none is left.
KNOWN_START_DEPENDENT: tuple[str, ...] = ()


def checked_features() -> list[str]:
    """Every registered feature except the known start-dependent ones."""
    return [n for n in list_features()["name"] if n not in KNOWN_START_DEPENDENT]


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    # Longer than the longest trailing window, so every feature is truncated.
    return simulate_market(days=34, seed=11).frame


@pytest.fixture(scope="module")
def batch(market: pd.DataFrame) -> pd.DataFrame:
    return build_features(market)


def assert_close_to_batch(got: pd.DataFrame, batch: pd.DataFrame) -> None:
    want = batch[got.columns].iloc[-len(got) :]
    assert got.index.equals(want.index)
    a, b = got.to_numpy(), want.to_numpy()
    nan_diff = (np.isnan(a) != np.isnan(b)).any(axis=0)
    assert not nan_diff.any(), list(got.columns[nan_diff])
    scale = np.nanmedian(np.abs(batch[got.columns].to_numpy()), axis=0)
    bound = TOLERANCE * np.maximum(np.abs(b), scale)
    bad = (np.abs(a - b) > bound) & ~np.isnan(b)
    worst = {
        got.columns[j]: float(np.max(np.abs(a[:, j] - b[:, j])))
        for j in np.flatnonzero(bad.any(axis=0))
    }
    assert not worst, f"incremental != batch for {worst}"


def test_every_registered_feature_equals_batch(market, batch):
    names = checked_features()
    assert set(KNOWN_START_DEPENDENT) <= set(list_features()["name"])
    assert len(market) > trailing_window(names, ROWS), "market must exceed the window"
    got = latest_features(market, names, rows=ROWS)
    assert got.dtypes.eq(np.float32).all()
    assert list(got.columns) == names
    assert not got.isna().any().any()
    assert_close_to_batch(got, batch)


def test_only_the_trailing_window_is_read(market, batch):
    # Scramble every bar before the window: the newest rows must not change.
    names = checked_features()
    window = trailing_window(names, ROWS)
    scrambled = market.copy()
    rng = np.random.default_rng(42)
    head = scrambled.iloc[:-window]
    scrambled.iloc[:-window] = head.to_numpy() * rng.uniform(0.5, 1.5, head.shape)
    got = latest_features(scrambled, names, rows=ROWS)
    assert_close_to_batch(got, batch)


def test_liquidation_ratios_are_exactly_zero_without_events(market, batch):
    """The former start-dependent features now equal the batch value (0 when idle)."""
    names = ["liq_imbalance_1", "liq_long_share_1", "liq_short_share_1"]
    assert_close_to_batch(latest_features(market, names, rows=ROWS), batch)
    quiet = (market["liquidation_long_volume"] == 0) & (
        market["liquidation_short_volume"] == 0
    )
    assert (batch.loc[quiet.to_numpy(), "liq_imbalance_1"].dropna() == 0).all()


def test_short_history_matches_batch_on_that_history(market):
    short = market.iloc[:400]
    names = ["trend_ema_dist_200", "mom_rsi_14", "price_logret_1", "time_hour_sin"]
    got = latest_features(short, names, rows=2)
    want = build_features(short, include=names)[names].iloc[-2:]
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_freq=False)
    assert np.isnan(got["trend_ema_dist_200"]).all()  # still in warm-up, as in batch


def test_bad_arguments_are_clear(market):
    from perpml.exceptions import FeatureError

    with pytest.raises(FeatureError, match="non-empty list"):
        latest_features(market, [])
    with pytest.raises(FeatureError, match="rows"):
        latest_features(market, ["price_logret_1"], rows=0)
    with pytest.raises(FeatureError, match="Unknown feature"):
        latest_features(market, ["price_nope"])
