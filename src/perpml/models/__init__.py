"""Models: one base class, gradient-boosting and neural models, persistence.

Every model subclasses :class:`~perpml.models.base.BaseModel` and shares its public
interface (``train``/``fit``, ``predict``, ``predict_proba``, ``evaluate``,
``feature_importance``, ``save``/``load``). :func:`load_model` loads any saved model
by reading its ``model.json`` sidecar.
"""

from __future__ import annotations

from perpml.models.base import CLASS_LABELS, CLASS_NAMES, BaseModel, FitResult
from perpml.models.classifiers import (
    CatBoostEntryPredictor,
    LightGBMEntryPredictor,
    XGBoostEntryPredictor,
)
from perpml.models.persistence import load_model, save_model
from perpml.models.regressors import XGBoostPricePredictor

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
]
