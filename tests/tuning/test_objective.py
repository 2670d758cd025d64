"""The objective sees training/validation rows only, purged, and scores as documented."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from perpml.exceptions import ConfigError, LeakageError
from perpml.models import XGBoostEntryPredictor
from perpml.tuning.api import TuningOptions, build_objective
from perpml.tuning.objective import (
    PurgedObjective,
    holdout_folds,
    score_predictions,
    walk_forward_folds,
)
from perpml.tuning.spaces import ModelSpec, get_spec

SEEN: list[tuple[str, pd.Index]] = []


class RecordingXGB(XGBoostEntryPredictor):
    """Records the index of every frame it is trained on or asked to predict."""

    def train(self, X_train, y_train, X_val=None, y_val=None):  # type: ignore[override]
        SEEN.append(("fit", X_train.index))
        SEEN.append(("early_stop", X_val.index))
        return super().train(X_train, y_train, X_val, y_val)

    def predict_proba(self, X):  # type: ignore[override]
        SEEN.append(("score", X.index))
        return super().predict_proba(X)


class RecordingSpec(ModelSpec):
    def model_class(self) -> type:
        return RecordingXGB


def _recording_spec() -> ModelSpec:
    base = get_spec("xgb_classifier")
    return RecordingSpec(base.name, base.task, base.class_name, base.suggest)


@pytest.mark.parametrize("cv", ["walk_forward", "holdout"])
def test_objective_never_receives_test_rows(small_frame, cv):
    X, y, _, label_end = small_frame
    n_train, n_val = 560, 140  # the last 200 rows are the test period
    test_start = X.index[n_train + n_val]
    embargo = pd.Timedelta("1h")
    X_tv, y_tv, le_tv = (
        X.iloc[: n_train + n_val],
        y.iloc[: n_train + n_val],
        label_end.iloc[: n_train + n_val],
    )
    folds = (
        walk_forward_folds(le_tv, n_splits=2, embargo=embargo)
        if cv == "walk_forward"
        else holdout_folds(le_tv, n_train, embargo=embargo)
    )
    objective = PurgedObjective(
        _recording_spec(), X_tv, y_tv, folds, n_jobs=1, test_start=test_start
    )
    SEEN.clear()
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=2)
    assert SEEN, "the model was never called"
    for kind, index in SEEN:
        assert (index < test_start).all(), kind
    # Per fold: fit < early stop < score, each purged by label_end + embargo.
    for i in range(0, len(SEEN), 3):
        (_, fit), (_, stop), (_, score) = SEEN[i : i + 3]
        assert label_end.loc[fit].max() < stop[0] - embargo
        assert label_end.loc[stop].max() < score[0] - embargo
    if cv == "holdout":
        assert all(
            score.equals(X.index[n_train : n_train + n_val]) for _, score in SEEN[2::3]
        )


def test_a_fold_reaching_the_test_period_raises(small_frame):
    X, y, _, label_end = small_frame
    folds = holdout_folds(label_end, 700)
    with pytest.raises(LeakageError, match="test period"):
        PurgedObjective(
            get_spec("xgb_classifier"), X, y, folds, test_start=X.index[800]
        )


def test_walk_forward_prunes_on_fold_scores(small_frame):
    X, y, _, _ = small_frame
    objective = build_objective(
        "lgb_classifier",
        X.iloc[:700],
        y.iloc[:700],
        options=TuningOptions(cv="walk_forward", n_splits=3, n_jobs=1),
    )
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1),
    )
    study.optimize(objective, n_trials=6)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert all(len(t.intermediate_values) == 3 for t in complete)
    assert len(complete[0].user_attrs["fold_scores"]) == 3


def test_scores_match_their_definition():
    y = np.array([0, 1, 2, 2, 0, 1])
    proba = np.eye(3)[[0, 1, 2, 0, 0, 0]]
    # accuracy 4/6; directional: rows 0,2,3,4 called and true non-neutral: 3/4 right
    combined = score_predictions("classification", y, proba)
    assert combined == pytest.approx(0.7 * 4 / 6 + 0.3 * 3 / 4)
    weighted = score_predictions("classification", y, proba, accuracy_weight=1.0)
    assert weighted == pytest.approx(4 / 6)
    assert score_predictions("classification", y, proba, score="neg_log_loss") < 0
    r = np.array([0.01, -0.02, 0.03, -0.01])
    assert score_predictions("regression", r, r) == pytest.approx(1.0)
    assert score_predictions("regression", r, r, score="neg_rmse") == 0.0


def test_bad_score_and_cv_are_config_errors(small_frame):
    X, y, _, _ = small_frame
    with pytest.raises(ConfigError, match="--score"):
        build_objective("xgb_regressor", X, y, options=TuningOptions(score="accuracy"))
    with pytest.raises(ConfigError, match="pass X_val"):
        build_objective("xgb_classifier", X, y, options=TuningOptions(cv="holdout"))
