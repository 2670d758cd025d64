"""Tests for perpml.models.ensemble (EnsembleModel, purged walk-forward stacking)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from perpml.evaluation.splits import label_end_from_index
from perpml.exceptions import ConfigError, DataContractError, NotFittedError
from perpml.models import (
    LightGBMEntryPredictor,
    XGBoostEntryPredictor,
    XGBoostPricePredictor,
)
from perpml.models._stacking import average_combiner
from perpml.models.ensemble import EnsembleModel, _LinearMeta
from perpml.models.neural_net import NeuralNetRegressor
from perpml.testing.model_checks import make_model_data

HORIZON = 6
SMALL = {"n_estimators": 30}
NN_SMALL = {"hidden_dims": [16, 8], "max_epochs": 15, "early_stopping_rounds": 4}

# (event, instance id, DatetimeIndex) recorded by the spy models below.
SPY_LOG: list[tuple[str, int, pd.DatetimeIndex]] = []


class SpyXGB(XGBoostEntryPredictor):
    """XGBoost classifier that records which bars it was fitted on and predicted."""

    log: ClassVar = SPY_LOG

    def _fit(self, X, y, X_val, y_val):  # type: ignore[no-untyped-def]
        val = X.index[:0] if X_val is None else X_val.index
        self.log.append(("fit", id(self), X.index.append(val)))
        return super()._fit(X, y, X_val, y_val)

    def _predict_proba(self, X):  # type: ignore[no-untyped-def]
        self.log.append(("predict", id(self), X.index))
        return super()._predict_proba(X)


def _data(n: int = 900) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    X, y_class = make_model_data(n_rows=n, n_features=6, task="classification")
    _, y_reg = make_model_data(n_rows=n, n_features=6, task="regression")
    return X, y_class, y_reg


def _ensemble(**kwargs) -> EnsembleModel:  # type: ignore[no-untyped-def]
    return EnsembleModel(
        {
            "xgb": SpyXGB(params=SMALL, n_jobs=1),
            "lgb": LightGBMEntryPredictor(params=SMALL, n_jobs=1),
        },
        {
            "xgb": XGBoostPricePredictor(params=SMALL, n_jobs=1),
            "nn": NeuralNetRegressor(params=NN_SMALL, n_jobs=1),
        },
        n_splits=3,
        horizon=HORIZON,
        **kwargs,
    )


@pytest.fixture(scope="module")
def trained() -> tuple[EnsembleModel, pd.DataFrame, pd.Series, pd.Series, list]:
    X, y_class, y_reg = _data()
    train = slice(0, 700)
    SPY_LOG.clear()
    ens = _ensemble().train_classifier(X.iloc[train], y_class.iloc[train])
    log = list(SPY_LOG)
    ens.train_regressor(X.iloc[train], y_reg.iloc[train])
    return ens, X, y_class, y_reg, log


def test_trading_decision_shapes_and_ranges(trained) -> None:
    ens, X, _, _, _ = trained
    test = X.iloc[712:]
    decision = ens.get_trading_decision(test)
    assert set(decision) == {"signal", "confidence", "target"}
    for value in decision.values():
        assert isinstance(value, np.ndarray) and value.shape == (len(test),)
    assert decision["signal"].dtype == np.int64
    assert set(np.unique(decision["signal"])) <= {0, 1, 2}
    proba = ens.predict_proba(test)
    assert proba.shape == (len(test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(decision["confidence"], proba.max(axis=1))
    assert (decision["confidence"] >= 1 / 3).all() and (
        decision["confidence"] <= 1
    ).all()
    assert (
        decision["target"].dtype == np.float64 and np.isfinite(decision["target"]).all()
    )
    np.testing.assert_array_equal(ens.predict(test), decision["signal"])
    np.testing.assert_array_equal(ens.predict_return(test), decision["target"])


def test_meta_model_sees_only_out_of_fold_rows(trained) -> None:
    ens, X, _, _, log = trained
    folds = ens.oof_folds_["classifier"]
    test_rows = folds[0].test_index
    for f in folds[1:]:
        test_rows = test_rows.union(f.test_index)
    assert ens.oof_classifier_.index.equals(test_rows)
    # The initial block (min_train_fraction = 0.5 of the 700 rows) never gets an
    # OOF prediction; the other 350 rows make 3 blocks of 116.
    assert ens.oof_classifier_.index[0] == X.index[700 - 3 * ((700 - 350) // 3)]
    for f in folds:
        assert f.fit_index.max() < f.early_stop_index.min()
        assert f.early_stop_index.max() < f.test_index.min()
        assert f.max_label_end < f.test_index[0]


def test_no_oof_prediction_comes_from_a_model_trained_on_later_rows(trained) -> None:
    """Instrumented: every prediction made while training came from a fold model
    whose fit + early-stopping rows all end (label included) before the block."""
    _, X, _, _, log = trained
    label_end = label_end_from_index(X.index[:700], HORIZON)
    fitted = {oid: idx for event, oid, idx in log if event == "fit"}
    predictions = [(oid, idx) for event, oid, idx in log if event == "predict"]
    assert len(predictions) == 3  # one per walk-forward block; the refit predicts none
    for oid, predicted in predictions:
        trained_on = fitted[oid]
        assert trained_on.max() < predicted.min()
        assert label_end.loc[trained_on].max() < predicted.min()
    assert len(fitted) == 4  # 3 fold clones + the final refit


def test_save_load_identical_decisions(trained, tmp_path) -> None:
    ens, X, _, _, _ = trained
    path = ens.save(tmp_path / "ensemble")
    assert (path / "ensemble.json").is_file()
    assert sorted(p.name for p in (path / "classifiers").iterdir()) == ["lgb", "xgb"]
    assert not list(path.rglob("*.pkl"))
    loaded = EnsembleModel.load(path)
    a, b = ens.get_trading_decision(X), loaded.get_trading_decision(X)
    for key in ("signal", "confidence", "target"):
        np.testing.assert_array_equal(a[key], b[key])
    ens.save(path)  # replacing an earlier saved ensemble is allowed
    again = EnsembleModel.load(loaded.save(tmp_path / "resaved"))
    c = again.get_trading_decision(X)
    for key in ("signal", "confidence", "target"):
        np.testing.assert_array_equal(a[key], c[key])


def test_beats_majority_baseline(trained) -> None:
    ens, X, y_class, y_reg, _ = trained
    test = slice(712, None)
    truth = y_class.iloc[test].to_numpy()
    majority = y_class.iloc[:700].value_counts().idxmax()
    baseline = (truth == majority).mean()
    accuracy = (ens.predict(X.iloc[test]) == truth).mean()
    assert accuracy > baseline + 0.15
    ic = np.corrcoef(ens.predict_return(X.iloc[test]), y_reg.iloc[test])[0, 1]
    assert ic > 0.3


def test_linear_meta_matches_sklearn() -> None:
    rng = np.random.default_rng(42)
    z = rng.standard_normal((300, 4))
    for labels in (rng.integers(0, 3, 300), rng.choice([0, 2], 300)):
        sk = LogisticRegression(C=1.0, max_iter=2000).fit(z, labels)
        meta = _LinearMeta(
            kind="classifier",
            feature_names=("a", "b", "c", "d"),
            mean=np.zeros(4),
            scale=np.ones(4),
            coef=sk.coef_,
            intercept=sk.intercept_,
            classes=tuple(int(c) for c in sk.classes_),
        )
        ours = meta.predict_proba(z)[:, list(sk.classes_)]
        np.testing.assert_allclose(ours, sk.predict_proba(z), rtol=1e-10, atol=1e-12)


def _no_signal_overlapping_labels(n: int = 1600, h: int = 24):
    """Random-walk price, label = sign of the next ``h`` returns: no predictable
    signal, but neighbouring labels overlap and ``price`` pins down time."""
    rng = np.random.default_rng(42)
    index = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    price = np.cumsum(rng.standard_normal(n))
    fwd = pd.Series(price).shift(-h).to_numpy() - price
    keep = ~np.isnan(fwd)
    X = pd.DataFrame(
        {"price": price, "noise": rng.standard_normal(n)}, index=index
    ).iloc[keep]
    y = pd.Series(np.where(fwd > 0, 2, 0), index=index).iloc[keep]
    return X, y


def test_kfold_out_of_fold_accuracy_is_inflated_but_walk_forward_is_not() -> None:
    X, y = _no_signal_overlapping_labels()
    base = XGBoostEntryPredictor(
        params={"n_estimators": 40, "max_depth": 4, "early_stopping_rounds": None},
        n_jobs=1,
    )
    kfold = np.zeros((len(X), 3))
    for train, test in KFold(5, shuffle=True, random_state=0).split(X):
        kfold[test] = (
            clone(base).fit(X.iloc[train], y.iloc[train]).predict_proba(X.iloc[test])
        )
    # Equal blocks (min_train_fraction=None): the layout of the docs' 10-seed table.
    ens = EnsembleModel(
        [base], n_splits=4, min_train_fraction=None, horizon=24
    ).train_classifier(X, y)
    rows = X.index.get_indexer(ens.oof_classifier_.index)
    truth = y.to_numpy()[rows]
    kfold_acc = (kfold[rows].argmax(axis=1) == truth).mean()
    oof = ens.oof_classifier_
    wf_pred = np.where(oof.iloc[:, 1] > oof.iloc[:, 0], 2, 0)
    wf_acc = (wf_pred == truth).mean()
    chance = max((truth == 0).mean(), (truth == 2).mean())
    assert kfold_acc > chance + 0.1  # the future leaks through overlapping labels
    assert wf_acc < chance + 0.05  # honest: nothing to predict
    assert kfold_acc > wf_acc + 0.15


def test_defaults_and_sequence_names() -> None:
    ens = EnsembleModel()
    assert list(ens._base_models("classifier")) == [
        "xgb_classifier",
        "lgb_classifier",
        "cat_classifier",
    ]
    assert list(ens._base_models("regressor")) == ["xgb_regressor", "nn_regressor"]
    seq = EnsembleModel([XGBoostEntryPredictor(), XGBoostEntryPredictor()])
    assert list(seq._base_models("classifier")) == [
        "xgboostentrypredictor",
        "xgboostentrypredictor_2",
    ]


def test_bad_inputs() -> None:
    X, y_class, y_reg = _data(200)
    with pytest.raises(ConfigError, match="must be a perpml classification model"):
        EnsembleModel({"r": XGBoostPricePredictor()}).train_classifier(X, y_class)
    with pytest.raises(ConfigError, match="is empty"):
        EnsembleModel({}).train_classifier(X, y_class)
    with pytest.raises(ConfigError, match="lacks 10 training bars"):
        le = label_end_from_index(X.index, HORIZON).iloc[10:]
        _ensemble().train_classifier(X, y_class, label_end=le)
    with pytest.raises(DataContractError, match="index must equal"):
        _ensemble().train_classifier(X, y_class.iloc[::-1])
    with pytest.raises(DataContractError, match="DatetimeIndex"):
        _ensemble().train_classifier(X.reset_index(drop=True), y_class.to_numpy())
    with pytest.raises(NotFittedError, match="train_classifier"):
        _ensemble().predict(X)
    with pytest.raises(NotFittedError, match="not fitted"):
        _ensemble().save("unused")


def test_label_end_superset_is_aligned_and_used() -> None:
    X, y_class, _ = _data(400)
    # e.g. make_targets' label_end for the whole period, train on its first part
    label_end = label_end_from_index(X.index, HORIZON) + pd.Timedelta("1h")
    ens = EnsembleModel(
        [XGBoostEntryPredictor(params=SMALL, n_jobs=1)],
        n_splits=2,
        label_end=label_end,
    ).train_classifier(X.iloc[:300], y_class.iloc[:300])
    for f in ens.oof_folds_["classifier"]:
        used = f.fit_index.append(f.early_stop_index)
        assert f.max_label_end == label_end.loc[used].max()
        assert f.max_label_end < f.test_index[0]


def test_both_halves_must_use_the_same_columns(trained) -> None:
    ens, X, _, y_reg, _ = trained
    with pytest.raises(DataContractError, match="same feature frame"):
        ens.train_regressor(X.iloc[:700, :-1], y_reg.iloc[:700])


def test_stacking_at_least_as_accurate_as_averaging_its_bases(trained) -> None:
    """Planted signal: the meta-model must not lose to the equal-weight average of
    the same final base models (the seed run's ensemble did, by 2.6 points)."""
    ens, X, y_class, _, _ = trained
    test = X.iloc[712:]
    truth = y_class.iloc[712:].to_numpy()
    average = np.mean([m.predict_proba(test) for m in ens.classifiers_.values()], 0)
    avg_acc = (average.argmax(axis=1) == truth).mean()
    ens_acc = (ens.predict(test) == truth).mean()
    assert ens_acc >= avg_acc - 0.02


def test_fitted_bases_are_used_without_refit() -> None:
    X, y_class, y_reg = _data(600)
    train, val = slice(0, 450), slice(462, 540)  # early stopping after a purge gap
    xgb = SpyXGB(params=SMALL, n_jobs=1).fit(
        X.iloc[train], y_class.iloc[train], X.iloc[val], y_class.iloc[val]
    )
    nn = NeuralNetRegressor(params=NN_SMALL, n_jobs=1).fit(
        X.iloc[train], y_reg.iloc[train], X.iloc[val], y_reg.iloc[val]
    )
    SPY_LOG.clear()
    ens = _ensemble()
    ens.train_classifier(X.iloc[train], y_class.iloc[train], fitted_bases={"xgb": xgb})
    fits = [oid for event, oid, _ in SPY_LOG if event == "fit"]
    assert len(fits) == ens.n_splits  # fold clones only: no refit of "xgb"
    assert id(xgb) not in fits
    assert ens.classifiers_["xgb"] is xgb
    assert ens.reused_bases_["classifier"] == ["xgb"]  # "lgb" was refitted
    ens.train_regressor(X.iloc[train], y_reg.iloc[train], fitted_bases={"nn": nn})
    assert ens.regressors_["nn"] is nn and ens.reused_bases_["regressor"] == ["nn"]
    # Prediction = meta-model on the reused model's probabilities.
    test = X.iloc[552:]
    features = np.concatenate(
        [m.predict_proba(test)[:, [0, 2]] for m in (xgb, ens.classifiers_["lgb"])],
        axis=1,
    )
    combiner = ens.combiner_["classifier"]
    if combiner == "average":
        expected = average_combiner("classifier", features)
    elif combiner == "member":
        j = ["xgb", "lgb"].index(ens.combiner_member_["classifier"])
        expected = average_combiner("classifier", features[:, 2 * j : 2 * j + 2])
    else:
        expected = ens.classifier_meta_.predict_proba(features)
    np.testing.assert_allclose(ens.predict_proba(test), expected)


def test_average_fallback_is_chosen_out_of_sample_and_saved(trained, tmp_path) -> None:
    ens, X, _, _, _ = trained
    for kind in ("classifier", "regressor"):
        check = ens.combiner_check_[kind]
        best = max(check["member_scores"].values())
        # Stacking and a member must beat the simpler choice (by a margin).
        if ens.combiner_[kind] == "stacking":
            assert check["stacking_score"] > max(check["average_score"], best)
        elif ens.combiner_[kind] == "member":
            assert check["member_scores"][ens.combiner_member_[kind]] == best
            assert best > check["average_score"]
        else:
            assert ens.combiner_[kind] == "average"
        assert ens.combiner_reason_[kind]
    # Force the fallback: predictions become the plain mean of the base models.
    ens2 = EnsembleModel.load(ens.save(tmp_path / "e"))
    assert ens2.combiner_ == ens.combiner_  # the choice is saved, with its reason
    assert ens2.combiner_member_ == ens.combiner_member_
    assert ens2.combiner_reason_ == ens.combiner_reason_
    ens2.combiner_ = {"classifier": "average", "regressor": "average"}
    test = X.iloc[712:]
    mean = np.mean([m.predict_proba(test) for m in ens2.classifiers_.values()], 0)
    # p_neutral is rebuilt as 1 - p_short - p_long (base outputs are float32)
    np.testing.assert_allclose(ens2.predict_proba(test), mean, atol=1e-6)
    fc = np.mean([m.predict(test) for m in ens2.regressors_.values()], 0)
    np.testing.assert_allclose(ens2.predict_return(test), fc, atol=1e-12)


def test_bad_fitted_bases() -> None:
    X, y_class, _ = _data(300)
    fitted = XGBoostEntryPredictor(params=SMALL, n_jobs=1).fit(X, y_class)
    with pytest.raises(ConfigError, match="not a base classifier"):
        _ensemble().train_classifier(X, y_class, fitted_bases={"cat": fitted})
    with pytest.raises(ConfigError, match="Pass the trained instance"):
        _ensemble().train_classifier(X, y_class, fitted_bases={"lgb": fitted})
    with pytest.raises(NotFittedError, match="is not fitted"):
        _ensemble().train_classifier(
            X, y_class, fitted_bases={"xgb": SpyXGB(params=SMALL)}
        )
    narrow = SpyXGB(params=SMALL, n_jobs=1).fit(X.iloc[:, :-1], y_class)
    with pytest.raises(DataContractError, match="trained on 5 columns"):
        _ensemble().train_classifier(X, y_class, fitted_bases={"xgb": narrow})
    with pytest.raises(ConfigError, match="min_train_fraction"):
        _ensemble(min_train_fraction=1.5).train_classifier(X, y_class)
