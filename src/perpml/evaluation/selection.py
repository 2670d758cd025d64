"""Feature selection fitted on training rows only.

Choosing features with the labels of the test period is look-ahead: the selected set
then encodes which features happened to work *in the test period*. Every selector here
takes only the data it is fitted on; pass the training rows (inside walk-forward: each
fold's training rows) and apply ``transform`` / the returned names to later rows.

* :class:`CorrelationFilter` — drops the later column of every highly correlated pair
  (and constant columns); needs no labels.
* :class:`ImportanceSelector` — keeps the ``n_features`` most important columns by
  ``"tree"`` (LightGBM gain), ``"permutation"`` (on a purged tail of the training
  rows), ``"shap"`` (mean |SHAP| from LightGBM's native TreeSHAP) or ``"correlation"``
  (|Spearman correlation| with the target).
* :func:`select_features` — the two in sequence, returning names.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from perpml.evaluation import fit_scope
from perpml.evaluation.splits import purged_tail_split
from perpml.exceptions import ConfigError, InsufficientDataError

__all__ = ["CorrelationFilter", "ImportanceSelector", "select_features"]

SelectionMethod = Literal["tree", "permutation", "shap", "correlation"]
_METHODS = ("tree", "permutation", "shap", "correlation")
#: Rows used by the SHAP ranking (evenly spaced over the training period): enough for a
#: stable mean |SHAP| at a fraction of the cost.
_SHAP_ROWS = 2000


def _check_X(X: Any, where: str) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise ConfigError(
            f"{where}: X must be a DataFrame with named feature columns, got "
            f"{type(X).__name__}."
        )
    if X.shape[1] == 0 or len(X) < 2:
        raise InsufficientDataError(
            f"{where}: need >= 2 rows and >= 1 column, got shape {X.shape}."
        )
    return X


class _Selector(TransformerMixin, BaseEstimator):
    """Shared ``transform`` / ``get_feature_names_out`` over ``selected_features_``."""

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return ``X[selected_features_]`` (rows unchanged)."""
        check_is_fitted(self, "selected_features_")
        missing = [c for c in self.selected_features_ if c not in X.columns]
        if missing:
            raise ConfigError(
                f"{type(self).__name__}.transform: X lacks selected column(s) "
                f"{missing[:5]}. Build the same features as in fit."
            )
        return X[self.selected_features_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Selected column names, in selection order."""
        check_is_fitted(self, "selected_features_")
        return np.asarray(self.selected_features_, dtype=object)


class CorrelationFilter(_Selector):
    """Drop the later column of every pair with ``|Pearson r| > threshold``.

    Columns are visited in their order in X; a column is kept if its absolute
    correlation with every already-kept column is at most ``threshold``. Constant or
    all-NaN columns are dropped too (they carry no information). Correlations use
    pairwise-complete rows, so warm-up NaN do not matter.

    Parameters
    ----------
    threshold : float in (0, 1], default 0.95

    Attributes
    ----------
    selected_features_ : list of str
    dropped_ : dict of str to str
        ``{column: reason}`` for every dropped column.
    """

    def __init__(self, threshold: float = 0.95) -> None:
        self.threshold = threshold

    def fit(self, X: pd.DataFrame, y: Any = None) -> CorrelationFilter:
        """Learn which columns to keep from training rows ``X`` (n_train, n_features)."""
        t = self.threshold
        if not isinstance(t, float | int) or not 0 < t <= 1:
            raise ConfigError(
                f"`threshold` must be in (0, 1], got {t!r}. Pass e.g. 0.95."
            )
        X = _check_X(X, "CorrelationFilter.fit")
        values = X.to_numpy(np.float64)
        finite = np.isfinite(values)
        clean = np.where(finite, values, np.nan)
        n_valid = finite.sum(axis=0)
        with np.errstate(invalid="ignore"):
            spread = np.nanmax(
                clean, axis=0, initial=-np.inf, where=finite
            ) - np.nanmin(clean, axis=0, initial=np.inf, where=finite)
        constant = (n_valid < 2) | ~(spread > 0)
        columns = [str(c) for c in X.columns]
        if finite.all():
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.corrcoef(values, rowvar=False)
        else:
            corr = pd.DataFrame(clean).corr().to_numpy()
        corr = np.abs(np.atleast_2d(corr))
        kept: list[int] = []
        dropped: dict[str, str] = {}
        for j, name in enumerate(columns):
            if constant[j]:
                dropped[name] = "constant or empty"
                continue
            if kept:
                row = corr[j, kept]
                k = int(np.nanargmax(row)) if not np.isnan(row).all() else -1
                if k >= 0 and row[k] > t:
                    dropped[name] = f"|r|={row[k]:.3f} with {columns[kept[k]]}"
                    continue
            kept.append(j)
        self.selected_features_ = [columns[j] for j in kept]
        self.dropped_ = dropped
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        fit_scope.record_fit("selector", "CorrelationFilter", X.index)
        return self


def _is_classification(y: np.ndarray) -> bool:
    return bool(np.all(np.mod(y, 1) == 0) and np.unique(y).size <= 10)


def _lgbm(classification: bool, random_state: int, n_jobs: int) -> Any:
    import lightgbm as lgb

    cls = lgb.LGBMClassifier if classification else lgb.LGBMRegressor
    # Small, fast and deterministic: ranking needs a rough model, not a tuned one.
    return cls(
        n_estimators=100,
        learning_rate=0.1,
        num_leaves=15,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        importance_type="gain",
        random_state=random_state,
        n_jobs=n_jobs,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )


class ImportanceSelector(_Selector):
    """Keep the ``n_features`` most important features, ranked on training rows only.

    Parameters
    ----------
    n_features : int, default 50
        Number kept (all columns if X has fewer).
    method : {"tree", "permutation", "shap", "correlation"}, default "tree"
        ``"tree"``: LightGBM gain importance fitted on all training rows.
        ``"permutation"``: LightGBM fitted on the training rows minus a purged tail
        (20 %), importance = score drop when a column is permuted on that tail (needs
        ``label_end``). ``"shap"``: mean |SHAP| (LightGBM native TreeSHAP, summed over
        classes) on up to 2,000 training rows. ``"correlation"``: |Spearman r| of each
        column with the target.
    label_end : Series, optional
        ``label_end`` of the training rows (required for ``"permutation"``).
    random_state : int, default 42
    task : {"auto", "classification", "regression"}, default "auto"
        ``"auto"``: classification when y holds at most 10 distinct integers.
    n_jobs : int, default 1
        LightGBM threads. One thread is fastest for these small ranking models on a
        shared 2-core machine (threads contend with other work).
    embargo : Timedelta, optional
        Gap between the fit rows and the permutation tail (``"permutation"``), on
        top of the purge; pass the run's embargo. None: no gap.

    Attributes
    ----------
    selected_features_ : list of str
        Most important first; ties keep X's column order.
    importances_ : Series
        Importance of every input column, sorted descending.
    """

    def __init__(
        self,
        n_features: int = 50,
        method: SelectionMethod = "tree",
        label_end: pd.Series | None = None,
        random_state: int = 42,
        task: Literal["auto", "classification", "regression"] = "auto",
        n_jobs: int = 1,
        embargo: pd.Timedelta | None = None,
    ) -> None:
        self.n_features = n_features
        self.method = method
        self.label_end = label_end
        self.random_state = random_state
        self.task = task
        self.n_jobs = n_jobs
        self.embargo = embargo

    def fit(self, X: pd.DataFrame, y: Any) -> ImportanceSelector:
        """Rank the columns of training rows ``X`` (n_train, n_features) against ``y``."""
        where = "ImportanceSelector.fit"
        if self.method not in _METHODS:
            raise ConfigError(
                f"`method` must be one of {_METHODS}, got {self.method!r}."
            )
        if not isinstance(self.n_features, int | np.integer) or self.n_features < 1:
            raise ConfigError(
                f"`n_features` must be a positive int, got {self.n_features!r}."
            )
        if self.task not in ("auto", "classification", "regression"):
            raise ConfigError(
                "`task` must be 'auto', 'classification' or 'regression', got "
                f"{self.task!r}."
            )
        X = _check_X(X, where)
        if isinstance(y, pd.Series) and not y.index.equals(X.index):
            raise ConfigError(
                f"{where}: y must be indexed exactly like X. Align with "
                "`y = y.reindex(X.index)`."
            )
        yv = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(yv) != len(X) or np.isnan(yv).any():
            raise ConfigError(
                f"{where}: y must have one known label per row of X ({len(X)}); got "
                f"{len(yv)} values with {int(np.isnan(yv).sum())} NaN. Drop unlabelled "
                "rows first (perpml.evaluation.drop_incomplete_rows)."
            )
        classification = (
            _is_classification(yv)
            if self.task == "auto"
            else self.task == "classification"
        )
        if classification:
            yv = yv.astype(np.int64)
        values = X.to_numpy(
            np.float64, copy=True
        )  # pandas may hand out a read-only view
        values[~np.isfinite(values)] = np.nan
        scores = getattr(self, f"_rank_{self.method}")(values, yv, classification, X)
        columns = [str(c) for c in X.columns]
        scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
        order = np.argsort(-scores, kind="stable")
        self.importances_ = pd.Series(
            scores[order], index=[columns[j] for j in order], name="importance"
        )
        self.selected_features_ = [columns[j] for j in order[: int(self.n_features)]]
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        fit_scope.record_fit("selector", f"ImportanceSelector({self.method})", X.index)
        return self

    # Rankers: (values (n, f) float64 with NaN, y, classification, X) -> scores (f,)
    def _rank_tree(self, values, y, classification, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        model = _lgbm(classification, self.random_state, self.n_jobs).fit(values, y)
        return model.booster_.feature_importance(importance_type="gain")

    def _rank_shap(self, values, y, classification, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        model = _lgbm(classification, self.random_state, self.n_jobs).fit(values, y)
        rows = np.unique(np.linspace(0, len(values) - 1, _SHAP_ROWS).astype(np.int64))
        contrib = np.asarray(model.booster_.predict(values[rows], pred_contrib=True))
        n_feat = values.shape[1]
        # (n, (f + 1) * n_classes) for multiclass, (n, f + 1) otherwise; last = bias.
        contrib = contrib.reshape(len(rows), -1, n_feat + 1)[:, :, :n_feat]
        return np.abs(contrib).mean(axis=0).sum(axis=0)

    def _rank_permutation(self, values, y, classification, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        from sklearn.inspection import permutation_importance

        if self.label_end is None:
            raise ConfigError(
                "ImportanceSelector(method='permutation') needs `label_end` of the "
                "training rows to purge its validation tail. Pass "
                "label_end=targets['label_end'] (training rows only)."
            )
        label_end = self.label_end
        if isinstance(label_end, pd.Series) and not label_end.index.equals(X.index):
            label_end = label_end.reindex(X.index)
        fit_idx, val_idx = purged_tail_split(
            np.arange(len(values)),
            label_end,
            0.2,
            embargo=pd.Timedelta(0) if self.embargo is None else self.embargo,
        )
        if len(np.unique(y[fit_idx])) < 2 or len(val_idx) < 10:
            raise InsufficientDataError(
                f"ImportanceSelector(method='permutation'): the purged split left "
                f"{len(fit_idx)} fit / {len(val_idx)} validation rows with "
                f"{len(np.unique(y[fit_idx]))} class(es). Use more training rows."
            )
        model = _lgbm(classification, self.random_state, self.n_jobs)
        model.fit(values[fit_idx], y[fit_idx])
        result = permutation_importance(
            model,
            values[val_idx],
            y[val_idx],
            n_repeats=5,
            random_state=self.random_state,
            n_jobs=1,
        )
        return result.importances_mean

    def _rank_correlation(self, values, y, classification, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        ranks = pd.DataFrame(values).rank()
        target = pd.Series(y.astype(np.float64)).rank()
        # Pairwise-complete Spearman: rank-transform then Pearson per column.
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = ranks.corrwith(target).abs().to_numpy()
        return np.where(ranks.std().to_numpy() > 0, scores, np.nan)


def select_features(
    X_train: pd.DataFrame,
    y_train: Any,
    n_features: int = 50,
    method: SelectionMethod = "tree",
    correlation_threshold: float | None = 0.95,
    label_end: pd.Series | None = None,
    random_state: int = 42,
    n_jobs: int = 1,
    embargo: pd.Timedelta | None = None,
) -> list[str]:
    """Choose features on **training rows only**: correlation filter, then ranking.

    Parameters
    ----------
    X_train : DataFrame of shape (n_train, n_features), indexed by bar open time (UTC)
        Training rows only — never include validation or test rows.
    y_train : Series of shape (n_train,)
        Training labels (class codes or returns), no NaN.
    n_features : int, default 50
    method : {"tree", "permutation", "shap", "correlation"}, default "tree"
        See :class:`ImportanceSelector`.
    correlation_threshold : float or None, default 0.95
        :class:`CorrelationFilter` threshold; None skips the filter.
    label_end : Series of shape (n_train,), optional
        Needed for ``"permutation"``.
    random_state : int, default 42
    n_jobs : int, default 1
        LightGBM threads of the ranking model (the result does not depend on it;
        2 is ~1.7x faster on an otherwise idle 2-core machine).
    embargo : Timedelta, optional
        The run's embargo, for ``"permutation"``'s tail (see ImportanceSelector).

    Returns
    -------
    list of str
        At most ``n_features`` names, most important first.
    """
    columns = list(X_train.columns) if isinstance(X_train, pd.DataFrame) else []
    if correlation_threshold is not None:
        filt = CorrelationFilter(threshold=correlation_threshold).fit(X_train)
        columns = filt.selected_features_
    if not columns:
        raise InsufficientDataError(
            "select_features: no usable column left after the correlation filter "
            "(all constant or empty). Check the feature frame."
        )
    ranker = ImportanceSelector(
        n_features=n_features,
        method=method,
        label_end=label_end,
        random_state=random_state,
        n_jobs=n_jobs,
        embargo=embargo,
    ).fit(X_train[columns], y_train)
    return list(ranker.selected_features_)
