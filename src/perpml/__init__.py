"""perpml: honest machine-learning research on crypto perpetual futures.

The seed's public names are importable from here; heavy modules load on first use::

    from perpml import load_market_data, build_features, XGBoostEntryPredictor
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("perpml")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

# public name -> module that defines it (loaded lazily, so `import perpml` stays fast)
_EXPORTS: dict[str, str] = {
    # data
    "load_market_data": "perpml.data",
    "validate_market_data": "perpml.data",
    "fill_gaps": "perpml.data",
    "data_quality_report": "perpml.data",
    "data_fingerprint": "perpml.data",
    "simulate_market": "perpml.data.sources.synthetic",
    # features
    "build_features": "perpml.features",
    "list_features": "perpml.features",
    "make_targets": "perpml.features",
    "feature_set_id": "perpml.features",
    # evaluation
    "WalkForwardValidator": "perpml.evaluation.walk_forward",
    "PurgedWalkForward": "perpml.evaluation.splits",
    "chronological_split": "perpml.evaluation.splits",
    "classification_metrics": "perpml.evaluation.metrics",
    "regression_metrics": "perpml.evaluation.metrics",
    "select_features": "perpml.evaluation.selection",
    "FeatureScaler": "perpml.evaluation.preprocessing",
    # models
    "XGBoostEntryPredictor": "perpml.models",
    "LightGBMEntryPredictor": "perpml.models",
    "CatBoostEntryPredictor": "perpml.models",
    "XGBoostPricePredictor": "perpml.models",
    "NeuralNetRegressor": "perpml.models",
    "LSTMForecaster": "perpml.models",
    "EnsembleModel": "perpml.models.ensemble",
    "load_model": "perpml.models",
    # pipeline
    "MLTrainingPipeline": "perpml.pipeline.training",
    "load_prepared_datasets": "perpml.rundir.datasets",
    "export_prepared_datasets": "perpml.rundir.datasets",
    "run_pipeline": "perpml.pipeline.run",
    "RunConfig": "perpml.config",
    "load_config": "perpml.config",
    # explain / report
    "ModelInterpreter": "perpml.explain",
    "ModelPerformanceReporter": "perpml.report",
    "build_run_report": "perpml.report",
    # tuning
    "optimize_xgboost_classifier": "perpml.tuning",
    "optimize_lightgbm_classifier": "perpml.tuning",
    "optimize_catboost_classifier": "perpml.tuning",
    "optimize_xgboost_regressor": "perpml.tuning",
    "optimize_neural_network": "perpml.tuning",
    "optimize_all_models": "perpml.tuning",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'perpml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
