"""Rolling kernels against pandas, precision at extreme scales, unknown-value rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.features import kernels


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    # longer than two resync periods so the running sums are recomputed mid-series
    rng = np.random.default_rng(42)
    x = np.cumsum(rng.normal(0.0, 1.0, 2 * kernels.RESYNC + 500))
    x[[100, 5000, 5001]] = np.nan
    return x


@pytest.mark.parametrize("window", [2, 24, 288])
def test_rolling_kernels_match_pandas(series: np.ndarray, window: int) -> None:
    roll = pd.Series(series).rolling(window, min_periods=window)
    np.testing.assert_allclose(
        kernels.rolling_mean(series, window), roll.mean(), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        kernels.rolling_std(series, window), roll.std(), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        kernels.rolling_sum(series, window), roll.sum(), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_array_equal(kernels.rolling_max(series, window), roll.max())
    np.testing.assert_array_equal(kernels.rolling_min(series, window), roll.min())
    z = (pd.Series(series) - roll.mean()) / roll.std()
    np.testing.assert_allclose(
        kernels.rolling_zscore(series, window), z, rtol=1e-8, atol=1e-10
    )


@pytest.mark.parametrize(
    ("level", "noise"),
    [pytest.param(1e5, 1e-2, id="price-level"), pytest.param(1e-4, 1e-6, id="funding")],
)
def test_moments_keep_precision_at_extreme_scales(level: float, noise: float) -> None:
    # naive sum-of-squares variance loses every digit at price ~1e5 with noise ~1e-2
    rng = np.random.default_rng(42)
    x = level + rng.normal(0.0, noise, 10_000)
    expected = pd.Series(x).rolling(96).std().to_numpy()
    np.testing.assert_allclose(kernels.rolling_std(x, 96), expected, rtol=1e-7)


def test_constant_window_zscore_is_zero_not_nan() -> None:
    x = np.r_[np.full(200, 1e-4), np.linspace(1e-4, 2e-4, 50)]
    z = kernels.rolling_zscore(x, 96)
    assert np.isnan(z[:95]).all()
    assert (z[95:200] == 0.0).all()
    assert np.isfinite(z[200:]).all() and (z[201:] > 0).all()


def test_log_change_and_shift_handle_short_and_bad_input() -> None:
    x = np.array([1.0, np.e, 0.0, np.nan, np.e**2])
    np.testing.assert_allclose(
        kernels.log_change(x, 1), [np.nan, 1.0, np.nan, np.nan, np.nan]
    )
    np.testing.assert_array_equal(kernels.log_change(x, 10), np.full(5, np.nan))
    np.testing.assert_array_equal(kernels.shift(x[:2], 5), [np.nan, np.nan])
    np.testing.assert_array_equal(
        kernels.diff(np.arange(4.0), 2), [np.nan, np.nan, 2, 2]
    )
    np.testing.assert_array_equal(
        kernels.safe_div(np.array([1.0, 1.0]), np.array([0.0, 2.0])), [np.nan, 0.5]
    )


def test_inf_counts_as_unknown() -> None:
    x = np.arange(10.0)
    x[4] = np.inf
    mean = kernels.rolling_mean(x, 3)
    assert np.isnan(mean[4:7]).all() and mean[7] == 6.0
    assert np.isnan(kernels.rolling_max(x, 3)[4:7]).all()
