"""BaseModel: params contract, input validation, sklearn glue, registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.utils import estimator_checks

from perpml.exceptions import (
    DataContractError,
    InsufficientDataError,
    ModelParamsError,
    NotFittedError,
)
from perpml.models import (
    BaseModel,
    CatBoostEntryPredictor,
    LightGBMEntryPredictor,
    XGBoostEntryPredictor,
    XGBoostPricePredictor,
)
from perpml.models.base import registered_models
from perpml.testing.model_checks import make_model_data

SMALL = {"n_estimators": 10}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return make_model_data(n_rows=300, n_features=4)


def model(**params: object) -> XGBoostEntryPredictor:
    return XGBoostEntryPredictor(params={**SMALL, **params}, n_jobs=1)


# ---------------------------------------------------------------- params
def test_unknown_params_list_valid_keys(data) -> None:
    X, y = data
    with pytest.raises(ModelParamsError, match=r"unknown params key\(s\) \['depth'\]"):
        model(depth=3).fit(X, y)
    with pytest.raises(ModelParamsError, match=r"Valid keys: \[.*'max_depth'"):
        model(depth=3).fit(X, y)


def test_seed_in_params_points_to_constructor(data) -> None:
    X, y = data
    with pytest.raises(ModelParamsError, match="random_state= and n_jobs="):
        model(random_state=3).fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"params": [("max_depth", 3)]}, "must be a mapping", id="list"),
        pytest.param({"random_state": 1.5}, "random_state", id="float-seed"),
        pytest.param({"n_jobs": 0}, "n_jobs", id="zero-jobs"),
        pytest.param({"params": {"n_estimators": 0}}, "n_estimators", id="zero-rounds"),
        pytest.param({"params": {"learning_rate": -1}}, "learning_rate", id="neg-lr"),
        pytest.param(
            {"params": {"class_weight": {"x": 1}}}, "class_weight", id="weight-key"
        ),
        pytest.param(
            {"params": {"class_weight": {2: -1.0}}}, "class_weight", id="weight-neg"
        ),
    ],
)
def test_invalid_arguments_raise(data, kwargs, match) -> None:
    X, y = data
    with pytest.raises(ModelParamsError, match=match):
        XGBoostEntryPredictor(**kwargs).fit(X, y)


def test_library_rejection_becomes_params_error(data) -> None:
    X, y = data
    with pytest.raises(ModelParamsError, match="xgboost failed to train"):
        model(subsample=5.0).fit(X, y)


def test_params_mapping_is_not_mutated(data) -> None:
    X, y = data
    params = {"n_estimators": 5}
    m = XGBoostEntryPredictor(params=params).fit(X, y)
    assert params == {"n_estimators": 5}
    assert m.params_["max_depth"] == 5 and m.params_["n_estimators"] == 5


# ---------------------------------------------------------------- inputs
def test_x_must_be_a_dataframe(data) -> None:
    X, y = data
    with pytest.raises(DataContractError, match="must be a pandas DataFrame"):
        model().fit(X.to_numpy(), y)


def test_nan_rejected_with_rows_and_columns(data) -> None:
    X, y = data
    X = X.copy()
    X.iloc[[3, 7], 1] = np.nan
    with pytest.raises(DataContractError, match=r"NaN in 2 rows, columns \['feat_1'\]"):
        model().fit(X, y)


def test_inf_rejected(data) -> None:
    X, y = data
    X = X.copy()
    X.iloc[0, 0] = np.inf
    with pytest.raises(DataContractError, match="infinite values"):
        model().fit(X, y)


def test_missing_and_reordered_columns_at_predict(data) -> None:
    X, y = data
    m = model().fit(X, y)
    with pytest.raises(DataContractError, match=r"missing \['feat_0'\]"):
        m.predict(X.drop(columns="feat_0"))
    with pytest.raises(DataContractError, match="different order"):
        m.predict(X[X.columns[::-1]])
    with pytest.raises(DataContractError, match=r"unexpected \['extra'\]"):
        m.predict_proba(X.assign(extra=1.0))


def test_non_numeric_and_duplicate_columns(data) -> None:
    X, y = data
    with pytest.raises(DataContractError, match="must be numeric"):
        model().fit(X.assign(sym="BTC"), y)
    with pytest.raises(DataContractError, match="duplicated columns"):
        model().fit(pd.concat([X, X[["feat_0"]]], axis=1), y)


@pytest.mark.parametrize(
    ("make_y", "match"),
    [
        pytest.param(lambda y: y.replace(2, 5), "class labels", id="bad-label"),
        pytest.param(
            lambda y: y.astype(float).where(y.index != y.index[4]), "finite", id="nan"
        ),
        pytest.param(lambda y: y.iloc[:-1], r"shape \(300,\)", id="short"),
        pytest.param(
            lambda y: y.shift(1, freq="5min"), "index must equal", id="misaligned"
        ),
        pytest.param(lambda y: y.to_frame(), "must be 1-D", id="frame"),
    ],
)
def test_bad_targets(data, make_y, match) -> None:
    X, y = data
    with pytest.raises(DataContractError, match=match):
        model().fit(X, make_y(y))


def test_float_labels_and_plain_arrays_accepted(data) -> None:
    X, y = data
    a = model().fit(X, y.astype(float)).predict_proba(X)
    b = model().fit(X, y.to_numpy()).predict_proba(X)
    assert np.array_equal(a, b)


def test_validation_pair_required(data) -> None:
    X, y = data
    with pytest.raises(ModelParamsError, match="both X_val and y_val"):
        model().fit(X, y, X_val=X)


def test_validation_columns_must_match(data) -> None:
    X, y = data
    with pytest.raises(DataContractError, match="X_val"):
        model().fit(X, y, X[X.columns[::-1]], y)


def test_single_class_and_unseen_val_class(data) -> None:
    X, y = data
    with pytest.raises(InsufficientDataError, match="single class"):
        model().fit(X, pd.Series(1, index=X.index))
    no_long = (y != 2).to_numpy()
    with pytest.raises(InsufficientDataError, match=r"class\(es\) \[2\]"):
        model().fit(X[no_long], y[no_long], X, y)


def test_not_fitted(data) -> None:
    X, _ = data
    with pytest.raises(NotFittedError, match=r"not fitted yet.*\.train"):
        model().predict(X)
    with pytest.raises(NotFittedError):
        model().feature_importance()


def test_empty_predict_returns_empty(data) -> None:
    X, y = data
    m = model().fit(X, y)
    assert m.predict_proba(X.iloc[:0]).shape == (0, 3)
    assert m.predict(X.iloc[:0]).shape == (0,)


def test_nan_opt_in_subclass(data) -> None:
    class NanTolerantXGB(XGBoostEntryPredictor):
        allow_nan = True

    X, y = data
    X = X.copy()
    X.iloc[::10, 0] = np.nan
    m = NanTolerantXGB(params=SMALL, n_jobs=1).fit(X, y)
    assert np.isfinite(m.predict_proba(X)).all()


# ---------------------------------------------------------------- sklearn glue
def test_clone_get_set_params_round_trip() -> None:
    m = LightGBMEntryPredictor(params={"num_leaves": 7}, random_state=3, n_jobs=1)
    twin = clone(m)
    assert twin.get_params() == {
        "params": {"num_leaves": 7},
        "random_state": 3,
        "n_jobs": 1,
    }
    twin.set_params(params={"num_leaves": 9})
    assert m.params == {"num_leaves": 7}


def test_estimator_types() -> None:
    assert is_classifier(CatBoostEntryPredictor())
    assert is_regressor(XGBoostPricePredictor())
    assert hasattr(XGBoostEntryPredictor(), "predict_proba")
    assert not hasattr(XGBoostPricePredictor(), "predict_proba")


def test_fit_forgets_earlier_fit(data) -> None:
    X, y = data
    m = model().fit(X, y, X, y)
    assert m.best_iteration_ is not None
    m.fit(X[["feat_0", "feat_1"]], y)
    assert m.best_iteration_ is None and m.feature_names_in_ == ["feat_0", "feat_1"]


def test_score_is_accuracy(data) -> None:
    X, y = data
    m = model().fit(X, y)
    assert m.score(X, y) == pytest.approx((m.predict(X) == y.to_numpy()).mean())


# Checks that only inspect construction/params; the rest of sklearn's suite feeds
# numpy arrays, which perpml models refuse on purpose (they need named, time-
# indexed columns to catch column mix-ups at predict time).
SKLEARN_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_repr",
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_do_not_raise_errors_in_init_or_set_params",
]


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
@pytest.mark.parametrize(
    "cls",
    [
        XGBoostEntryPredictor,
        LightGBMEntryPredictor,
        CatBoostEntryPredictor,
        XGBoostPricePredictor,
    ],
    ids=lambda c: c.__name__,
)
def test_sklearn_estimator_checks(cls, check) -> None:
    getattr(estimator_checks, check)(cls.__name__, cls())


def test_registry_holds_concrete_models_only() -> None:
    names = registered_models()
    assert {
        "XGBoostEntryPredictor",
        "LightGBMEntryPredictor",
        "CatBoostEntryPredictor",
        "XGBoostPricePredictor",
    } <= set(names)
    assert "_XGBoostModel" not in names and "BaseModel" not in names
    assert all(issubclass(c, BaseModel) for c in names.values())
