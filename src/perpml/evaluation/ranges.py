"""Features whose test-period values leave the range seen in training.

A tree model cannot extrapolate: on a value beyond the training range it predicts as
for the most extreme training value. A feature that drifts out of its training range
in the test period (a time index in disguise, a level that trends) makes the test
score say little about the next period. :func:`out_of_range_features` lists them so
the report can flag them next to the results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpml.exceptions import ConfigError

__all__ = ["OUT_OF_RANGE_SHARE", "out_of_range_features"]

#: Share of test rows outside the training range above which a feature is flagged.
OUT_OF_RANGE_SHARE = 0.05


def out_of_range_features(
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    *,
    min_share: float = OUT_OF_RANGE_SHARE,
) -> pd.DataFrame:
    """Features with more than ``min_share`` of test rows outside the training range.

    Parameters
    ----------
    X_train, X_test : DataFrame of shape (n_rows, n_features)
        Training and test rows of the same (selected) columns.
    min_share : float in [0, 1), default 0.05
        A feature is flagged when the share of its test values below the training
        minimum or above the training maximum exceeds this. With independent rows
        that share is about ``2 / n_train``; 5 % means the test period lives
        somewhere training never saw.

    Returns
    -------
    DataFrame
        One row per flagged feature, most affected first: ``feature, train_min,
        train_max, test_min, test_max, share_outside``.
    """
    if not 0 <= min_share < 1:
        raise ConfigError(f"`min_share` must be in [0, 1), got {min_share!r}.")
    missing = [c for c in X_train.columns if c not in X_test.columns]
    if missing:
        raise ConfigError(
            f"X_test lacks training column(s) {missing[:5]}; pass the same features."
        )
    columns = ["feature", "train_min", "train_max", "test_min", "test_max"]
    if X_train.empty or X_test.empty:
        return pd.DataFrame(columns=[*columns, "share_outside"])
    train = X_train.to_numpy(np.float64)
    test = X_test[X_train.columns].to_numpy(np.float64)
    lo, hi = np.nanmin(train, axis=0), np.nanmax(train, axis=0)
    with np.errstate(invalid="ignore"):
        outside = np.nanmean((test < lo) | (test > hi), axis=0)
    table = pd.DataFrame(
        {
            "feature": [str(c) for c in X_train.columns],
            "train_min": lo,
            "train_max": hi,
            "test_min": np.nanmin(test, axis=0),
            "test_max": np.nanmax(test, axis=0),
            "share_outside": outside,
        }
    )
    flagged = table[table["share_outside"] > min_share]
    return flagged.sort_values("share_outside", ascending=False, ignore_index=True)
