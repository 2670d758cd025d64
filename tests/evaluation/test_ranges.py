from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.evaluation.ranges import out_of_range_features
from perpml.exceptions import ConfigError


def test_trend_is_flagged_stationary_feature_is_not():
    rng = np.random.default_rng(0)
    n = 1_000
    X = pd.DataFrame({"trend": np.arange(n, dtype=float), "noise": rng.normal(size=n)})
    flagged = out_of_range_features(X.iloc[:800], X.iloc[800:])
    assert list(flagged["feature"]) == ["trend"]
    assert flagged.loc[0, "share_outside"] == 1.0
    assert flagged.loc[0, "train_max"] == 799.0


def test_bad_share_refused():
    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="min_share"):
        out_of_range_features(X, X, min_share=1.5)
