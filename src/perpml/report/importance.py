"""Feature importance for the report, with the method named.

Tree models report their native importance (XGBoost total gain, LightGBM gain,
CatBoost PredictionValuesChange). The neural models' weight-magnitude proxies are
nearly flat and say little, so they get **permutation importance** instead: the
increase of the mean squared error on test rows when one feature column is shuffled
(seeded), the model and every other column unchanged — on the first 1,000 test rows
(400 for the LSTM, whose windows cost ~40x more per row).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["importance_method", "permutation_importance"]

_NATIVE = {
    "xgboost": "total gain (XGBoost)",
    "lightgbm": "split gain (LightGBM)",
    "catboost": "PredictionValuesChange (CatBoost)",
}
#: Test rows used by the permutation importance (contiguous, from the start).
PERMUTATION_ROWS = 1000


def importance_method(model: Any) -> str:
    """How the report measures ``model``'s importance, in words."""
    library = getattr(model, "native_library", "")
    if library == "torch":
        return "permutation: MSE increase on test rows when the feature is shuffled"
    return _NATIVE.get(str(library), "the model's native importance")


def permutation_importance(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    n_rows: int = PERMUTATION_ROWS,
    seed: int = 0,
) -> pd.DataFrame:
    """MSE increase per shuffled feature, on the first ``n_rows`` rows of ``X``.

    Parameters
    ----------
    model : regressor with ``predict(X)``
        A fitted return forecaster (sequence models read windows of these rows).
    X : DataFrame of shape (n_rows, n_features), indexed by bar open time
        Test features, scaled as the model was trained.
    y : Series indexed like X
        True forward returns.

    Returns
    -------
    DataFrame with columns ``feature``, ``importance`` (descending)
    """
    rows = X.iloc[:n_rows]
    truth = y.reindex(rows.index).to_numpy(np.float64)

    def mse(frame: pd.DataFrame) -> float:
        pred = np.asarray(model.predict(frame), dtype=np.float64)
        if pred.ndim == 2:
            pred = pred[:, 0]
        ok = ~np.isnan(pred) & ~np.isnan(truth)
        return float(np.mean((pred[ok] - truth[ok]) ** 2)) if ok.any() else np.nan

    base = mse(rows)
    rng = np.random.default_rng(seed)
    scores = []
    for column in rows.columns:
        shuffled = rows.copy()
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
        scores.append(mse(shuffled) - base)
    table = pd.DataFrame(
        {"feature": [str(c) for c in rows.columns], "importance": scores}
    )
    return table.sort_values("importance", ascending=False, ignore_index=True)
