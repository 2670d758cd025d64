"""``SignalService``: the run's models, loaded once, deciding on the newest vector."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.exceptions import ArtifactError
from perpml.store.errors import (
    FeatureSetMismatchError,
    SignalRefusedError,
    StaleVectorError,
)
from perpml.store.online import OnlineStore, OnlineVector
from perpml.store.run_spec import ServingRun

__all__ = ["SIGNAL_NAMES", "STALE_GRACE", "SignalService"]

#: Allowance after a bar closes for the writer to compute and commit its vector: a
#: vector is stale once it is older than one bar plus this.
STALE_GRACE = pd.Timedelta(seconds=10)
#: Class code -> name of :meth:`EnsembleModel.get_trading_decision`'s ``signal``.
SIGNAL_NAMES = {0: "SHORT", 1: "NEUTRAL", 2: "LONG"}


class SignalService:
    """Trading decisions for the newest online feature vector of a symbol.

    Loads the run's stacking ensemble and training-split scaler once; each
    :meth:`decide` is one Redis round trip plus one ensemble prediction.

    Parameters
    ----------
    run_dir : path
        A run directory from ``perpml run`` (with ``models/ensemble``).
    redis_url : str, optional
        Default ``$PERPML_REDIS_URL`` or ``redis://127.0.0.1:6379/0``.
    max_age : Timedelta, optional
        Oldest acceptable vector, measured from its bar's close; default one bar
        plus :data:`STALE_GRACE` (the next bar's vector may take a moment to write).
    clock : callable, optional
        Returns "now" in nanoseconds since the epoch (default ``time.time_ns``).
    """

    def __init__(
        self,
        run_dir: str | Path,
        redis_url: str | None = None,
        *,
        max_age: pd.Timedelta | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        from perpml.data.schema import interval_to_timedelta
        from perpml.evaluation.preprocessing import FeatureScaler
        from perpml.models.ensemble import EnsembleModel

        self.run = ServingRun.from_run_dir(run_dir)
        models = self.run.run_dir / "models"
        if not (models / "ensemble").is_dir():
            raise ArtifactError(
                f"{models / 'ensemble'} is missing: the run saved no stacking "
                "ensemble. Re-run `perpml run` without skipping the ensemble."
            )
        self.ensemble = EnsembleModel.load(models / "ensemble")
        _single_threaded(self.ensemble)
        self.scaler = FeatureScaler.load(models / "scaler.json")
        if list(self.ensemble.feature_names_in_) != self.run.features:
            raise ArtifactError(
                f"The ensemble in {models} reads other features than run.json lists. "
                "The run directory is inconsistent; re-run `perpml run`."
            )
        self.online = OnlineStore(redis_url)
        self.interval = interval_to_timedelta(self.run.interval)
        self.max_age = (
            self.interval + STALE_GRACE if max_age is None else pd.Timedelta(max_age)
        )
        self.clock = clock or time.time_ns
        self._columns = pd.Index(self.run.features)  # built once, not per decision

    def read_vector(self, symbol: str) -> OnlineVector:
        """The newest vector of ``symbol`` for this run's feature set, checked.

        Raises
        ------
        FeatureSetMismatchError
            Redis holds vectors for ``symbol`` only under other feature sets.
        SignalRefusedError
            No vector at all, or NaN features.
        StaleVectorError
            The vector's bar closed more than ``max_age`` ago.
        OnlineStoreUnavailableError
            Redis is unreachable.
        """
        run = self.run
        vector = self.online.read(
            symbol, run.interval, run.feature_set_id, run.features
        )
        if vector is None:
            others = self.online.feature_sets(symbol, run.interval)
            if others:
                raise FeatureSetMismatchError(
                    f"Redis holds {symbol} {run.interval} vectors of feature set(s) "
                    f"{others}, but the model in {run.run_dir} reads feature set "
                    f"{run.feature_set_id!r}. Run `perpml serve-features --symbol "
                    f"{symbol} --run {run.run_dir}` to serve this model's features."
                )
            raise SignalRefusedError(
                f"No {symbol} {run.interval} feature vector in Redis at "
                f"{self.online.url} for feature set {run.feature_set_id!r}. Run "
                f"`perpml serve-features --symbol {symbol} --run {run.run_dir}` first."
            )
        age = pd.Timedelta(self.clock() - vector.close_time.value, unit="ns")
        if age > self.max_age:
            raise StaleVectorError(
                f"The newest {symbol} vector is for the bar opened "
                f"{vector.timestamp.isoformat()}, which closed {age} ago: older than "
                f"one bar (allowed: {self.max_age}). Is `perpml serve-features --symbol "
                f"{symbol} --run {run.run_dir}` running?"
            )
        missing = np.flatnonzero(np.isnan(vector.values))
        if missing.size:
            names = [run.features[j] for j in missing[:5]]
            raise SignalRefusedError(
                f"The newest {symbol} vector ({vector.timestamp.isoformat()}) has "
                f"{missing.size} NaN feature(s), e.g. {names}: the source has too "
                "little history (warm-up) or lacks an input. The models were trained "
                "on complete rows; serve from a source with more history."
            )
        return vector

    def decide(self, symbol: str) -> dict[str, Any]:
        """The ensemble's decision for the newest online vector of ``symbol``.

        Returns
        -------
        dict
            :meth:`EnsembleModel.get_trading_decision` of the one-row frame:
            ``signal`` (int64 array, 0 SHORT / 1 NEUTRAL / 2 LONG), ``confidence``
            and ``target`` (float64 arrays), plus ``timestamp`` (the bar's open time,
            UTC) and ``feature_set_id``.
        """
        vector = self.read_vector(symbol)
        X = pd.DataFrame(
            vector.values[None, :],
            index=pd.DatetimeIndex([vector.timestamp], name="timestamp"),
            columns=self._columns,
        )
        decision: dict[str, Any] = dict(
            self.ensemble.get_trading_decision(self.scaler.transform(X))
        )
        decision["timestamp"] = vector.timestamp
        decision["feature_set_id"] = self.run.feature_set_id
        return decision


def _single_threaded(ensemble: Any) -> None:
    """Predict one row per call on one thread.

    Fanning one row out to a thread pool costs more than it saves, and on a shared
    machine each parallel region waits for a busy core (measured: p99 halves).
    ``n_jobs`` is a constructor parameter read at predict time; the fitted models
    are unchanged.
    """
    for kind in ("classifiers_", "regressors_"):
        for model in getattr(ensemble, kind, {}).values():
            model.set_params(n_jobs=1)
