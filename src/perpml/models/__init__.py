"""Models: one base class, gradient-boosting and neural models, persistence.

Every model subclasses :class:`~perpml.models.base.BaseModel` and shares its public
interface (``train``/``fit``, ``predict``, ``predict_proba``, ``evaluate``,
``feature_importance``, ``save``/``load``). :func:`load_model` loads any saved model
by reading its ``model.json`` sidecar.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from perpml.models.base import CLASS_LABELS, CLASS_NAMES, BaseModel, FitResult
from perpml.models.classifiers import (
    CatBoostEntryPredictor,
    LightGBMEntryPredictor,
    XGBoostEntryPredictor,
)
from perpml.models.persistence import load_model, save_model
from perpml.models.regressors import XGBoostPricePredictor

# Torch-backed models load on first use so `import perpml.models` stays light.
_LAZY: dict[str, str] = {
    "NeuralNetRegressor": "perpml.models.neural_net",
    "LSTMForecaster": "perpml.models.lstm_forecaster",
    "EnsembleModel": "perpml.models.ensemble",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CLASS_LABELS",
    "CLASS_NAMES",
    "BaseModel",
    "CatBoostEntryPredictor",
    "FitResult",
    "LightGBMEntryPredictor",
    "XGBoostEntryPredictor",
    "XGBoostPricePredictor",
    "load_model",
    "save_model",
    # lazy names whose module is present (found without importing torch)
    *sorted(n for n, m in _LAZY.items() if importlib.util.find_spec(m) is not None),
]
