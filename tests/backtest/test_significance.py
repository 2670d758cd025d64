"""PSR, DSR (against the paper's worked example), bootstrap and the shuffled null."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from perpml.backtest.significance import (
    block_shuffle,
    bootstrap_sharpe_interval,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    percentile_of,
    probabilistic_sharpe_ratio,
)


def test_dsr_matches_bailey_lopez_de_prado_2014_numerical_example() -> None:
    """Bailey, D. H. & López de Prado, M. (2014). "The Deflated Sharpe Ratio:
    Correcting for Selection Bias, Backtest Overfitting and Non-Normality".
    Journal of Portfolio Management 40(5), 94-107, numerical example: N = 100 trials,
    variance of the trials' annualised Sharpe ratios 0.5, selected annualised SR 2.5,
    T = 1250 daily returns (five years of 250 days), skewness -3, kurtosis 10. The
    paper reports the expected maximum SR0 = 0.1132 (non-annualised) and
    DSR = 0.9004."""
    days = 250
    sr = 2.5 / math.sqrt(days)
    variance = 0.5 / days
    sr0 = expected_max_sharpe(100, variance)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(
        sr, 1250, n_trials=100, sr_variance=variance, skew=-3.0, kurtosis=10.0
    )
    assert dsr == pytest.approx(0.9004, abs=1e-3)


def test_psr_properties() -> None:
    assert probabilistic_sharpe_ratio(0.0, 1000) == pytest.approx(0.5)
    # normal returns: z = SR sqrt(T-1) / sqrt(1 + SR^2 / 2)
    sr, t = 0.05, 1000
    z = sr * math.sqrt(t - 1) / math.sqrt(1 + sr * sr / 2)
    from scipy.stats import norm

    assert probabilistic_sharpe_ratio(sr, t) == pytest.approx(norm.cdf(z))
    # negative skew / fat tails lower the PSR of a positive SR
    assert probabilistic_sharpe_ratio(sr, t, skew=-2, kurtosis=9) < norm.cdf(z)
    # one trial: DSR = PSR against zero
    assert deflated_sharpe_ratio(sr, t, n_trials=1, sr_variance=1.0) == pytest.approx(
        probabilistic_sharpe_ratio(sr, t)
    )
    # more trials, higher bar
    assert expected_max_sharpe(1000, 0.01) > expected_max_sharpe(10, 0.01) > 0


def test_bootstrap_interval_covers_the_sample_sharpe() -> None:
    rng = np.random.default_rng(42)
    r = rng.normal(0.001, 0.01, 3000)
    low, high = bootstrap_sharpe_interval(r, block=12, n_boot=300, seed=1)
    sample = r.mean() / r.std(ddof=1)
    assert low < sample < high
    assert high - low == pytest.approx(2 * 1.96 / math.sqrt(3000), rel=0.35)


def test_block_shuffle_keeps_blocks_and_index() -> None:
    frame = pd.DataFrame({"a": np.arange(20.0)}, index=pd.RangeIndex(20))
    out = block_shuffle(frame, 5, np.random.default_rng(0))
    assert out.index.equals(frame.index)
    assert sorted(out["a"]) == list(frame["a"])
    blocks = out["a"].to_numpy().reshape(4, 5)
    assert (np.diff(blocks, axis=1) == 1).all()  # each block stays contiguous


def test_percentile_of() -> None:
    assert percentile_of(5.0, np.arange(10.0)) == pytest.approx(55.0)
    assert percentile_of(100.0, np.arange(10.0)) == 100.0
