"""Walk-forward validation: refit a fresh model per fold on purged past data only.

Per fold (see :class:`~perpml.evaluation.splits.PurgedWalkForward`):

1. ``sklearn.base.clone(model)`` — no state carries over from an earlier fold;
2. fit the scaler on the fold's **training rows only**;
3. models with ``train(X_train, y_train, X_val=None, y_val=None)`` (every
   :class:`perpml.models.BaseModel`) get the purged **tail of the training period** as
   their early-stopping set; plain scikit-learn estimators get ``fit(X, y)``;
4. predict the test fold, which the model, scaler and early stopping never saw;
5. score with :func:`classification_metrics` / :func:`regression_metrics`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier

from perpml.evaluation.metrics import (
    CLASS_LABELS,
    CLASS_NAMES,
    classification_metrics,
    regression_metrics,
)
from perpml.evaluation.preprocessing import make_scaler
from perpml.evaluation.splits import (
    PurgedWalkForward,
    label_end_from_index,
    purged_tail_split,
)
from perpml.exceptions import ConfigError, InsufficientDataError, NotFittedError

__all__ = ["WalkForwardValidator"]

#: Metrics shown by :meth:`WalkForwardValidator.format_summary`, in order.
_HEADLINE = {
    "classification": (
        "accuracy",
        "directional_accuracy",
        "directional_coverage",
        "balanced_accuracy",
        "f1_macro",
        "log_loss",
        "roc_auc_ovr",
    ),
    "regression": (
        "rmse",
        "mae",
        "r2",
        "directional_accuracy",
        "pearson_ic",
        "spearman_ic",
    ),
}
_PROBA_COLUMNS = tuple(f"p_{name.lower()}" for name in CLASS_NAMES)


def _task_of(model: Any) -> Literal["classification", "regression"]:
    task = getattr(model, "task", None)
    if task in ("classification", "regression"):
        return task
    return "classification" if is_classifier(model) else "regression"


def _accepts_validation(model: Any) -> bool:
    train = getattr(model, "train", None)
    if not callable(train):
        return False
    try:
        params = inspect.signature(train).parameters
    except (TypeError, ValueError):
        return False
    return "X_val" in params and "y_val" in params


def _proba_3(model: Any, X: pd.DataFrame) -> np.ndarray | None:
    """Class probabilities as (n, 3) in SHORT/NEUTRAL/LONG order, or None."""
    if not hasattr(model, "predict_proba"):
        return None
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(model, "classes_", CLASS_LABELS)).astype(np.int64)
    if proba.shape[1] == len(CLASS_LABELS) and np.array_equal(classes, CLASS_LABELS):
        return proba
    # A fold whose training labels lack a class: sklearn estimators drop that column.
    out = np.zeros((len(X), len(CLASS_LABELS)))
    for j, label in enumerate(classes):
        if label not in CLASS_LABELS:
            raise ConfigError(
                f"Model classes_ {classes.tolist()} are not class codes "
                f"{CLASS_LABELS}. Encode labels as 0 SHORT, 1 NEUTRAL, 2 LONG."
            )
        out[:, CLASS_LABELS.index(int(label))] = proba[:, j]
    return out


class WalkForwardValidator:
    """Purged walk-forward cross-validation of a model (the seed's validator).

    Parameters
    ----------
    n_splits : int, default 5
        Number of consecutive test folds.
    horizon : int, default 12
        Label horizon in bars; used only to derive ``label_end`` when ``validate`` is
        not given one.
    embargo : Timedelta, optional
        Extra gap between training labels and each test period (default 0).
    window : {"expanding", "rolling"}, default "expanding"
    scaler : {"standard", "robust", "minmax", "none"}, default "standard"
        Fitted per fold on that fold's training rows.
    early_stopping_fraction : float, default 0.15
        Share of each training fold (its purged tail) used as the early-stopping set
        for models whose ``train`` accepts ``X_val``/``y_val``; 0 disables it.
    train_size, test_size : int, optional
        Passed to :class:`~perpml.evaluation.splits.PurgedWalkForward`.

    Attributes
    ----------
    results_ : DataFrame
        The fold table returned by :meth:`validate`.
    summary_ : DataFrame
        Index = metric, columns ``mean``, ``std`` (across folds, ddof=1), ``n_folds``.
    oof_predictions_ : DataFrame
        Out-of-fold predictions indexed by bar open time (test rows of every fold):
        ``fold``, ``y_true``, ``y_pred`` and, for classifiers with ``predict_proba``,
        ``p_short``, ``p_neutral``, ``p_long``.
    task_ : str
        ``"classification"`` or ``"regression"``.

    .. warning::
       Look-ahead. Pass the ``label_end`` of ``make_targets`` when you have it; the
       fallback derived from the index assumes labels end ``horizon`` rows later and
       is only right if ``horizon`` matches the labels. Feature selection done on the
       full history before calling ``validate`` leaks the test folds into every fold.

    Examples
    --------
    >>> validator = WalkForwardValidator(n_splits=5)  # doctest: +SKIP
    >>> results_df = validator.validate(model, X, y)  # doctest: +SKIP
    >>> print(validator.format_summary())  # doctest: +SKIP
    Mean accuracy: 0.512 ± 0.021
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        horizon: int = 12,
        embargo: pd.Timedelta | None = None,
        window: Literal["expanding", "rolling"] = "expanding",
        scaler: str = "standard",
        early_stopping_fraction: float = 0.15,
        train_size: int | None = None,
        test_size: int | None = None,
    ) -> None:
        self.n_splits = n_splits
        self.horizon = horizon
        self.embargo = embargo
        self.window = window
        self.scaler = scaler
        self.early_stopping_fraction = early_stopping_fraction
        self.train_size = train_size
        self.test_size = test_size

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, X: Any, y: Any) -> pd.Series:
        if not isinstance(X, pd.DataFrame) or not isinstance(X.index, pd.DatetimeIndex):
            raise ConfigError(
                "validate: X must be a DataFrame indexed by bar open time (UTC "
                f"DatetimeIndex), got {type(X).__name__}. Pass the feature frame."
            )
        if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
            y = y.iloc[:, 0]
        if not isinstance(y, pd.Series):
            if len(y) != len(X):
                raise ConfigError(
                    f"validate: y has {len(y)} rows, X has {len(X)}. Pass y indexed "
                    "like X."
                )
            y = pd.Series(np.asarray(y), index=X.index)
        if not y.index.equals(X.index):
            raise ConfigError(
                "validate: y must be indexed exactly like X. Align with "
                "`y = y.reindex(X.index)` and drop unlabelled rows "
                "(perpml.evaluation.drop_incomplete_rows)."
            )
        if y.isna().any():
            raise ConfigError(
                f"validate: y holds {int(y.isna().sum())} NaN label(s), first at "
                f"{y.index[y.isna().to_numpy()][0]}. Drop unlabelled rows first "
                "(perpml.evaluation.drop_incomplete_rows)."
            )
        f = self.early_stopping_fraction
        if not isinstance(f, float | int) or not 0 <= f < 1:
            raise ConfigError(
                f"`early_stopping_fraction` must be in [0, 1), got {f!r}. Use 0 to "
                "disable early stopping."
            )
        return y

    # -------------------------------------------------------------- validate
    def validate(
        self,
        model: Any,
        X: pd.DataFrame,
        y: pd.Series,
        label_end: pd.Series | None = None,
    ) -> pd.DataFrame:
        """Run purged walk-forward validation of ``model`` on ``(X, y)``.

        Parameters
        ----------
        model : estimator
            A :class:`perpml.models.BaseModel` or any scikit-learn estimator; cloned
            per fold and never fitted itself.
        X : DataFrame of shape (n_bars, n_features), indexed by bar open time (UTC)
            Sorted ascending, unique timestamps, rows with complete features.
        y : Series of shape (n_bars,), indexed like X
            Class codes (0 SHORT, 1 NEUTRAL, 2 LONG) or forward returns; no NaN.
        label_end : Series of shape (n_bars,), datetime UTC, optional
            When each label becomes known (``make_targets(...)["label_end"]``). If
            None it is derived conservatively from the index with ``horizon``
            (:func:`~perpml.evaluation.splits.label_end_from_index`).

        Returns
        -------
        DataFrame
            One row per fold: ``fold, train_start, train_end, test_start, test_end,
            n_train, n_test, n_purged, n_fit, n_early_stop`` followed by the metrics.
            ``attrs["summary"]`` holds :attr:`summary_`.
        """
        y = self._check_inputs(X, y)
        task = _task_of(model)
        if task == "classification":
            if not np.all(np.mod(y.to_numpy(np.float64), 1) == 0):
                raise ConfigError(
                    "validate: a classifier needs integer class codes in y, got "
                    "non-integer values. Pass targets['target_class'] or use a "
                    "regressor."
                )
            y = y.astype(np.int64)
        embargo = pd.Timedelta(0) if self.embargo is None else self.embargo
        if label_end is None:
            label_end = label_end_from_index(X.index, self.horizon)
        splitter = PurgedWalkForward(
            self.n_splits,
            label_end=label_end,
            embargo=embargo,
            window=self.window,
            train_size=self.train_size,
            test_size=self.test_size,
        )
        make_scaler(self.scaler)  # validate before the first (slow) fit
        use_val = self.early_stopping_fraction > 0 and _accepts_validation(model)

        rows: list[dict[str, Any]] = []
        oof: list[pd.DataFrame] = []
        for fold, (train, test) in enumerate(splitter.split(X)):
            info = dict(splitter.last_split_info_[fold])
            scaler = make_scaler(self.scaler).fit(X.iloc[train])
            X_test = scaler.transform(X.iloc[test])
            est = clone(model)
            if use_val:
                fit_idx, stop_idx = self._tail(train, label_end, embargo)
                est.train(
                    scaler.transform(X.iloc[fit_idx]),
                    y.iloc[fit_idx],
                    X_val=scaler.transform(X.iloc[stop_idx]),
                    y_val=y.iloc[stop_idx],
                )
                info["n_fit"], info["n_early_stop"] = len(fit_idx), len(stop_idx)
            else:
                est.fit(scaler.transform(X.iloc[train]), y.iloc[train])
                info["n_fit"], info["n_early_stop"] = len(train), 0
            y_true = y.iloc[test]
            y_pred = np.asarray(est.predict(X_test)).reshape(-1)
            frame = pd.DataFrame(
                {"fold": fold, "y_true": y_true.to_numpy(), "y_pred": y_pred},
                index=X_test.index,
            )
            if task == "classification":
                proba = _proba_3(est, X_test)
                metrics = classification_metrics(y_true, y_pred.astype(np.int64), proba)
                if proba is not None:
                    for j, col in enumerate(_PROBA_COLUMNS):
                        frame[col] = proba[:, j]
            else:
                metrics = regression_metrics(y_true, y_pred.astype(np.float64))
            rows.append({**info, **metrics})
            oof.append(frame)

        results = pd.DataFrame(rows)
        self.task_ = task
        self.results_ = results
        self.oof_predictions_ = pd.concat(oof)
        self.summary_ = self._summarise(results)
        results.attrs["summary"] = self.summary_
        return results

    def _tail(
        self, train: np.ndarray, label_end: pd.Series, embargo: pd.Timedelta
    ) -> tuple[np.ndarray, np.ndarray]:
        try:
            return purged_tail_split(
                train, label_end, fraction=self.early_stopping_fraction, embargo=embargo
            )
        except InsufficientDataError as exc:
            raise InsufficientDataError(
                f"validate: cannot carve an early-stopping tail from a training fold of "
                f"{len(train)} rows ({exc}). Use more data or early_stopping_fraction=0."
            ) from None

    @staticmethod
    def _summarise(results: pd.DataFrame) -> pd.DataFrame:
        skip = {"fold", "n_train", "n_test", "n_purged", "n_fit", "n_early_stop", "n"}
        cols = [
            c
            for c in results.columns
            if c not in skip and pd.api.types.is_float_dtype(results[c])
        ]
        table = results[cols].agg(["mean", "std"]).T
        table["n_folds"] = results[cols].notna().sum().astype(np.int64)
        table.index.name = "metric"
        return table

    # --------------------------------------------------------------- summary
    def summary(self) -> pd.DataFrame:
        """Mean and std of every metric across folds (after :meth:`validate`)."""
        if not hasattr(self, "summary_"):
            raise NotFittedError(
                "WalkForwardValidator.summary: call validate(model, X, y) first."
            )
        return self.summary_

    def format_summary(self) -> str:
        """Human-readable summary, e.g. ``Mean accuracy: 0.512 ± 0.021``."""
        table = self.summary()
        lines = [
            f"Walk-forward ({len(self.results_)} folds, {self.window} window, "
            f"{int(self.results_['n_test'].sum())} test rows):"
        ]
        for metric in _HEADLINE[self.task_]:
            if metric not in table.index:
                continue
            mean, std = table.loc[metric, "mean"], table.loc[metric, "std"]
            if math.isnan(mean):
                lines.append(f"Mean {metric}: n/a")
            else:
                std_text = "n/a" if math.isnan(std) else f"{std:.3f}"
                lines.append(f"Mean {metric}: {mean:.3f} ± {std_text}")
        return "\n".join(lines)
