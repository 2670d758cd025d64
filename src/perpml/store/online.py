"""Online feature store in Redis: the newest vector per symbol and feature set.

Keys (``PREFIX = "perpml:v1"``)::

    perpml:v1:vec:<symbol>:<interval>:<feature_set_id>   hash, one per feature set
        ts          newest bar open time, int nanoseconds since the epoch (UTC)
        interval_ns bar length in nanoseconds
        vector      float32 little-endian bytes, n_features, column order of the manifest
        window      float32 bytes, (window_rows, n_features) row-major: the newest
                    rows, oldest first (what an LSTM with that lookback reads)
        window_ts   int64 bytes, the window rows' bar open times
        columns_sha sha256 of the column list (a reader checks its own against it)
        written_at  wall-clock write time, int nanoseconds
    perpml:v1:manifest:<feature_set_id>   JSON: columns, dtype, window_rows
    perpml:v1:sets:<symbol>:<interval>    set of feature_set_ids written for the pair

A write is one MULTI/EXEC transaction (manifest, set membership and the whole hash):
Redis applies all of it or — if the connection drops before EXEC — none of it, and
a reader never sees a half-written vector. A read is one ``HMGET`` (one round trip).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from perpml.store.errors import OnlineStoreUnavailableError, StoreError

__all__ = [
    "DEFAULT_REDIS_URL",
    "ENV_REDIS_URL",
    "OnlineStore",
    "OnlineVector",
    "columns_sha",
    "resolve_redis_url",
]

#: Redis URL used when neither ``--redis-url`` nor ``PERPML_REDIS_URL`` is given.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Environment variable naming the Redis URL.
ENV_REDIS_URL = "PERPML_REDIS_URL"
PREFIX = "perpml:v1"
_DTYPE = "<f4"
_FIELDS = ("ts", "interval_ns", "vector", "columns_sha", "written_at")


def resolve_redis_url(url: str | None = None) -> str:
    """``url`` if given, else ``$PERPML_REDIS_URL``, else :data:`DEFAULT_REDIS_URL`."""
    return url or os.environ.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL


def columns_sha(columns: Sequence[str]) -> str:
    """sha256 of a column list (order matters)."""
    return hashlib.sha256("\x1f".join(columns).encode()).hexdigest()


@dataclass(frozen=True)
class OnlineVector:
    """The newest feature vector of one symbol and feature set, as read from Redis.

    Attributes
    ----------
    timestamp : Timestamp
        Bar open time (UTC) of the vector; its values are known at
        ``timestamp + interval``.
    interval : Timedelta
        Bar length.
    values : ndarray of float32, shape (n_features,)
        In the column order of the feature set.
    written_at : Timestamp
        When the writer committed it (UTC wall clock).
    """

    timestamp: pd.Timestamp
    interval: pd.Timedelta
    values: np.ndarray
    written_at: pd.Timestamp

    @property
    def close_time(self) -> pd.Timestamp:
        """When the vector's bar closed (its values became known)."""
        return self.timestamp + self.interval


