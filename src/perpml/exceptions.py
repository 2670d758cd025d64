"""Errors raised by perpml.

Every error derives from :class:`PerpmlError` and also from the builtin a caller
would naturally catch, so ``except ValueError`` keeps working::

    PerpmlError (Exception)
    ├── ConfigError (PerpmlError, ValueError)          bad config file / argument
    ├── DataError (PerpmlError)                        anything about market data
    │   ├── DataContractError (DataError, ValueError)  frame breaks the market-data contract
    │   ├── InsufficientDataError (DataError, ValueError)  too few rows for the requested work
    │   ├── DataFormatError (DataError, ValueError)    a file/response in a format we cannot read
    │   └── DataSourceError (DataError, RuntimeError)  a source failed (server down, rate limit, ...)
    ├── FeatureError (PerpmlError, ValueError)         unknown feature, bad registration, bad params
    ├── ModelError (PerpmlError)                       model-level failures
    │   ├── NotFittedError (ModelError, sklearn NotFittedError)
    │   ├── ModelParamsError (ModelError, ValueError)  unknown/invalid ``params=`` keys
    │   └── ArtifactError (ModelError, OSError)        saved model/dataset missing, corrupt, checksum mismatch
    ├── LeakageError (PerpmlError, ValueError)         a split/fit would let the future leak into the past
    ├── RunDirectoryError (PerpmlError, OSError)       run directory not empty / not writable / a file
    └── ReportError (PerpmlError, RuntimeError)        report/plot generation failed

Messages say what must hold, what was got, where, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "ArtifactError",
    "ConfigError",
    "DataContractError",
    "DataError",
    "DataFormatError",
    "DataSourceError",
    "FeatureError",
    "InsufficientDataError",
    "LeakageError",
    "ModelError",
    "ModelParamsError",
    "NotFittedError",
    "PerpmlError",
    "ReportError",
    "RunDirectoryError",
]


class PerpmlError(Exception):
    """Root of every error perpml raises on purpose."""


class ConfigError(PerpmlError, ValueError):
    """A config file or argument is invalid (unknown key, wrong type, bad value)."""


class DataError(PerpmlError):
    """Something is wrong with market data or its source."""


class DataContractError(DataError, ValueError):
    """A market frame breaks the data contract.

    Parameters
    ----------
    message : str
        Human-readable summary listing every violation and its fix.
    violations : sequence of Violation-like objects, optional
        Machine-readable details (reason code, column, first bad timestamps).
    """

    def __init__(self, message: str, violations: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.violations = tuple(violations)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Reason codes of every violation, e.g. ``("gap", "nan")``."""
        return tuple(getattr(v, "reason", str(v)) for v in self.violations)


class InsufficientDataError(DataError, ValueError):
    """Too few rows (or labelled rows) for the requested work."""


class DataFormatError(DataError, ValueError):
    """A file or server response is in a format perpml cannot read."""


class DataSourceError(DataError, RuntimeError):
    """A data source failed: server down, rate-limited, bad status, timeout."""


class FeatureError(PerpmlError, ValueError):
    """Unknown feature, invalid registration or invalid feature parameters."""


class ModelError(PerpmlError):
    """A model could not be trained, used, saved or loaded."""


class NotFittedError(ModelError, _SklearnNotFittedError):
    """A model was used before ``train``/``fit``."""


class ModelParamsError(ModelError, ValueError):
    """``params=`` holds an unknown key or an invalid value."""


class ArtifactError(ModelError, OSError):
    """A saved artifact is missing, corrupt or fails its checksum."""


class LeakageError(PerpmlError, ValueError):
    """A split or fit would let information from the future into the past."""


class ReportError(PerpmlError, RuntimeError):
    """A report or plot could not be generated."""


class RunDirectoryError(PerpmlError, OSError):
    """A run directory cannot be used: not empty, not writable, or a file."""
