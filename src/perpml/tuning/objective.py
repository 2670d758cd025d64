"""The tuning objective: purged folds of the training period, never the test period.

A trial trains the model on each fold's *fit* rows, early-stops it on the fold's
*early-stopping* rows and scores it on the fold's *score* rows. All three lie before
the test period; the test period is not even passed in. Two fold plans, both built
with :mod:`perpml.evaluation.splits`:

``"walk_forward"``
    :class:`~perpml.evaluation.splits.PurgedWalkForward` over the rows given (the
    training + validation periods of a run): each fold scores on its test block,
    trains on the purged rows before it, and early-stops on the purged tail of those
    (:func:`~perpml.evaluation.splits.purged_tail_split`).
``"holdout"``
    Scores on the purged validation period only; training rows whose labels end at
    or after ``val_start - embargo`` are purged and the early-stopping set is the
    purged tail of the training period (so the score rows are seen neither by the fit
    nor by early stopping).

Pruning: after fold ``k`` the trial reports the mean score of folds ``0..k`` as step
``k`` and the pruner (median or successive halving) may stop it there. With a single
fold (``"holdout"``) there is nothing to prune on and every trial runs to the end;
early stopping keeps it cheap.

Scores (higher is better; ``neg_*`` are negated losses):

==================  ===================================================================
classifier
``combined``        ``w * accuracy + (1 - w) * directional_accuracy`` with
                    ``w = accuracy_weight`` (default 0.7, the seed's 70/30); a model
                    that never calls a direction gets 0 directional credit
``accuracy``        share of right SHORT/NEUTRAL/LONG calls
``directional``     directional accuracy only
``neg_log_loss``    minus the multi-class log loss of ``predict_proba``
regressor
``combined``        ``0.7 * directional_accuracy + 0.3 * (1 + pearson_ic) / 2``: both
                    parts are 0.5 for no skill and 1 for perfect; the IC part rewards
                    getting the size of moves right, not only the sign
``directional``     directional accuracy (sign of the forecast vs the realised return)
``ic``              Pearson information coefficient
``neg_rmse``        minus the RMSE
==================  ===================================================================
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from perpml.exceptions import ConfigError, InsufficientDataError, LeakageError
from perpml.tuning.spaces import ModelSpec

if TYPE_CHECKING:
    import optuna

__all__ = [
    "CLASSIFIER_SCORES",
    "REGRESSOR_SCORES",
    "Fold",
    "PurgedObjective",
    "holdout_folds",
    "score_predictions",
    "walk_forward_folds",
]

CLASSIFIER_SCORES = ("combined", "accuracy", "directional", "neg_log_loss")
REGRESSOR_SCORES = ("combined", "directional", "ic", "neg_rmse")
CvName = Literal["walk_forward", "holdout"]


@dataclass(frozen=True)
class Fold:
    """Positional rows of one tuning fold (into the X the objective holds).

    ``fit`` < ``early_stop`` < ``score`` in time, each purged against the next.
    """

    fit: np.ndarray
    early_stop: np.ndarray
    score: np.ndarray


def walk_forward_folds(
    label_end: pd.Series,
    *,
    n_splits: int = 3,
    embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
    early_stop_fraction: float = 0.15,
) -> list[Fold]:
    """Purged walk-forward folds over the rows of ``label_end``.

    Parameters
    ----------
    label_end : Series of shape (n_rows,), datetime UTC
        When each row's label is known, indexed by bar open time (the rows to tune
        on: training and validation periods, never the test period).
    n_splits : int, default 3
    embargo : Timedelta
        The run's embargo (purge gap on both sides of every score block).
    early_stop_fraction : float, default 0.15
        Share of each fold's training rows kept back (its purged tail) for early
        stopping.
    """
    from perpml.evaluation.splits import PurgedWalkForward, purged_tail_split

    splitter = PurgedWalkForward(
        n_splits, label_end=label_end, embargo=embargo, min_train_size=50
    )
    folds = []
    dummy = pd.DataFrame(index=label_end.index)
    for train, test in splitter.split(dummy):
        fit, stop = purged_tail_split(
            train, label_end, fraction=early_stop_fraction, embargo=embargo
        )
        folds.append(Fold(fit=fit, early_stop=stop, score=test))
    return folds


def holdout_folds(
    label_end: pd.Series,
    n_train: int,
    *,
    embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
    early_stop_fraction: float = 0.15,
) -> list[Fold]:
    """One fold scoring on the rows after the first ``n_train`` (the validation period).

    Training rows whose label ends at or after ``val_start - embargo`` are purged
    (the rule of :mod:`perpml.evaluation.splits`), then the purged tail of the rest
    is the early-stopping set.
    """
    from perpml.evaluation.splits import purged_tail_split

    n = len(label_end)
    if not 0 < n_train < n:
        raise InsufficientDataError(
            f"Holdout tuning needs training and validation rows, got {n_train} "
            f"training of {n} rows. Pass a non-empty X_val (or use cv='walk_forward')."
        )
    val_start = label_end.index[n_train]
    ends = label_end.iloc[:n_train]
    keep = ends.notna().to_numpy() & (ends < val_start - embargo).to_numpy()
    train = np.flatnonzero(keep)
    if train.size < 50:
        raise InsufficientDataError(
            f"Holdout tuning keeps {train.size} training rows after purging against "
            "the validation period (need >= 50). Use more data or a shorter "
            "horizon/embargo."
        )
    fit, stop = purged_tail_split(
        train, label_end, fraction=early_stop_fraction, embargo=embargo
    )
    return [Fold(fit=fit, early_stop=stop, score=np.arange(n_train, n))]


def score_predictions(
    task: str,
    y_true: np.ndarray,
    prediction: np.ndarray,
    *,
    score: str = "combined",
    accuracy_weight: float = 0.7,
) -> float:
    """One fold's score (higher is better; see the module docstring).

    Parameters
    ----------
    task : {"classification", "regression"}
    y_true : ndarray of shape (n_rows,)
        Class codes (0, 1, 2) or realised returns.
    prediction : ndarray
        Classifiers: probabilities of shape (n_rows, 3); regressors: forecasts of
        shape (n_rows,).
    """
    from perpml.evaluation.metrics import classification_metrics, regression_metrics

    if task == "classification":
        proba = np.asarray(prediction, dtype=float)
        pred = proba.argmax(axis=1)
        if score == "neg_log_loss":
            return -float(classification_metrics(y_true, pred, proba)["log_loss"])
        m = classification_metrics(y_true, pred)
        direction = m["directional_accuracy"]
        direction = 0.0 if math.isnan(direction) else direction
        if score == "accuracy":
            return float(m["accuracy"])
        if score == "directional":
            return float(direction)
        return float(
            accuracy_weight * m["accuracy"] + (1 - accuracy_weight) * direction
        )
    r = regression_metrics(y_true, np.asarray(prediction, dtype=float))
    ic = 0.0 if math.isnan(r["pearson_ic"]) else r["pearson_ic"]
    if score == "directional":
        return float(r["directional_accuracy"])
    if score == "ic":
        return float(ic)
    if score == "neg_rmse":
        return -float(r["rmse"])
    return float(0.7 * r["directional_accuracy"] + 0.3 * (1 + ic) / 2)


def check_score(task: str, score: str, accuracy_weight: float) -> None:
    """Raise :class:`ConfigError` for a score name that does not fit the task."""
    valid = CLASSIFIER_SCORES if task == "classification" else REGRESSOR_SCORES
    if score not in valid:
        raise ConfigError(
            f"Score {score!r} is not available for a {task} model; valid: "
            f"{list(valid)}. Pass one of them to --score."
        )
    if not 0.0 <= accuracy_weight <= 1.0:
        raise ConfigError(
            f"`accuracy_weight` must be in [0, 1], got {accuracy_weight!r}. Pass e.g. "
            "0.7 (--accuracy-weight)."
        )


class PurgedObjective:
    """Optuna objective: mean score of a model over purged folds.

    Parameters
    ----------
    spec : ModelSpec
        Model and search space.
    X : DataFrame of shape (n_rows, n_features), indexed by bar open time (UTC)
        Training (+ validation) rows only, unscaled; no test rows.
    y : Series of shape (n_rows,)
        Class codes (classifiers) or forward returns (regressors), aligned to X.
    folds : sequence of Fold
        From :func:`walk_forward_folds` or :func:`holdout_folds`.
    score : str, default "combined"
    accuracy_weight : float, default 0.7
    scaler : {"standard", "robust", "minmax", "none"}, default "standard"
        Fitted on each fold's fit rows (as the pipeline fits it on the training
        split).
    random_state, n_jobs : int
        Passed to every model.
    test_start : Timestamp, optional
        Start of the run's test period; a fold row at or after it raises
        :class:`~perpml.exceptions.LeakageError` (a guard, not a filter).

    Attributes
    ----------
    seen_index_ : list of DatetimeIndex
        Every index the objective trained or scored on (for audits and tests).
    """

    def __init__(
        self,
        spec: ModelSpec,
        X: pd.DataFrame,
        y: pd.Series,
        folds: Sequence[Fold],
        *,
        score: str = "combined",
        accuracy_weight: float = 0.7,
        scaler: str = "standard",
        random_state: int = 42,
        n_jobs: int = 2,
        test_start: pd.Timestamp | None = None,
    ) -> None:
        from perpml.evaluation.preprocessing import FeatureScaler

        check_score(spec.task, score, accuracy_weight)
        if len(X) != len(y):
            raise ConfigError(
                f"X has {len(X)} rows but y has {len(y)}; pass aligned X and y."
            )
        if not folds:
            raise InsufficientDataError("No tuning folds; use more data.")
        self.spec = spec
        self.score = score
        self.accuracy_weight = accuracy_weight
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.seen_index_: list[pd.Index] = []
        self._folds: list[tuple[Any, ...]] = []
        for fold in folds:
            rows = np.concatenate([fold.fit, fold.early_stop, fold.score])
            if test_start is not None and (X.index[rows] >= test_start).any():
                raise LeakageError(
                    f"A tuning fold reaches the test period (starts {test_start}). "
                    "Pass only training and validation rows to the tuner."
                )
            # The scaler does not depend on the trial: fit it once per fold.
            fitted = FeatureScaler(kind=scaler).fit(X.iloc[fold.fit])  # type: ignore[arg-type]
            self._folds.append(
                tuple(
                    (fitted.transform(X.iloc[idx]), y.iloc[idx])
                    for idx in (fold.fit, fold.early_stop, fold.score)
                )
            )

    @property
    def n_folds(self) -> int:
        """Number of folds (= pruning steps)."""
        return len(self._folds)

    def fold_score(self, params: dict[str, Any], k: int) -> float:
        """Train on fold ``k`` with ``params`` and return its score."""
        (Xf, yf), (Xe, ye), (Xs, ys) = self._folds[k]
        model = self.spec.model_class()(
            params=params, random_state=self.random_state, n_jobs=self.n_jobs
        )
        self.seen_index_ += [Xf.index, Xe.index, Xs.index]
        model.train(Xf, yf, Xe, ye)
        if self.spec.task == "classification":
            prediction = np.asarray(model.predict_proba(Xs))
        else:
            prediction = np.asarray(model.predict(Xs), dtype=float).reshape(-1)
        return score_predictions(
            self.spec.task,
            ys.to_numpy(),
            prediction,
            score=self.score,
            accuracy_weight=self.accuracy_weight,
        )

    def __call__(self, trial: optuna.trial.Trial) -> float:
        """Score one trial; may raise ``optuna.TrialPruned`` after a fold."""
        import optuna

        params = self.spec.suggest(trial)
        # Which worker ran the trial: visible in the dashboard / trials table.
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        scores: list[float] = []
        for k in range(self.n_folds):
            scores.append(self.fold_score(params, k))
            running = float(np.mean(scores))
            if self.n_folds > 1:
                trial.report(running, k)
                if k < self.n_folds - 1 and trial.should_prune():
                    raise optuna.TrialPruned()
        trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))
