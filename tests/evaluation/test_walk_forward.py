from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from perpml.evaluation.splits import label_end_from_index
from perpml.evaluation.walk_forward import WalkForwardValidator
from perpml.exceptions import ConfigError, NotFittedError

N = 1500
HORIZON = 12


def _data(n: int = N, signal: float = 1.0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Balanced 3-class labels from feature ``s`` (terciles of s + noise)."""
    rng = np.random.default_rng(42)
    idx = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["s", "n1", "n2"], index=idx)
    z = signal * X["s"] + 0.5 * rng.normal(size=n)
    y = pd.Series(np.digitize(z, np.quantile(z, [1 / 3, 2 / 3])), index=idx)
    ret = pd.Series(0.01 * z.to_numpy(), index=idx)
    return X, y, ret


class ShuffledLabels(ClassifierMixin, BaseEstimator):
    """Fits ``estimator`` on a permutation of the training labels (a null model)."""

    def __init__(self, estimator=None, seed: int = 0) -> None:
        self.estimator = estimator
        self.seed = seed

    def fit(self, X, y):
        rng = np.random.default_rng(self.seed)
        self.model_ = clone(self.estimator).fit(X, rng.permutation(np.asarray(y)))
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


class RecordingModel(BaseEstimator):
    """BaseModel-like: ``train`` takes X_val/y_val; records what it was given."""

    task = "classification"
    calls: list = []

    def train(self, X_train, y_train, X_val=None, y_val=None):
        RecordingModel.calls.append((X_train.index, X_val.index))
        self.classes_ = np.array([0, 1, 2])
        self.mode_ = int(np.bincount(y_train, minlength=3).argmax())
        return self

    def fit(self, X, y, X_val=None, y_val=None):
        return self.train(X, y, X_val, y_val)

    def predict(self, X):
        return np.full(len(X), self.mode_)


def test_fold_table_shape_and_no_test_overlap() -> None:
    X, y, _ = _data()
    v = WalkForwardValidator(5, horizon=HORIZON)
    res = v.validate(LogisticRegression(), X, y)
    assert len(res) == 5
    head = ["fold", "train_start", "train_end", "test_start", "test_end"]
    assert list(res.columns[:5]) == head
    assert {"n_train", "n_test", "n_purged", "accuracy", "log_loss"} <= set(res.columns)
    assert (
        res["test_start"].iloc[1:].to_numpy() > res["test_end"].iloc[:-1].to_numpy()
    ).all()
    assert (res["train_end"] < res["test_start"]).all()
    oof = v.oof_predictions_
    assert oof.index.is_unique and oof.index.is_monotonic_increasing
    assert len(oof) == res["n_test"].sum()
    assert list(oof.columns) == [
        "fold",
        "y_true",
        "y_pred",
        "p_short",
        "p_neutral",
        "p_long",
    ]
    assert np.allclose(oof[["p_short", "p_neutral", "p_long"]].sum(axis=1), 1.0)
    assert res.attrs["summary"] is v.summary_
    assert {"mean", "std", "n_folds"} == set(v.summary().columns)


def test_purge_with_derived_label_end() -> None:
    X, y, _ = _data()
    embargo = pd.Timedelta("30min")
    res = WalkForwardValidator(4, horizon=HORIZON, embargo=embargo).validate(
        LogisticRegression(), X, y
    )
    # horizon 12 -> labels of the last 13 training bars reach the test start; + 6 bars
    assert (res["n_purged"] == HORIZON + 1 + 6).all()
    le = label_end_from_index(X.index, HORIZON)
    last_train_label_end = le.reindex(res["train_end"]).to_numpy()
    assert (last_train_label_end < (res["test_start"] - embargo).to_numpy()).all()


def test_early_stopping_set_is_purged_training_tail() -> None:
    X, y, _ = _data(600)
    RecordingModel.calls = []
    v = WalkForwardValidator(3, horizon=HORIZON, scaler="none")
    res = v.validate(RecordingModel(), X, y)
    assert len(RecordingModel.calls) == 3
    le = label_end_from_index(X.index, HORIZON)
    for (fit_index, stop_index), (_, row) in zip(
        RecordingModel.calls, res.iterrows(), strict=True
    ):
        assert stop_index.max() < row["test_start"]  # never the test period
        assert stop_index.max() == row["train_end"]  # the training tail
        assert (le.reindex(fit_index) < stop_index.min()).all()
    assert (res["n_early_stop"] > 0).all()
    assert (res["n_fit"] + res["n_early_stop"] < res["n_train"]).all()


def test_permutation_null_is_at_chance() -> None:
    """Labels shuffled within each training fold -> no learnable link to the test labels.

    Test labels are balanced terciles and the null model's fitted function is
    independent of how they relate to X, so each out-of-fold row is right with
    probability 1/3 on average. Pooled over 5 x 250 = 1250 rows the binomial sd is
    sqrt(1/3 * 2/3 / 1250) = 0.013, but a depth-3 tree predicts in a few coarse cells,
    whose chance overlap with the signal widens the spread (seeds 0-4 measured
    0.298-0.371). Band per permutation: 1/3 +- 0.06; mean of 5 permutations:
    1/3 +- 0.03. A leak (e.g. unpurged labels or test rows in training) shows up as
    accuracy well above these bands.
    """
    X, y, _ = _data()
    accs = []
    for seed in range(5):
        v = WalkForwardValidator(5, horizon=HORIZON)
        null = ShuffledLabels(DecisionTreeClassifier(max_depth=3, random_state=0), seed)
        v.validate(null, X, y)
        oof = v.oof_predictions_
        accs.append(float((oof["y_true"] == oof["y_pred"]).mean()))
    assert all(abs(a - 1 / 3) < 0.06 for a in accs), accs
    assert abs(np.mean(accs) - 1 / 3) < 0.03, accs


def test_planted_signal_well_above_chance() -> None:
    X, y, _ = _data()
    v = WalkForwardValidator(5, horizon=HORIZON, window="rolling")
    v.validate(LogisticRegression(), X, y)
    assert v.summary_.loc["accuracy", "mean"] > 0.6
    text = v.format_summary()
    assert text.splitlines()[1].startswith("Mean accuracy: 0.")
    assert " ± " in text


def test_regression_task() -> None:
    X, _, ret = _data(800)
    v = WalkForwardValidator(3, horizon=HORIZON, scaler="robust")
    res = v.validate(LinearRegression(), X, ret)
    assert v.task_ == "regression"
    assert {"rmse", "r2", "pearson_ic", "directional_accuracy"} <= set(res.columns)
    assert v.summary_.loc["pearson_ic", "mean"] > 0.5
    assert "Mean rmse" in v.format_summary()
    assert list(v.oof_predictions_.columns) == ["fold", "y_true", "y_pred"]


def test_missing_class_in_training_fold_maps_proba() -> None:
    X, y, _ = _data(600)
    y = y.copy()
    y.iloc[:300] = y.iloc[:300].replace(0, 1)  # no SHORT early on
    v = WalkForwardValidator(2, horizon=HORIZON, test_size=100)
    res = v.validate(LogisticRegression(), X, y)
    assert res["log_loss"].notna().all()


def test_validator_does_not_fit_the_given_model() -> None:
    X, y, _ = _data(600)
    model = LogisticRegression()
    WalkForwardValidator(2).validate(model, X, y)
    assert not hasattr(model, "coef_")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        pytest.param(lambda X, y: (X, y.where(y != 2)), "NaN label", id="nan"),
        pytest.param(
            lambda X, y: (X, y.iloc[:-1]), "indexed exactly like X", id="align"
        ),
        pytest.param(lambda X, y: (X.to_numpy(), y), "DataFrame", id="array"),
        pytest.param(lambda X, y: (X, y + 0.5), "integer class codes", id="float"),
    ],
)
def test_bad_inputs(mutate, match) -> None:
    X, y, _ = _data(300)
    Xb, yb = mutate(X, y)
    with pytest.raises(ConfigError, match=match):
        WalkForwardValidator(2).validate(LogisticRegression(), Xb, yb)


def test_bad_params_and_unfitted_summary() -> None:
    X, y, _ = _data(300)
    with pytest.raises(ConfigError, match="scaler"):
        WalkForwardValidator(2, scaler="zscore").validate(LogisticRegression(), X, y)
    with pytest.raises(ConfigError, match="early_stopping_fraction"):
        WalkForwardValidator(2, early_stopping_fraction=1.5).validate(
            LogisticRegression(), X, y
        )
    with pytest.raises(NotFittedError, match="validate"):
        WalkForwardValidator().summary()


@pytest.mark.slow
def test_with_perpml_xgboost_model() -> None:
    models = pytest.importorskip("perpml.models")
    X, y, _ = _data(900)
    model = models.XGBoostEntryPredictor(
        params={"n_estimators": 40, "early_stopping_rounds": 5}, n_jobs=2
    )
    v = WalkForwardValidator(3, horizon=HORIZON)
    res = v.validate(model, X, y)
    assert (res["n_early_stop"] > 0).all()
    assert v.summary_.loc["accuracy", "mean"] > 0.55
    assert not math.isnan(v.summary_.loc["roc_auc_ovr", "mean"])
