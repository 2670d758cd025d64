"""The run's walk-forward: every classifier, the ensemble and the baselines per fold,
pooled on the out-of-fold rows (never a mean over folds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpml.data.sources.synthetic import simulate_market
from perpml.evaluation.baselines import past_return_from_close
from perpml.features import build_features
from perpml.features.targets import make_targets
from perpml.models import LightGBMEntryPredictor, XGBoostEntryPredictor
from perpml.pipeline.walk_zoo import walk_forward_zoo


@pytest.fixture(scope="module")
def zoo():
    market = simulate_market(days=8, seed=11)
    features = build_features(market.frame, categories=["momentum", "funding"])
    targets = make_targets(market.frame, horizon=6)
    ok = features.notna().all(axis=1) & targets["target_class"].notna()
    X, t = features.loc[ok], targets.loc[ok]
    selected_sizes: list[int] = []

    def select(X_train: pd.DataFrame, t_train: pd.DataFrame) -> list[str]:
        assert t_train.index.max() < X.index[-1]  # training rows only
        selected_sizes.append(len(X_train))
        return list(X_train.columns[:8])

    classifiers = {
        "xgb_classifier": lambda: XGBoostEntryPredictor(
            params={"n_estimators": 30}, random_state=0, n_jobs=1
        ),
        "lgb_classifier": lambda: LightGBMEntryPredictor(
            params={"n_estimators": 30}, random_state=0, n_jobs=1
        ),
    }
    result = walk_forward_zoo(
        X, t, classifiers, horizon=6, n_splits=3,
        embargo=pd.Timedelta(minutes=30), select=select,
        past_return=past_return_from_close(market.frame["close"], 6),
        oracle=market.oracle_predictions(t, n_paths=32),
    )  # fmt: skip
    return result, selected_sizes


def test_every_model_and_baseline_in_every_fold(zoo):
    result, selected_sizes = zoo
    expected = {
        "xgb_classifier", "lgb_classifier", "ensemble_classifier",
        "majority_class", "always_neutral", "previous_return_sign", "oracle",
    }  # fmt: skip
    for _, fold in result.folds.groupby("fold"):
        assert set(fold["model"]) == expected
    assert len(selected_sizes) == 3 and selected_sizes == sorted(selected_sizes)
    assert (result.folds.loc[result.folds["kind"] != "oracle", "n_features"] == 8).all()


def test_pooled_row_is_computed_on_the_out_of_fold_rows(zoo):
    result, _ = zoo
    pooled = result.pooled.set_index("model")
    preds = result.predictions
    acc = float((preds["lgb_classifier"] == preds["y_true"]).mean())
    assert pooled.loc["lgb_classifier", "accuracy"] == pytest.approx(acc)
    assert pooled.loc["lgb_classifier", "n"] == len(preds)
    low = pooled.loc["lgb_classifier", "accuracy_ci_low"]
    high = pooled.loc["lgb_classifier", "accuracy_ci_high"]
    assert low < acc < high
    assert 0 < pooled.loc["lgb_classifier", "n_eff"] < len(preds)
    assert pooled.loc["ensemble_classifier", "baseline"] in (
        "majority_class", "always_neutral", "previous_return_sign",
    )  # fmt: skip
    # pooled = correct rows / rows, not a mean of the fold accuracies
    folds = result.folds[result.folds["model"] == "oracle"]
    weighted = (folds["accuracy"] * folds["n"]).sum() / folds["n"].sum()
    assert pooled.loc["oracle", "accuracy"] == pytest.approx(weighted)
    assert "diff_vs_baseline" not in pooled.columns or np.isnan(
        pooled.loc["oracle", "diff_vs_baseline"]
    )
    assert np.isfinite(pooled.loc["lgb_classifier", "oracle_ratio"])


def test_table_and_metrics_forms(zoo):
    result, _ = zoo
    table = result.table()
    assert list(table["fold"].unique())[-1] == "pooled"
    assert "mean" not in set(table["fold"].astype(str))
    entry = result.metrics["xgb_classifier"]
    assert len(entry["accuracy_ci"]) == 2 and entry["accuracy_se"] > 0
    assert "n_eff" in entry and "paired_difference" in entry
    assert result.metrics["oracle"]["accuracy"] > 0
