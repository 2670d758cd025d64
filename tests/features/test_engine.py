"""build_features: coverage, warm-up, skip reporting, NaN propagation, selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.exceptions import DataContractError, FeatureError
from perpml.features import build_features, list_features
from perpml.features.engine import _resolve_inputs
from perpml.features.registry import iter_features


@pytest.fixture(scope="module")
def full(market: pd.DataFrame) -> pd.DataFrame:
    return build_features(market)


def test_full_frame_gives_160_features_in_8_categories(full: pd.DataFrame) -> None:
    registry = list_features()
    assert full.shape[1] >= 160
    assert registry["category"].nunique() >= 8
    assert full.attrs["skipped"] == {}
    assert list(full.columns) == list(registry["name"])  # registry order
    assert (full.dtypes == np.float32).all()
    assert full.attrs["interval"] == "5m"


def test_index_is_preserved(market: pd.DataFrame, full: pd.DataFrame) -> None:
    assert full.index.equals(market.index)


def test_every_registered_feature_is_computed(full: pd.DataFrame) -> None:
    # walks the registry: each spec produces a column with some finite values
    for spec in iter_features():
        column = full[spec.name].to_numpy()
        assert np.isfinite(column).any(), spec.name


def test_warmup_rows_are_nan_and_later_rows_finite(full: pd.DataFrame) -> None:
    for spec in iter_features():
        column = full[spec.name].to_numpy()
        assert np.isnan(column[: spec.warmup]).all(), spec.name
        after = column[spec.warmup :]
        assert np.isfinite(after).all(), (
            f"{spec.name}: {np.count_nonzero(~np.isfinite(after))} non-finite values "
            f"after its warm-up of {spec.warmup} rows on clean data"
        )


def test_declared_warmup_covers_the_real_one(market: pd.DataFrame) -> None:
    # Call the raw functions (no engine masking): where the function itself first
    # produces values must not be later than the declared warm-up.
    arrays, missing = _resolve_inputs(market, iter_features())
    assert missing == {}
    for spec in iter_features():
        with np.errstate(all="ignore"):
            raw = spec.compute(*(arrays[c] for c in spec.inputs))
        finite = np.isfinite(raw)
        assert finite[spec.warmup :].all(), (
            f"{spec.name} declares warm-up {spec.warmup} but its first finite value "
            f"after a gap is at row {np.flatnonzero(~finite)[-1] + 1}"
        )


def test_price_only_frame_skips_and_reports(
    price_only_market: pd.DataFrame, full: pd.DataFrame
) -> None:
    result = build_features(price_only_market)
    skipped = result.attrs["skipped"]
    assert skipped["oi_change_12"] == "needs column 'open_interest' (absent)"
    assert "needs column 'funding_rate' (absent)" in skipped["funding_zscore_288"]
    assert set(skipped).isdisjoint(result.columns)
    assert set(skipped) | set(result.columns) == set(full.columns)
    # skipped features are absent, never zero-filled; the others are unchanged
    computed = list(result.columns)
    assert {"trend_adx_14", "mom_rsi_14", "time_hour_sin"} <= set(computed)
    pd.testing.assert_frame_equal(result, full[computed], check_like=False)


def test_all_nan_column_is_skipped(market: pd.DataFrame) -> None:
    frame = market.copy()
    frame["funding_rate"] = np.nan
    result = build_features(frame, categories=["funding"])
    assert result.attrs["skipped"]["funding_rate"] == (
        "needs column 'funding_rate' (all NaN)"
    )
    assert "funding_premium" in result.columns


def test_unknown_optional_values_propagate_as_nan(
    market: pd.DataFrame, full: pd.DataFrame
) -> None:
    frame = market.copy()
    frame.iloc[1000:1010, frame.columns.get_loc("open_interest")] = np.nan
    result = build_features(frame, categories=["open_interest"])
    change = result["oi_change_1"].to_numpy()
    assert np.isnan(change[1000:1011]).all()  # row 1010 needs OI at 1009
    assert np.isfinite(change[1011:]).all()
    zscore = result["oi_zscore_96"].to_numpy()
    assert np.isnan(zscore[1000 : 1009 + 96]).all()
    assert np.isfinite(zscore[1009 + 96 :]).all()
    # rows before the gap do not know about it
    before = result.iloc[:1000]
    pd.testing.assert_frame_equal(before, full[result.columns].iloc[:1000])
    assert not (result.iloc[1000:1010] == 0.0).any().any()


def test_serial_and_threaded_results_are_identical(market: pd.DataFrame) -> None:
    one = build_features(market.iloc[:800], n_jobs=1)
    two = build_features(market.iloc[:800], n_jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_single_row_frame(market: pd.DataFrame) -> None:
    result = build_features(market.iloc[:1])
    assert result.shape[0] == 1
    assert result.attrs["skipped"] == {}
    assert result["time_hours_to_funding"].iloc[0] == pytest.approx(7 + 55 / 60)


def test_interval_is_inferred_when_not_declared(market: pd.DataFrame) -> None:
    frame = market.iloc[:50].copy()
    frame.attrs = {}
    result = build_features(frame, categories=["calendar"])
    # the 23:55 bar closes at 00:00 = settlement, so the next one is 8 h away
    assert result["time_bars_to_funding"].iloc[0] == pytest.approx(95.0)


def test_single_undeclared_row_skips_interval_features(market: pd.DataFrame) -> None:
    frame = market.iloc[:1].copy()
    frame.attrs = {}
    result = build_features(frame, categories=["calendar"])
    assert "needs the bar interval" in result.attrs["skipped"]["time_bars_to_funding"]


def test_selection_by_category_include_exclude(market: pd.DataFrame) -> None:
    small = market.iloc[:300]
    momentum = build_features(small, categories=["momentum"])
    assert momentum.columns.str.startswith("mom_").all()
    picked = build_features(small, include=["mom_rsi_14", "oi_change_12"])
    assert list(picked.columns) == ["mom_rsi_14", "oi_change_12"]
    dropped = build_features(small, categories=["momentum"], exclude=["mom_rsi_14"])
    assert "mom_rsi_14" not in dropped.columns
    assert dropped.shape[1] == momentum.shape[1] - 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"categories": ["moon"]}, "Unknown feature categories", id="cat"),
        pytest.param({"include": ["mom_rsi_15"]}, "Did you mean", id="include"),
        pytest.param({"exclude": ["nope"]}, "Unknown feature 'nope'", id="exclude"),
        pytest.param({"categories": "momentum"}, "sequence of names", id="str"),
        pytest.param({"n_jobs": 0}, "n_jobs", id="n_jobs"),
    ],
)
def test_bad_selection_raises(market: pd.DataFrame, kwargs: dict, match: str) -> None:
    with pytest.raises(FeatureError, match=match):
        build_features(market.iloc[:10], **kwargs)


def test_bad_market_raises(market: pd.DataFrame) -> None:
    with pytest.raises(DataContractError, match="must be a pandas DataFrame"):
        build_features(market.to_numpy())  # type: ignore[arg-type]
    naive = market.iloc[:10].copy()
    naive.index = naive.index.tz_localize(None)
    with pytest.raises(DataContractError, match="tz-aware UTC DatetimeIndex"):
        build_features(naive)
    with pytest.raises(DataContractError, match="sorted ascending and unique"):
        build_features(market.iloc[:10].iloc[::-1])


def test_bad_feature_output_shape_raises(
    market: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perpml.features import registry

    spec = registry.get_feature("mom_rsi_14")
    broken = registry.FeatureSpec(
        name=spec.name,
        category=spec.category,
        inputs=spec.inputs,
        warmup=spec.warmup,
        params={},
        func=lambda close: close[:-1],
    )
    monkeypatch.setitem(registry._REGISTRY, spec.name, broken)
    with pytest.raises(FeatureError, match=r"must return an ndarray of shape \(20,\)"):
        build_features(market.iloc[:20], include=["mom_rsi_14"])
