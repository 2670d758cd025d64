"""Run one tuning worker on a (possibly shared) study.

:func:`run_study` creates the study or joins it (same name, same storage), then
runs trials until the study holds ``n_trials`` scored trials (COMPLETE or PRUNED)
across **all** workers — Optuna's ``MaxTrialsCallback`` stops every worker once the
total is reached — or until ``timeout``. ``n_trials`` is therefore the study's
target, not this worker's share: re-running a stopped worker with the same study name
continues the study up to the target instead of starting over.

Sampler: TPE with ``seed + number of trials already in the study``: a lone worker
is reproducible, and a worker joining a running study does not replay the first
worker's random start-up draws. ``constant_liar`` keeps concurrent workers from
proposing the same point.

The trial count the backtest's Deflated Sharpe Ratio needs is read from the study
when the worker ends (:attr:`TuningResult.n_trials`: every scored trial of every
worker), never from a config value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from perpml.exceptions import ConfigError, PerpmlError
from perpml.tuning.spaces import ModelSpec, params_from_trial_params
from perpml.tuning.storage import fail_stale_trials, open_storage, storage_kind

if TYPE_CHECKING:
    import optuna

__all__ = ["TuningResult", "make_pruner", "run_study", "study_counts"]

PrunerName = Literal["median", "halving", "none"]
TrialCallback = Callable[["optuna.Study", "optuna.trial.FrozenTrial"], None]


@dataclass(frozen=True)
class TuningResult:
    """Outcome of a tuning worker (counts are over the whole study).

    Attributes
    ----------
    model : str
    best_params : dict
        Model ``params`` of the best trial (plugs into the model class).
    best_score : float
    study : optuna.Study
    n_trials : int
        Scored trials in the study (COMPLETE + PRUNED, all workers): the number of
        configurations tried, for the Deflated Sharpe Ratio.
    n_complete, n_pruned, n_failed, n_running : int
    n_run_here : int
        Trials this worker ran.
    seconds : float
        Wall time of this worker.
    """

    model: str
    best_params: dict[str, Any]
    best_score: float
    study: Any = field(repr=False)
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    n_run_here: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The seed's result dict: ``best_params``, ``best_score``, ``study`` + counts."""
        return {
            "best_params": self.best_params,
            "best_score": self.best_score,
            "study": self.study,
            "model": self.model,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
            "seconds": self.seconds,
        }


def make_pruner(name: str, *, n_startup_trials: int = 5) -> optuna.pruners.BasePruner:
    """``"median"`` (default), ``"halving"`` (successive halving) or ``"none"``."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(
        f"Unknown pruner {name!r}; valid: ['median', 'halving', 'none']. Fix --pruner."
    )


def study_counts(study: optuna.Study) -> dict[str, int]:
    """Trials of the study by state: complete, pruned, failed, running."""
    from optuna.trial import TrialState

    counts = {"complete": 0, "pruned": 0, "failed": 0, "running": 0}
    names = {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "running",
    }
    for trial in study.get_trials(deepcopy=False):
        counts[names[trial.state]] += 1
    return counts


def run_study(
    objective: Callable[[optuna.trial.Trial], float],
    spec: ModelSpec,
    *,
    n_trials: int = 100,
    storage: str | Path | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    seed: int = 42,
    pruner: str = "median",
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    callbacks: Sequence[TrialCallback] = (),
) -> TuningResult:
    """Create or join a study and run trials until it holds ``n_trials``.

    Parameters
    ----------
    objective : callable
        ``objective(trial) -> float`` to maximise (e.g. a
        :class:`~perpml.tuning.objective.PurgedObjective`).
    spec : ModelSpec
        Model being tuned (turns the best trial into model ``params``).
    n_trials : int, default 100
        Target number of scored trials in the study across all workers.
    storage : str, Path or None
        See :func:`perpml.tuning.storage.open_storage`.
    study_name : str, optional
        Default ``perpml-<model>``. Same name + same storage = same study.
    timeout : float, optional
        Seconds after which this worker starts no new trial.
    seed : int, default 42
        TPE seed (offset by the trials already in the study).
    pruner : {"median", "halving", "none"}
    heartbeat_interval, grace_period : int
        Heartbeat of database storages.
    callbacks : sequence of callable
        Called as ``callback(study, frozen_trial)`` after each trial (progress).

    Raises
    ------
    ConfigError
        Bad ``n_trials``/``timeout``, a study of that name optimising the other
        direction, or an unusable storage.
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise ConfigError(f"--n-trials must be a positive integer, got {n_trials!r}.")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be > 0 seconds, got {timeout!r}.")
    name = study_name or f"perpml-{spec.name}"
    store = open_storage(
        storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period
    )
    start = time.perf_counter()
    try:
        study = optuna.create_study(
            storage=store,
            study_name=name,
            direction="maximize",
            load_if_exists=True,
            pruner=make_pruner(pruner),
        )
    except ValueError as exc:
        raise ConfigError(
            f"Cannot use study {name!r}: {exc}. Pass another --study-name."
        ) from None
    if study.user_attrs.get("perpml_model", spec.name) != spec.name:
        raise ConfigError(
            f"Study {name!r} tunes {study.user_attrs['perpml_model']!r}, not "
            f"{spec.name!r}. Pass another --study-name."
        )
    study.set_user_attr("perpml_model", spec.name)
    fail_stale_trials(study)
    existing = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(
        seed=seed + existing, constant_liar=storage_kind(storage) != "memory"
    )
    scored = (TrialState.COMPLETE, TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=scored))
    ran: list[int] = []

    def count(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        ran.append(trial.number)

    if done < n_trials:
        study.optimize(
            objective,
            n_trials=n_trials - done,
            timeout=timeout,
            # Library errors from an odd parameter combination fail that trial only.
            catch=(PerpmlError,),
            callbacks=[MaxTrialsCallback(n_trials, states=scored), count, *callbacks],
            gc_after_trial=False,
        )
    fail_stale_trials(study)
    counts = study_counts(study)
    if counts["complete"] == 0:
        raise ConfigError(
            f"Study {name!r} has no complete trial ({counts['pruned']} pruned, "
            f"{counts['failed']} failed). Check the data, or raise --n-trials / "
            "--timeout."
        )
    best = study.best_trial
    return TuningResult(
        model=spec.name,
        best_params=params_from_trial_params(spec, best.params),
        best_score=float(best.value),  # type: ignore[arg-type]
        study=study,
        n_trials=counts["complete"] + counts["pruned"],
        n_complete=counts["complete"],
        n_pruned=counts["pruned"],
        n_failed=counts["failed"],
        n_running=counts["running"],
        n_run_here=len(ran),
        seconds=time.perf_counter() - start,
    )
