"""Search spaces: which hyper-parameters each model's tuner explores.

One :class:`ModelSpec` per tunable model, keyed by the model names the training
pipeline uses (``xgb_classifier``, ``lgb_classifier``, ``cat_classifier``,
``xgb_regressor``, ``nn_regressor``). ``spec.suggest(trial)`` returns a mapping that
plugs straight into the model class (``XGBoostEntryPredictor(params=...)``): every key
is one of the class's ``default_params`` keys.

Ranges follow the seed where it gives them (XGBoost ``max_depth`` 3-10,
``learning_rate`` 0.01-0.3, ``n_estimators`` 100-500; LightGBM ``num_leaves`` 20-100;
CatBoost ``depth`` 4-10, ``iterations`` 100-500; the network 2-4 layers of 32-256
units, dropout 0.1-0.5) and are the usual ones elsewhere (subsampling 0.5/0.6-1,
L1/L2 penalties log-uniform 1e-3-10). Every booster trial stops early after
:data:`EARLY_STOPPING_ROUNDS` (30) rounds without improvement, so ``n_estimators`` is
an upper bound that costs little when it is too high. CatBoost trials use 64 borders
(half the model default) because its deep trees (``depth`` 9-10) dominate the cost of
tuning. The network keeps its seed
defaults for what is not searched and trains at most :data:`NN_MAX_EPOCHS` epochs with
a patience of :data:`NN_PATIENCE` in a trial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from perpml.exceptions import ConfigError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "EARLY_STOPPING_ROUNDS",
    "MODEL_SPECS",
    "ModelSpec",
    "get_spec",
    "params_from_trial_params",
]

#: Boosting rounds without validation improvement before a trial's booster stops.
EARLY_STOPPING_ROUNDS = 30
#: Epoch cap and patience of the network inside a trial.
NN_MAX_EPOCHS = 100
NN_PATIENCE = 10

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class ModelSpec:
    """How to tune one model.

    Attributes
    ----------
    name : str
        Model name as used by the pipeline and the params file.
    task : {"classification", "regression"}
    class_name : str
        Name of the model class in :mod:`perpml.models`.
    suggest : callable
        ``suggest(trial) -> dict`` of model ``params`` (keys of the class's
        ``default_params``).
    """

    name: str
    task: Task
    class_name: str
    suggest: Callable[[optuna.trial.BaseTrial], dict[str, Any]]

    def model_class(self) -> type:
        """The model class (imported on first use)."""
        from perpml import models

        return getattr(models, self.class_name)  # type: ignore[no-any-return]


def _xgb(trial: optuna.trial.BaseTrial, *, regression: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "max_depth": trial.suggest_int("max_depth", 3, 10),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 100, 500, step=50),
        "min_child_weight": trial.suggest_float(
            "min_child_weight", 1.0, 20.0, log=True
        ),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
    }
    if not regression:
        # gamma is in loss units; for the regressor those are squared returns
        # (~1e-6), where any searched value would be noise, so it stays 0 there.
        params["gamma"] = trial.suggest_float("gamma", 0.0, 1.0)
    return params


def _xgb_classifier(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return _xgb(trial, regression=False)


def _xgb_regressor(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return _xgb(trial, regression=True)


def _lgb_classifier(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {
        "num_leaves": trial.suggest_int("num_leaves", 20, 100),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 100, 500, step=50),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
    }


def _cat_classifier(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {
        "depth": trial.suggest_int("depth", 4, 10),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 100, 500, step=50),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1.0, 10.0, log=True),
        "random_strength": trial.suggest_float("random_strength", 0.0, 2.0),
        "bagging_temperature": trial.suggest_float("bagging_temperature", 0.0, 1.0),
        # CatBoost's cost doubles per depth level; 64 borders (not the model's 128)
        # halve the cost of the deep trials (measured: depth 10, 9k x 50 rows).
        "border_count": 64,
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
    }


def _nn_regressor(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    n_layers = trial.suggest_int("n_layers", 2, 4)
    hidden = [
        trial.suggest_int(f"n_units_l{i}", 32, 256, log=True) for i in range(n_layers)
    ]
    return {
        "hidden_dims": hidden,
        "dropout": trial.suggest_float("dropout", 0.1, 0.5),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [128, 256, 512]),
        "max_epochs": NN_MAX_EPOCHS,
        "early_stopping_rounds": NN_PATIENCE,
    }


#: Tunable models by pipeline name.
MODEL_SPECS: Mapping[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "xgb_classifier", "classification", "XGBoostEntryPredictor", _xgb_classifier
        ),
        ModelSpec(
            "lgb_classifier",
            "classification",
            "LightGBMEntryPredictor",
            _lgb_classifier,
        ),
        ModelSpec(
            "cat_classifier",
            "classification",
            "CatBoostEntryPredictor",
            _cat_classifier,
        ),
        ModelSpec(
            "xgb_regressor", "regression", "XGBoostPricePredictor", _xgb_regressor
        ),
        ModelSpec("nn_regressor", "regression", "NeuralNetRegressor", _nn_regressor),
    )
}

# Other spellings users type (the seed's function names, library names).
_ALIASES = {
    "xgboost_classifier": "xgb_classifier",
    "lightgbm_classifier": "lgb_classifier",
    "lgbm_classifier": "lgb_classifier",
    "catboost_classifier": "cat_classifier",
    "xgboost_regressor": "xgb_regressor",
    "neural_network": "nn_regressor",
    "nn": "nn_regressor",
}


def get_spec(name: str) -> ModelSpec:
    """Return the spec of a model by pipeline name or alias.

    Raises
    ------
    ConfigError
        Unknown name; the message lists the valid ones.
    """
    key = _ALIASES.get(name, name)
    if key not in MODEL_SPECS:
        raise ConfigError(
            f"Unknown model {name!r} to tune. Valid: {sorted(MODEL_SPECS)} (or "
            f"aliases {sorted(_ALIASES)}); pass one to --model."
        )
    return MODEL_SPECS[key]


def params_from_trial_params(spec: ModelSpec, trial_params: Mapping[str, Any]) -> dict:
    """Model ``params`` of a finished trial from its raw Optuna parameters.

    Replays :attr:`ModelSpec.suggest` on a fixed trial, so the mapping is exactly
    what the trial trained with (e.g. ``n_layers`` + ``n_units_l*`` become
    ``hidden_dims``).
    """
    import optuna

    return spec.suggest(optuna.trial.FixedTrial(dict(trial_params)))
