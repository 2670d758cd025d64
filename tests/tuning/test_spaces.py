"""Search spaces: every suggested mapping is a valid ``params=`` for its model."""

from __future__ import annotations

import optuna
import pytest

from perpml.exceptions import ConfigError
from perpml.models._validation import resolve_params
from perpml.tuning.spaces import (
    EARLY_STOPPING_ROUNDS,
    MODEL_SPECS,
    get_spec,
    params_from_trial_params,
)


@pytest.mark.parametrize("name", sorted(MODEL_SPECS))
def test_suggested_params_are_valid_model_params(name):
    spec = MODEL_SPECS[name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    cls = spec.model_class()
    for _ in range(5):
        trial = study.ask()
        params = spec.suggest(trial)
        resolve_params(cls.__name__, params, cls.default_params, 42, 1)
        assert params_from_trial_params(spec, trial.params) == params
        study.tell(trial, 0.0)


def test_boosters_stop_after_30_rounds_and_nn_architecture_ranges():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for name in ("xgb_classifier", "lgb_classifier", "cat_classifier", "xgb_regressor"):
        assert (
            MODEL_SPECS[name].suggest(study.ask())["early_stopping_rounds"]
            == EARLY_STOPPING_ROUNDS
            == 30
        )
    for _ in range(20):
        p = MODEL_SPECS["nn_regressor"].suggest(study.ask())
        assert 2 <= len(p["hidden_dims"]) <= 4
        assert all(32 <= u <= 256 for u in p["hidden_dims"])
        assert 0.1 <= p["dropout"] <= 0.5


def test_aliases_and_unknown_names():
    assert get_spec("lgbm_classifier").name == "lgb_classifier"
    assert get_spec("neural_network").name == "nn_regressor"
    with pytest.raises(ConfigError, match="Unknown model 'svm'.*--model"):
        get_spec("svm")
