"""Tests of the market simulator and its known truth (perpml.data.sources.synthetic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data import validate_market_data
from perpml.data.schema import CANONICAL_COLUMNS, INTERVALS
from perpml.data.sources.base import MarketDataSource
from perpml.data.sources.synthetic import (
    SyntheticSource,
    market_from_attrs,
    simulate_market,
)
from perpml.exceptions import ConfigError, DataContractError, InsufficientDataError
from perpml.features.targets import make_targets

#: the oracle must beat the majority class by at least this many accuracy points at
#: the default threshold (measured: about 0.10-0.13 on 60 days, docs/simulator.md)
ORACLE_MARGIN = 0.05


@pytest.fixture(scope="module")
def market():
    return simulate_market(days=20, seed=42)


@pytest.fixture(scope="module")
def targets(market):
    return make_targets(market.frame, horizon=12, threshold=0.5)


def test_same_seed_is_bit_identical_and_other_seeds_differ() -> None:
    a = simulate_market(days=2, seed=3).frame
    b = simulate_market(days=2, seed=3).frame
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = simulate_market(days=2, seed=4).frame
    d = simulate_market(symbol="ETHUSDT", days=2, seed=3).frame
    e = simulate_market(symbol="XYZUSDT", days=2, seed=3).frame
    for other in (c, d, e):
        returns = np.log(other["close"]).diff().dropna().to_numpy()
        assert not np.allclose(returns, np.log(a["close"]).diff().dropna().to_numpy())
    assert d["close"].iloc[0] < 10_000 < a["close"].iloc[0]


def test_shorter_run_is_an_exact_prefix() -> None:
    short = simulate_market(days=3, seed=9).frame
    long = simulate_market(days=5, seed=9).frame
    pd.testing.assert_frame_equal(short, long.iloc[: len(short)], check_exact=True)


@pytest.mark.parametrize(
    ("interval", "days"),
    [
        pytest.param("1m", 0.5, id="1m"),
        pytest.param("5m", 1.5, id="5m-fractional-days"),
        pytest.param("15m", 3, id="15m"),
        pytest.param("1h", 10, id="1h"),
        pytest.param("4h", 30, id="4h"),
        pytest.param("1d", 200, id="1d"),
    ],
)
def test_any_interval_passes_the_contract(interval: str, days: float) -> None:
    frame = simulate_market(days=days, interval=interval, seed=1).frame
    bar = INTERVALS[interval]
    assert len(frame) == round(pd.Timedelta(days=days) / bar)
    validate_market_data(frame, interval=interval)
    assert tuple(frame.columns) == CANONICAL_COLUMNS
    assert (frame.dtypes == np.float64).all()
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert (np.diff(frame.index.asi8) == bar.value).all()
    assert frame.notna().all().all()
    assert frame.attrs == {
        "symbol": "BTCUSDT",
        "interval": interval,
        "source": "synthetic",
        "seed": 1,
        "start": "2024-01-01T00:00:00+00:00",
        "days": float(days),
        "signal_strength": 1.0,
    }


def test_bar_consistency(market) -> None:
    f = market.frame
    assert (f["high"] >= f[["open", "close"]].max(axis=1)).all()
    assert (f["low"] <= f[["open", "close"]].min(axis=1)).all()
    np.testing.assert_array_equal(f["open"].to_numpy()[1:], f["close"].to_numpy()[:-1])
    assert (f["taker_buy_volume"] <= f["volume"]).all()
    assert (f["taker_buy_quote_volume"] <= f["quote_volume"]).all()
    vwap = f["quote_volume"] / f["volume"]
    assert ((vwap >= f["low"]) & (vwap <= f["high"])).all()
    ratio = f["taker_buy_volume"] / (f["volume"] - f["taker_buy_volume"])
    np.testing.assert_allclose(f["taker_long_short_ratio"], ratio, rtol=1e-9)
    assert np.corrcoef(np.log(f["trades"]), np.log(f["volume"]))[0, 1] > 0.95
    assert (np.abs(f["mark_price"] / f["close"] - 1) < 1e-3).all()
    premium = f["mark_price"] / f["index_price"] - 1
    np.testing.assert_allclose(premium, market.latent["premium"], atol=1e-12)
    np.testing.assert_allclose(
        f["open_interest_value"], f["open_interest"] * f["mark_price"], rtol=1e-12
    )


def test_funding_is_a_step_function_changing_at_settlements(market) -> None:
    f = market.frame
    close_time = f.index + pd.Timedelta(minutes=5)
    changed = f["funding_rate"].diff().fillna(0) != 0
    at_settlement = (close_time.hour % 8 == 0) & (close_time.minute == 0)
    assert changed.any()
    assert not (changed & ~at_settlement).any()
    # the bar opening 07:55 carries the 08:00 settlement
    assert at_settlement[f.index.get_loc(pd.Timestamp("2024-01-01 07:55", tz="UTC"))]
    assert (f["funding_rate"].abs() <= 0.0075).all()
    # the Binance clamp keeps funding at the 0.01 % interest rate most of the time
    assert (f["funding_rate"] == 0.0001).mean() > 0.5


def test_stylized_facts(market) -> None:
    f = market.frame
    r = np.log(f["close"]).diff().dropna()
    assert r.kurt() > 3.0  # excess kurtosis: Student-t shocks x GARCH x regimes
    assert np.abs(r).autocorr(1) > 0.1  # volatility clustering
    assert abs(r.autocorr(1)) < 0.1  # but no strong linear predictability
    # intraday seasonality: the US afternoon is busier than the Asian night
    hour = f.index.hour
    assert (
        f["volume"][(hour >= 13) & (hour < 17)].mean()
        > 1.3 * f["volume"][(hour >= 1) & (hour < 5)].mean()
    )
    # premium (observable as mark / index) mean-reverts
    premium = f["mark_price"] / f["index_price"] - 1
    slope = np.polyfit(premium.to_numpy()[:-1], np.diff(premium.to_numpy()), 1)[0]
    assert -0.5 < slope < 0
    # settled funding mean-reverts from settlement to settlement
    settled = f["funding_rate"].iloc[::96].to_numpy()
    assert np.corrcoef(settled[:-1], settled[1:])[0, 1] < 0.95
    # the crowd (long/short ratio) chases price: positive correlation with 1h returns
    dls = np.log(f["long_short_ratio"]).diff(12)
    assert dls.corr(np.log(f["close"]).diff(12)) > 0.2


def test_liquidation_cascades_drop_open_interest(market) -> None:
    f = market.frame
    cascade = market.latent["cascade"].to_numpy() == 1.0
    assert cascade.sum() >= 3
    doi = np.log(f["open_interest"]).diff().to_numpy()
    assert (doi[cascade] < -0.02).all()
    assert np.nanmedian(np.abs(doi[~cascade])) < 0.005
    vol = f["volume"].to_numpy()
    assert np.median(vol[cascade]) > 2.5 * np.median(vol)


def test_truth_is_not_in_the_frame_and_is_a_distribution(market) -> None:
    truth = market.truth(12, n_paths=32)
    assert tuple(market.frame.columns) == CANONICAL_COLUMNS
    assert not set(truth.columns) & set(market.frame.columns)
    assert truth.index.equals(market.frame.index)
    assert truth.iloc[-12:].isna().all().all()
    body = truth.iloc[:-12]
    assert body.notna().all().all()
    probs = body[["p_short", "p_neutral", "p_long"]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert ((probs >= -1e-12) & (probs <= 1 + 1e-12)).all().all()


def test_truth_is_f_t_measurable() -> None:
    # the state at t and the seed fix each row: a truncated simulation agrees exactly
    long = simulate_market(days=3, seed=5)
    short = simulate_market(days=2, seed=5)
    h = 12
    a = long.truth(h, n_paths=32)
    b = short.truth(h, n_paths=32)
    n = len(short.frame) - h
    pd.testing.assert_frame_equal(a.iloc[:n], b.iloc[:n], check_exact=True)
    # and rows do not depend on which other rows are requested
    targets = make_targets(short.frame, h, threshold=0.004, scale="fixed")
    sub = targets.iloc[100:200]
    pred = b[["p_short", "p_neutral", "p_long"]].iloc[100:200]
    truth_b = short.truth(h, 0.004, n_paths=32).iloc[100:200]
    expected = (
        truth_b[["p_short", "p_neutral", "p_long"]].to_numpy().argmax(1)
        == sub["target_class"].to_numpy()
    ).mean()
    assert short.oracle_accuracy(sub, n_paths=32) == pytest.approx(expected)
    assert pred.shape == (100, 3)


def test_oracle_beats_the_majority_class(market, targets) -> None:
    metrics = market.oracle_metrics(targets, n_paths=64)
    assert metrics.n == int(targets["target_class"].notna().sum())
    assert metrics.accuracy > metrics.majority_accuracy + ORACLE_MARGIN
    assert metrics.directional_accuracy > 0.6
    # model-free check that the expected return carries the planted drift
    truth = market.truth(12, targets["threshold"], n_paths=64)
    ic = truth["expected_return"].corr(targets["target_return"], method="spearman")
    assert ic > 0.15


def test_truth_is_calibrated(market, targets) -> None:
    truth = market.truth(12, targets["threshold"], n_paths=64)
    rows = targets["target_class"].notna()
    y = targets.loc[rows, "target_class"].to_numpy()
    for code, col in enumerate(["p_short", "p_neutral", "p_long"]):
        p = truth.loc[rows, col].to_numpy()
        assert abs(p.mean() - (y == code).mean()) < 0.03, col
        # the true probability is sharper than the unconditional frequency
    probs = truth.loc[rows, ["p_short", "p_neutral", "p_long"]].to_numpy()
    log_loss = -np.mean(
        np.log(np.clip(probs[np.arange(len(y)), y.astype(int)], 1e-9, 1))
    )
    freq = np.bincount(y.astype(int), minlength=3) / len(y)
    base = -np.mean(np.log(freq[y.astype(int)]))
    assert log_loss < base - 0.02


def test_triple_barrier_truth_is_calibrated(market) -> None:
    targets = make_targets(market.frame, 12, threshold=0.5, method="triple_barrier")
    truth = market.truth(12, targets["threshold"], n_paths=64, method="triple_barrier")
    fixed = market.truth(12, targets["threshold"], n_paths=64)
    rows = targets["target_class"].notna()
    y = targets.loc[rows, "target_class"].to_numpy()
    for code, col in enumerate(["p_short", "p_neutral", "p_long"]):
        assert abs(truth.loc[rows, col].mean() - (y == code).mean()) < 0.03, col
    # touching a barrier on the way is likelier than ending beyond it
    assert (
        truth.loc[rows, "p_neutral"].mean() < fixed.loc[rows, "p_neutral"].mean() - 0.05
    )
    pd.testing.assert_series_equal(truth["expected_return"], fixed["expected_return"])
    metrics = market.oracle_metrics(targets, n_paths=64)
    assert metrics.accuracy > metrics.majority_accuracy + ORACLE_MARGIN


def test_source_protocol_and_market_from_attrs(market) -> None:
    source = SyntheticSource(seed=42)
    assert isinstance(source, MarketDataSource)
    assert source.name == "synthetic"
    frame = source.load("BTCUSDT", 20, "5m")
    pd.testing.assert_frame_equal(frame, market.frame, check_exact=True)
    rebuilt = market_from_attrs(frame)
    pd.testing.assert_frame_equal(rebuilt.frame, market.frame, check_exact=True)
    # a slice (e.g. the test period) keeps its attrs and rebuilds the same market
    part = frame.iloc[1000:1500]
    assert market_from_attrs(part).frame.index.equals(frame.index)
    with pytest.raises(DataContractError, match="attrs"):
        market_from_attrs(pd.DataFrame(frame.copy()).rename_axis(None).pipe(_no_attrs))
    tampered = frame.copy()
    tampered.iloc[5, tampered.columns.get_loc("close")] *= 1.01
    with pytest.raises(DataContractError, match="does not reproduce"):
        market_from_attrs(tampered)


def _no_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    frame.attrs = {}
    return frame


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"interval": "7m"}, "interval", id="interval"),
        pytest.param({"days": 0}, "days", id="days-zero"),
        pytest.param({"days": 0.001}, "at least 2", id="too-short"),
        pytest.param({"seed": -1}, "seed", id="seed"),
        pytest.param({"symbol": ""}, "symbol", id="symbol"),
        pytest.param({"start": "2024-01-01 00:03"}, "grid", id="start-off-grid"),
        pytest.param({"start": "not a date"}, "start", id="start-garbage"),
    ],
)
def test_bad_simulation_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        simulate_market(**{"days": 1, **kwargs})


def test_bad_truth_arguments(market, targets) -> None:
    with pytest.raises(ConfigError, match="horizon"):
        market.truth(0)
    with pytest.raises(InsufficientDataError, match="horizon"):
        market.truth(len(market.frame))
    with pytest.raises(ConfigError, match="n_paths"):
        market.truth(12, n_paths=33)
    with pytest.raises(ConfigError, match="threshold"):
        market.truth(12, threshold=-0.01)
    triple = make_targets(market.frame, method="triple_barrier")
    triple.attrs["method"] = "meta_label"
    with pytest.raises(ConfigError, match="triple_barrier"):
        market.oracle_accuracy(triple)
    other = make_targets(
        simulate_market(days=3, start="2023-01-01").frame, vol_window=50
    )
    with pytest.raises(ConfigError, match="bars of this market"):
        market.oracle_accuracy(other)
    with pytest.raises(InsufficientDataError, match="no row"):
        market.oracle_accuracy(targets.iloc[:100])