class OnlineStore:
    """Latest feature vectors in Redis (see the module docstring for the layout).

    Parameters
    ----------
    redis_url : str, optional
        ``redis://host:port/db``; default :func:`resolve_redis_url`.
    timeout : float, default 2.0
        Connect/read timeout in seconds (a down server fails fast, naming the URL).
    """

    def __init__(self, redis_url: str | None = None, *, timeout: float = 2.0) -> None:
        import redis

        self.url = resolve_redis_url(redis_url)
        try:
            self._redis = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                health_check_interval=0,
            )
        except ValueError as exc:
            raise StoreError(
                f"Invalid Redis URL {self.url!r} ({exc}). Pass --redis-url "
                "redis://HOST:PORT/DB or set PERPML_REDIS_URL."
            ) from None

    # ------------------------------------------------------------------ keys
    @staticmethod
    def vector_key(symbol: str, interval: str, feature_set_id: str) -> str:
        """Redis key of the hash holding the newest vector (symbol upper-cased)."""
        from perpml.data.loading import check_symbol

        return f"{PREFIX}:vec:{check_symbol(symbol)}:{interval}:{feature_set_id}"

    @staticmethod
    def manifest_key(feature_set_id: str) -> str:
        """Redis key of a feature set's manifest (JSON)."""
        return f"{PREFIX}:manifest:{feature_set_id}"

    @staticmethod
    def sets_key(symbol: str, interval: str) -> str:
        """Redis key of the set of feature-set ids written for a symbol/interval."""
        from perpml.data.loading import check_symbol

        return f"{PREFIX}:sets:{check_symbol(symbol)}:{interval}"

    def _unavailable(self, exc: Exception) -> OnlineStoreUnavailableError:
        return OnlineStoreUnavailableError(
            f"Redis at {self.url} is unreachable ({type(exc).__name__}: {exc}); "
            "nothing was read or written. Start redis-server, or pass --redis-url / "
            "set PERPML_REDIS_URL to a running server."
        )

    def _call(self, func: Any, *args: Any) -> Any:
        import redis

        try:
            return func(*args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from None
        except redis.RedisError as exc:
            raise StoreError(
                f"Redis at {self.url} refused the command: {exc}"
            ) from None

    def ping(self) -> None:
        """Check the server answers (raises :class:`OnlineStoreUnavailableError`)."""
        self._call(self._redis.ping)

    # ------------------------------------------------------------------ write
    def write(
        self,
        *,
        symbol: str,
        interval: str,
        feature_set_id: str,
        window: pd.DataFrame,
    ) -> pd.Timestamp:
        """Commit the newest vector (last row of ``window``) and the window, atomically.

        Parameters
        ----------
        window : DataFrame of shape (window_rows, n_features), indexed by bar open time
            The newest rows, oldest first; its columns are the feature set's order.

        Returns
        -------
        Timestamp
            The newest bar's open time.
        """
        from perpml.data.schema import interval_to_timedelta

        if not isinstance(window, pd.DataFrame) or window.empty:
            raise StoreError("`window` must be a non-empty DataFrame of feature rows.")
        columns = [str(c) for c in window.columns]
        values = np.ascontiguousarray(window.to_numpy(dtype=np.float32), dtype=_DTYPE)
        stamps = window.index.as_unit("ns").asi8.astype("<i8")
        manifest = {
            "feature_set_id": feature_set_id,
            "columns": columns,
            "dtype": _DTYPE,
            "window_rows": int(len(window)),
        }
        mapping = {
            "ts": int(stamps[-1]),
            "interval_ns": int(interval_to_timedelta(interval).value),
            "vector": values[-1].tobytes(),
            "window": values.tobytes(),
            "window_ts": stamps.tobytes(),
            "columns_sha": columns_sha(columns),
            "written_at": time.time_ns(),
        }
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.manifest_key(feature_set_id), json.dumps(manifest))
        pipe.sadd(self.sets_key(symbol, interval), feature_set_id)
        pipe.hset(
            self.vector_key(symbol, interval, feature_set_id),
            mapping=mapping,  # type: ignore[arg-type]
        )
        self._call(pipe.execute)
        return pd.Timestamp(int(stamps[-1]), unit="ns", tz="UTC")

    # ------------------------------------------------------------------ read
    def read(
        self,
        symbol: str,
        interval: str,
        feature_set_id: str,
        columns: Sequence[str],
    ) -> OnlineVector | None:
        """The newest vector, in one round trip; ``None`` if none was written.

        Raises
        ------
        StoreError
            The stored vector was written for other columns (the feature set's
            column order is part of its id, so this means a foreign writer).
        """
        raw = self._call(
            self._redis.hmget,
            self.vector_key(symbol, interval, feature_set_id),
            list(_FIELDS),
        )
        if raw[0] is None:
            return None
        ts, interval_ns, vector, sha, written = raw
        if sha.decode() != columns_sha(columns):
            from perpml.store.errors import FeatureSetMismatchError

            raise FeatureSetMismatchError(
                f"The online vector for {symbol} {interval} feature set "
                f"{feature_set_id!r} was written with another column order than the "
                "model's. Re-run `perpml serve-features --run RUN_DIR` for this run."
            )
        values = np.frombuffer(vector, dtype=_DTYPE)
        if values.shape != (len(columns),):
            raise StoreError(
                f"The online vector has {values.size} values, the feature set "
                f"{len(columns)} columns. Re-run `perpml serve-features`."
            )
        return OnlineVector(
            timestamp=pd.Timestamp(int(ts), unit="ns", tz="UTC"),
            interval=pd.Timedelta(int(interval_ns), unit="ns"),
            values=values,
            written_at=pd.Timestamp(int(written), unit="ns", tz="UTC"),
        )

    def read_window(
        self, symbol: str, interval: str, feature_set_id: str, columns: Sequence[str]
    ) -> pd.DataFrame | None:
        """The stored rolling window (newest rows, oldest first), in one round trip."""
        raw = self._call(
            self._redis.hmget,
            self.vector_key(symbol, interval, feature_set_id),
            ["window", "window_ts", "columns_sha"],
        )
        if raw[0] is None:
            return None
        window, stamps, sha = raw
        if sha.decode() != columns_sha(columns):
            raise StoreError(
                "The online window was written with another column order. Re-run "
                "`perpml serve-features`."
            )
        index = pd.DatetimeIndex(
            np.frombuffer(stamps, dtype="<i8").astype("datetime64[ns]"),
            name="timestamp",
        ).tz_localize("UTC")
        values = np.frombuffer(window, dtype=_DTYPE).reshape(len(index), len(columns))
        return pd.DataFrame(
            values.astype(np.float32), index=index, columns=list(columns)
        )

    def feature_sets(self, symbol: str, interval: str) -> list[str]:
        """Feature-set ids that have a vector for ``symbol`` / ``interval``."""
        members = self._call(self._redis.smembers, self.sets_key(symbol, interval))
        return sorted(m.decode() for m in members)

    def manifest(self, feature_set_id: str) -> dict[str, Any] | None:
        """The feature set's manifest (columns, dtype, window rows), or ``None``."""
        raw = self._call(self._redis.get, self.manifest_key(feature_set_id))
        return None if raw is None else dict(json.loads(raw))

    def close(self) -> None:
        """Release the connection pool."""
        self._redis.close()
