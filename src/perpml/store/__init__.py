"""Feature store: an offline Parquet store, a Redis online store and live signals.

* :class:`OfflineStore` — versioned, month-partitioned Parquet datasets per
  ``(symbol, interval, feature_set_id)`` with a manifest; append-only; time-range
  reads open only the partitions they need. :func:`cached_features` is what
  ``perpml run`` calls instead of ``build_features``.
* :func:`latest_features` — the newest bars' features from the trailing window the
  warm-ups need (equal to the batch features up to float32 rounding).
* :class:`OnlineStore` — the newest vector and rolling window per symbol and feature
  set in Redis (float32 bytes, one MULTI/EXEC per write, one round trip per read).
* :class:`SignalService` — a run's models loaded once; ``decide(symbol)`` returns
  ``EnsembleModel.get_trading_decision`` for the newest online vector.

See ``docs/store.md``.
"""

from __future__ import annotations

from perpml.store.errors import (
    FeatureSetMismatchError,
    OnlineStoreUnavailableError,
    SignalRefusedError,
    StaleVectorError,
    StoreCorruptError,
    StoreError,
)
from perpml.store.incremental import latest_features, trailing_window
from perpml.store.location import default_store_dir, resolve_store_dir
from perpml.store.offline import OfflineStore, cached_features, offline_feature_set_id
from perpml.store.online import OnlineStore, OnlineVector, resolve_redis_url
from perpml.store.run_spec import ServingRun
from perpml.store.signal import SignalService

__all__ = [
    "FeatureSetMismatchError",
    "OfflineStore",
    "OnlineStore",
    "OnlineStoreUnavailableError",
    "OnlineVector",
    "ServingRun",
    "SignalRefusedError",
    "SignalService",
    "StaleVectorError",
    "StoreCorruptError",
    "StoreError",
    "cached_features",
    "default_store_dir",
    "latest_features",
    "offline_feature_set_id",
    "resolve_redis_url",
    "resolve_store_dir",
    "trailing_window",
]
