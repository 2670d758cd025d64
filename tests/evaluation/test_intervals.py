"""Overlap-aware intervals: binomial on independent rows, wider by the theory on
overlapping labels and AR(1) scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpml.evaluation.intervals import (
    accuracy_interval,
    balanced_accuracy_interval,
    block_bootstrap_interval,
    classification_intervals,
    directional_accuracy_interval,
    hac_lags,
    ic_interval,
    mean_interval,
    paired_difference,
    regression_intervals,
)
from perpml.exceptions import ConfigError, InsufficientDataError


def _binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def _overlapping_correct(n: int, horizon: int, seed: int) -> np.ndarray:
    """1 when the sum of the next ``horizon`` iid shocks is > 0 (constant 'LONG')."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal(n + horizon)
    forward = np.convolve(shocks, np.ones(horizon), mode="valid")[1 : n + 1]
    return (forward > 0).astype(np.float64)


def _overlap_variance_ratio(horizon: int) -> float:
    # P(both sums > 0) = 1/4 + arcsin(rho)/(2 pi): corr of the indicators is
    # (2/pi) arcsin(rho_k) with rho_k = (h - k)/h for lags k < h, 0 beyond.
    k = np.arange(1, horizon)
    return 1 + 2 * float(np.sum(2 / np.pi * np.arcsin((horizon - k) / horizon)))


def test_iid_rows_match_the_binomial_interval():
    rng = np.random.default_rng(42)
    correct = (rng.random(20_000) < 0.45).astype(np.float64)
    iv = mean_interval(correct, horizon=12, bounds=(0, 1))
    binomial = _binomial_se(correct.mean(), len(correct))
    assert iv.se == pytest.approx(binomial, rel=0.12)
    assert iv.n_eff == pytest.approx(len(correct), rel=0.25)
    assert iv.low == pytest.approx(correct.mean() - 1.959964 * iv.se)


def test_overlapping_labels_widen_the_interval_by_the_theory():
    horizon = 12
    ratios = []
    for seed in range(4):
        correct = _overlapping_correct(20_000, horizon, seed)
        iv = mean_interval(correct, horizon=horizon)
        ratios.append(iv.se / _binomial_se(correct.mean(), len(correct)))
    theory = math.sqrt(_overlap_variance_ratio(horizon))  # about 2.8
    assert theory > 2.5
    assert np.mean(ratios) == pytest.approx(theory, rel=0.15)


def test_ar1_scores_widen_the_interval_by_the_theory():
    rho, n = 0.6, 30_000
    rng = np.random.default_rng(7)
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = rho * x[i - 1] + math.sqrt(1 - rho**2) * e[i]
    iv = mean_interval(x, horizon=12)
    theory = math.sqrt((1 + rho) / (1 - rho))  # 2.0
    assert iv.se / (x.std() / math.sqrt(n)) == pytest.approx(theory, rel=0.12)
    assert iv.n_eff == pytest.approx(n / theory**2, rel=0.25)


def test_block_bootstrap_agrees_with_newey_west_on_overlapping_labels():
    correct = _overlapping_correct(10_000, 12, 3)
    nw = mean_interval(correct, horizon=12)
    mbb = block_bootstrap_interval(correct, horizon=12, block=60, n_boot=800)
    assert mbb.se == pytest.approx(nw.se, rel=0.2)
    again = block_bootstrap_interval(correct, horizon=12, block=60, n_boot=800)
    assert again == mbb  # fixed seed


def test_block_shorter_than_horizon_is_refused():
    with pytest.raises(ConfigError, match="block"):
        block_bootstrap_interval(np.ones(100), horizon=12, block=5)


def test_paired_difference_uses_the_pairing():
    rng = np.random.default_rng(0)
    n = 5_000
    y = rng.integers(0, 3, n)
    base = np.ones(n, dtype=int)
    model = base.copy()
    flip = rng.random(n) < 0.1
    model[flip] = y[flip]  # the model is the baseline, right on 10 % more rows
    d = paired_difference(y, model, base, horizon=1)
    acc_m = accuracy_interval(y, model, horizon=1)
    acc_b = accuracy_interval(y, base, horizon=1)
    assert d.estimate == pytest.approx(acc_m.estimate - acc_b.estimate)
    # far tighter than the two separate intervals combined
    assert d.se < 0.6 * math.hypot(acc_m.se, acc_b.se)
    assert d.low > 0


def test_classification_interval_keys_and_ranges():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 2_000)
    p = np.where(rng.random(2_000) < 0.5, y, rng.integers(0, 3, 2_000))
    out = classification_intervals(y, p, horizon=12)
    for key in ("accuracy", "directional_accuracy", "balanced_accuracy"):
        low, high = out[f"{key}_ci"]
        assert 0 <= low <= high <= 1
        assert out[f"{key}_se"] > 0
    assert out["interval_method"] == "newey_west"
    assert out["hac_lags"] == 36
    acc = float(np.mean(y == p))
    assert out["accuracy_ci"][0] < acc < out["accuracy_ci"][1]


def test_directional_and_balanced_estimates_match_the_metrics():
    from perpml.evaluation.metrics import classification_metrics

    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 1_000)
    p = np.where(rng.random(1_000) < 0.4, y, rng.integers(0, 3, 1_000))
    m = classification_metrics(y, p)
    da = directional_accuracy_interval(y, p, horizon=12)
    ba = balanced_accuracy_interval(y, p, horizon=12)
    assert da.estimate == pytest.approx(m["directional_accuracy"])
    assert da.n == int(round(m["directional_coverage"] * 1_000))
    assert ba.estimate == pytest.approx(m["balanced_accuracy"])


def test_ic_interval_and_t_stat():
    rng = np.random.default_rng(3)
    truth = rng.standard_normal(3_000)
    forecast = 0.2 * truth + rng.standard_normal(3_000)
    iv = ic_interval(truth, forecast, horizon=1, kind="pearson")
    assert iv.estimate == pytest.approx(np.corrcoef(truth, forecast)[0, 1], abs=1e-9)
    assert iv.t_stat > 5
    out = regression_intervals(truth, forecast, horizon=12)
    assert out["spearman_ic_ci"][0] < out["spearman_ic_ci"][1]
    assert out["pearson_ic_t"] > 3
    assert math.isnan(ic_interval(truth, np.zeros(3_000), horizon=1).estimate)


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="horizon"):
        hac_lags(100, 0)
    with pytest.raises(ConfigError, match="NaN"):
        mean_interval([1.0, np.nan], horizon=1)
    with pytest.raises(InsufficientDataError):
        mean_interval([], horizon=1)
    with pytest.raises(ConfigError, match="same length"):
        accuracy_interval([0, 1], [0], horizon=1)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(0, 1), min_size=2, max_size=300),
    horizon=st.integers(1, 24),
)
def test_interval_contains_the_estimate_and_is_never_tighter_than_iid(values, horizon):
    z = np.asarray(values, dtype=np.float64)
    iv = mean_interval(z, horizon=horizon, bounds=(0, 1))
    assert 0 <= iv.low <= iv.estimate <= iv.high <= 1
    assert iv.se >= math.sqrt(z.var() / len(z)) - 1e-12
    assert 0 < iv.n_eff <= len(z) + 1e-9
    assert 0 <= iv.lags < len(z)
