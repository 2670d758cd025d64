"""Small, deterministic data for the tuning tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def small_frame() -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """(X, y_class, y_return, label_end): 900 5-minute bars, 5 features."""
    from perpml.evaluation.splits import label_end_from_index

    rng = np.random.default_rng(42)
    n = 900
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    X = pd.DataFrame(
        rng.normal(size=(n, 5)), index=index, columns=[f"f{i}" for i in range(5)]
    )
    signal = X["f0"] + 0.5 * rng.normal(size=n)
    y_class = pd.Series(np.digitize(signal, [-0.5, 0.5]), index=index, name="y")
    y_ret = pd.Series(1e-3 * signal, index=index, name="r")
    return X, y_class, y_ret, label_end_from_index(index, 12)
