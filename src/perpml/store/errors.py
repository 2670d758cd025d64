"""Errors of the feature store (all :class:`~perpml.exceptions.PerpmlError`).

::

    StoreError (PerpmlError, OSError)               offline/online store failure
    ├── StoreCorruptError (StoreError)              a manifest or part file is damaged
    ├── OnlineStoreUnavailableError (StoreError, ConnectionError)
    │                                               Redis cannot be reached (URL named)
    └── SignalRefusedError (StoreError)             no decision: the vector is unusable
        ├── FeatureSetMismatchError (SignalRefusedError)  stored set != model's set
        └── StaleVectorError (SignalRefusedError)   newest vector older than one bar
"""

from __future__ import annotations

from perpml.exceptions import PerpmlError

__all__ = [
    "FeatureSetMismatchError",
    "OnlineStoreUnavailableError",
    "SignalRefusedError",
    "StaleVectorError",
    "StoreCorruptError",
    "StoreError",
]


class StoreError(PerpmlError, OSError):
    """The offline or online feature store cannot do what was asked."""


class StoreCorruptError(StoreError):
    """A manifest or a part file of the offline store is missing or damaged."""


class OnlineStoreUnavailableError(StoreError, ConnectionError):
    """Redis cannot be reached (the message names the URL); nothing was written."""


class SignalRefusedError(StoreError):
    """No trading decision: the newest online vector cannot be used."""


class FeatureSetMismatchError(SignalRefusedError):
    """The online store holds another feature set than the model was trained on."""


class StaleVectorError(SignalRefusedError):
    """The newest online vector is older than one bar."""
