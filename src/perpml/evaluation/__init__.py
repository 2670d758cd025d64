"""Honest evaluation: metrics, baselines, purged splits, preprocessing, selection.

Everything here is fitted on training rows only; splits purge training rows whose
label is only known after the test period has begun (see :mod:`.splits`).
"""

from __future__ import annotations

from perpml.evaluation.baselines import (
    classification_baselines,
    past_return_from_close,
    previous_return_sign,
    regression_baselines,
)
from perpml.evaluation.metrics import (
    CLASS_LABELS,
    CLASS_NAMES,
    classification_metrics,
    confusion_frame,
    directional_accuracy,
    directional_coverage,
    regression_directional_accuracy,
    regression_metrics,
)
from perpml.evaluation.preprocessing import (
    FeatureScaler,
    drop_incomplete_rows,
    make_scaler,
)
from perpml.evaluation.selection import (
    CorrelationFilter,
    ImportanceSelector,
    select_features,
)
from perpml.evaluation.splits import (
    PurgedTrainTestSplit,
    PurgedWalkForward,
    SplitIndices,
    chronological_split,
    label_end_from_index,
    purged_tail_split,
)
from perpml.evaluation.walk_forward import WalkForwardValidator

__all__ = [
    "CorrelationFilter",
    "ImportanceSelector",
    "select_features",
    "WalkForwardValidator",
    "FeatureScaler",
    "classification_baselines",
    "drop_incomplete_rows",
    "make_scaler",
    "past_return_from_close",
    "previous_return_sign",
    "regression_baselines",
    "PurgedTrainTestSplit",
    "PurgedWalkForward",
    "SplitIndices",
    "chronological_split",
    "label_end_from_index",
    "purged_tail_split",
    "CLASS_LABELS",
    "CLASS_NAMES",
    "classification_metrics",
    "confusion_frame",
    "directional_accuracy",
    "directional_coverage",
    "regression_directional_accuracy",
    "regression_metrics",
]
