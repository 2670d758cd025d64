"""Hyper-parameter tuning with Optuna on purged folds (never the test period).

The seed's functions (``optimize_xgboost_classifier``, ``optimize_lightgbm_classifier``,
``optimize_catboost_classifier``, ``optimize_xgboost_regressor``,
``optimize_neural_network``, ``optimize_all_models``) return ``{"best_params",
"best_score", "study", ...}``; ``best_params`` plugs into the model class. Modules:

``spaces``       search space per model
``objective``    purged walk-forward / validation-period folds and the scores
``storage``      memory, journal file or SQLAlchemy URL (heartbeat for databases)
``study``        one worker on a (shared) study, capped across workers
``api``          the seed's functions and :func:`tune_model`
``params_file``  the file ``perpml tune`` writes and ``perpml run --params`` reads

See ``docs/tuning.md`` (one machine, many workers on PostgreSQL).
"""

from __future__ import annotations

from perpml.tuning.api import (
    TuningOptions,
    build_objective,
    optimize_all_models,
    optimize_catboost_classifier,
    optimize_lightgbm_classifier,
    optimize_neural_network,
    optimize_xgboost_classifier,
    optimize_xgboost_regressor,
    tune_model,
)
from perpml.tuning.params_file import TunedParams, read_params_file, write_params_file
from perpml.tuning.spaces import MODEL_SPECS, ModelSpec, get_spec
from perpml.tuning.study import TuningResult, run_study

__all__ = [
    "MODEL_SPECS",
    "ModelSpec",
    "TunedParams",
    "TuningOptions",
    "TuningResult",
    "build_objective",
    "get_spec",
    "optimize_all_models",
    "optimize_catboost_classifier",
    "optimize_lightgbm_classifier",
    "optimize_neural_network",
    "optimize_xgboost_classifier",
    "optimize_xgboost_regressor",
    "read_params_file",
    "run_study",
    "tune_model",
    "write_params_file",
]
