"""Tests of perpml.features.targets.make_targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data.sources.synthetic import simulate_market
from perpml.exceptions import ConfigError, DataContractError, InsufficientDataError
from perpml.features.targets import LONG, NEUTRAL, SHORT, make_targets

BAR = pd.Timedelta(minutes=5)


def _market(
    close: list[float] | np.ndarray, oi: list[float] | None = None
) -> pd.DataFrame:
    close = np.asarray(close, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=len(close), freq="5min", tz="UTC")
    frame = pd.DataFrame(
        {
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": np.ones(len(close)),
        },
        index=pd.DatetimeIndex(index, name="timestamp"),
    )
    if oi is not None:
        frame["open_interest"] = np.asarray(oi, dtype=np.float64)
    frame.attrs["interval"] = "5m"
    return frame


@pytest.fixture(scope="module")
def sim_market():
    return simulate_market(days=4, seed=7)


def test_hand_computed_fixed_horizon() -> None:
    close = [100.0, 101.0, 99.0, 102.0, 100.0, 103.0]
    market = _market(close, oi=[10.0, 11.0, 12.0, 11.0, 10.0, 9.0])
    out = make_targets(market, horizon=2, threshold=0.015, scale="fixed")
    expected_ret = [
        np.log(99 / 100),  # -1.0 %  -> NEUTRAL
        np.log(102 / 101),  # +0.99 % -> NEUTRAL
        np.log(100 / 99),  # +1.0 %  -> NEUTRAL
        np.log(103 / 102),  # +0.98 % -> NEUTRAL
    ]
    np.testing.assert_allclose(out["target_return"].iloc[:4], expected_ret)
    assert out["target_return"].iloc[4:].isna().all()
    assert out["target_class"].iloc[:4].tolist() == [NEUTRAL] * 4

    out = make_targets(market, horizon=1, threshold=0.015, scale="fixed")
    # 100->101 +1.0% N, 101->99 -2.0% S, 99->102 +3.0% L, 102->100 -1.98% S, 100->103 L
    assert out["target_class"].iloc[:5].tolist() == [NEUTRAL, SHORT, LONG, SHORT, LONG]
    assert np.isnan(out["target_class"].iloc[5])
    np.testing.assert_allclose(
        out["target_oi_change"].iloc[:5],
        np.log([11 / 10, 12 / 11, 11 / 12, 10 / 11, 9 / 10]),
    )
    assert (out["threshold"] == 0.015).all()
    assert out.index.equals(market.index)
    assert out["target_class"].dtype == np.float64


def test_label_end_is_close_time_of_bar_t_plus_h() -> None:
    market = _market(np.linspace(100, 110, 30))
    h = 5
    out = make_targets(market, horizon=h, threshold=0.001, scale="fixed")
    expected = market.index[h:] + BAR
    assert (out["label_end"].iloc[:-h].to_numpy() == expected.to_numpy()).all()
    assert out["label_end"].iloc[-h:].isna().all()
    assert str(out["label_end"].dtype).startswith("datetime64") and "UTC" in str(
        out["label_end"].dtype
    )


@pytest.mark.parametrize("method", ["fixed_horizon", "triple_barrier"])
def test_no_label_in_last_h_rows(method: str, sim_market) -> None:
    h = 7
    out = make_targets(sim_market.frame, horizon=h, method=method)
    assert out.iloc[-h:][["target_class", "target_return"]].isna().all().all()
    assert out["label_end"].iloc[-h:].isna().all()
    assert out["target_class"].iloc[300:-h].notna().all()


def test_volatility_threshold_is_causal_and_has_a_warm_up(sim_market) -> None:
    frame = sim_market.frame
    window = 48
    full = make_targets(frame, horizon=12, threshold=0.5, vol_window=window)
    assert full["threshold"].iloc[:window].isna().all()
    assert full["threshold"].iloc[window:].notna().all()
    assert full["target_class"].iloc[:window].isna().all()
    # truncating the future must not change the threshold known at t
    cut = 400
    part = make_targets(frame.iloc[:cut], horizon=12, threshold=0.5, vol_window=window)
    pd.testing.assert_series_equal(part["threshold"], full["threshold"].iloc[:cut])
    # and it is 0.5 x the trailing std of 1-bar log returns x sqrt(h)
    t = 200
    rets = np.diff(np.log(frame["close"].to_numpy()[t - window : t + 1]))
    assert full["threshold"].iloc[t] == pytest.approx(
        0.5 * rets.std(ddof=1) * np.sqrt(12)
    )


def test_triple_barrier_on_constructed_paths() -> None:
    # t=0: path +1%, +3% (hits +2% first) then -5%: LONG although the end is down
    # t=4: path -3% first: SHORT ; t=8: stays within +-2%: NEUTRAL
    close = [100, 101, 103, 95, 100, 97, 99, 104, 100, 101, 99, 100.5, 100, 100, 100]
    market = _market(close)
    out = make_targets(
        market, horizon=3, threshold=0.02, scale="fixed", method="triple_barrier"
    )
    fixed = make_targets(market, horizon=3, threshold=0.02, scale="fixed")
    assert out["target_class"].iloc[0] == LONG
    assert fixed["target_class"].iloc[0] == SHORT  # the fixed horizon sees only the end
    assert out["target_class"].iloc[4] == SHORT
    assert out["target_class"].iloc[8] == NEUTRAL
    # label_end and target_return are the fixed-horizon ones
    pd.testing.assert_series_equal(out["label_end"], fixed["label_end"])
    pd.testing.assert_series_equal(out["target_return"], fixed["target_return"])
    assert out.attrs["method"] == "triple_barrier"


def test_nan_close_gives_no_label() -> None:
    close = np.linspace(100, 120, 20)
    close[10] = np.nan
    out = make_targets(_market(close), horizon=2, threshold=0.001, scale="fixed")
    assert out["target_class"].iloc[[8, 10]].isna().all()
    assert out["target_class"].iloc[[7, 11]].notna().all()
    tb = make_targets(
        _market(close), horizon=3, threshold=0.5, scale="fixed", method="triple_barrier"
    )
    assert tb["target_class"].iloc[7:11].isna().all()


def test_oi_change_only_with_open_interest() -> None:
    assert "target_oi_change" not in make_targets(
        _market(np.linspace(1, 2, 10)), horizon=2, threshold=0.01, scale="fixed"
    )
    oi = [10.0, 0.0, 12.0, np.nan, 11.0, 10.0]
    out = make_targets(
        _market(np.ones(6), oi=oi), horizon=1, threshold=0.01, scale="fixed"
    )
    assert out["target_oi_change"].iloc[:4].isna().all()  # unknown, not +-inf
    assert out["target_oi_change"].iloc[4] == pytest.approx(np.log(10 / 11))


def test_interval_inferred_without_attrs() -> None:
    market = _market(np.linspace(100, 101, 20))
    market.attrs = {}
    out = make_targets(market, horizon=2, threshold=0.001, scale="fixed")
    assert out.attrs["interval"] == "5m"
    assert out["label_end"].iloc[0] == market.index[2] + BAR


def test_attrs_record_the_recipe(sim_market) -> None:
    out = make_targets(sim_market.frame, horizon=6, threshold=0.7, vol_window=100)
    assert out.attrs == {
        "horizon": 6,
        "threshold": 0.7,
        "scale": "volatility",
        "vol_window": 100,
        "method": "fixed_horizon",
        "interval": "5m",
    }


def test_truth_uses_the_same_threshold_series(sim_market) -> None:
    targets = make_targets(sim_market.frame, horizon=12, threshold=0.5, vol_window=144)
    truth = sim_market.truth(12, targets["threshold"], n_paths=32)
    labelled = targets["target_class"].notna()
    # probabilities exist exactly where the threshold and the label exist
    assert truth["p_long"].notna().to_numpy()[labelled.to_numpy()].all()
    assert truth["p_long"].iloc[:144].isna().all()
    # the oracle scored on the targets uses the per-row threshold: same argmax
    pred = truth[["p_short", "p_neutral", "p_long"]].to_numpy().argmax(axis=1)
    y = targets["target_class"].to_numpy()
    expected = float((pred[labelled] == y[labelled]).mean())
    assert sim_market.oracle_accuracy(targets, n_paths=32) == pytest.approx(expected)
    # a different threshold gives different probabilities
    other = sim_market.truth(12, targets["threshold"] * 2, n_paths=32)
    assert not np.allclose(other["p_neutral"].dropna(), truth["p_neutral"].dropna())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"horizon": 0}, ConfigError, "horizon", id="horizon-zero"),
        pytest.param({"horizon": 1.5}, ConfigError, "horizon", id="horizon-float"),
        pytest.param({"threshold": 0.0}, ConfigError, "threshold", id="threshold-zero"),
        pytest.param(
            {"threshold": float("nan")}, ConfigError, "threshold", id="thr-nan"
        ),
        pytest.param({"scale": "atr"}, ConfigError, "scale", id="scale"),
        pytest.param({"method": "meta"}, ConfigError, "method", id="method"),
        pytest.param({"vol_window": 1}, ConfigError, "vol_window", id="window"),
        pytest.param({"horizon": 40}, InsufficientDataError, "at least", id="short"),
        pytest.param(
            {"vol_window": 30}, InsufficientDataError, "vol_window", id="warmup"
        ),
    ],
)
def test_bad_inputs_raise(kwargs: dict, error: type[Exception], match: str) -> None:
    market = _market(np.linspace(100, 101, 40))
    with pytest.raises(error, match=match):
        make_targets(market, **kwargs)


def test_bad_market_raises() -> None:
    market = _market(np.linspace(100, 101, 20))
    with pytest.raises(DataContractError, match="close"):
        make_targets(
            market.drop(columns="close"), scale="fixed", threshold=0.01, horizon=2
        )
    bad = market.copy()
    bad.iloc[3, bad.columns.get_loc("close")] = -1.0
    with pytest.raises(DataContractError, match="> 0"):
        make_targets(bad, scale="fixed", threshold=0.01, horizon=2)
    with pytest.raises(ConfigError, match="DataFrame"):
        make_targets(market["close"], horizon=2)  # type: ignore[arg-type]
