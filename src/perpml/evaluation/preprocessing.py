"""Feature scaling and row filtering that keep time and column labels intact.

Scalers learn statistics (means, quantiles, ranges) — fitting one on rows that include
the test period leaks the future's distribution into training. **Fit on the training
rows only**, then ``transform`` validation / test rows; :class:`WalkForwardValidator`
does this per fold.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from perpml.evaluation import fit_scope
from perpml.exceptions import (
    ArtifactError,
    ConfigError,
    FeatureError,
    InsufficientDataError,
)

__all__ = ["SCALER_KINDS", "FeatureScaler", "drop_incomplete_rows", "make_scaler"]

ScalerKind = Literal["standard", "robust", "minmax", "none"]
SCALER_KINDS: tuple[str, ...] = ("standard", "robust", "minmax", "none")


class FeatureScaler(TransformerMixin, BaseEstimator):
    """Column-wise scaler that returns a float32 DataFrame with X's index and columns.

    Parameters
    ----------
    kind : {"standard", "robust", "minmax", "none"}, default "standard"
        ``StandardScaler`` (mean 0, std 1), ``RobustScaler`` (median / IQR, for
        heavy-tailed crypto features), ``MinMaxScaler`` ([0, 1]) or the identity.

    Attributes
    ----------
    scaler_ : sklearn transformer or None
        The fitted scikit-learn scaler (None for ``kind="none"``).
    feature_names_in_ : ndarray of str
        Columns seen in ``fit``; ``transform`` requires the same columns.

    Notes
    -----
    NaN values are ignored when fitting and kept as NaN by ``transform`` (the models
    handle missing values natively). Infinite values raise.

    .. warning::
       Fit on training rows only. Fitting on the full history lets test-period
       statistics shape the training inputs.
    """

    def __init__(self, kind: ScalerKind = "standard") -> None:
        self.kind = kind

    def _frame(self, X: Any, where: str) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise ConfigError(
                f"FeatureScaler.{where}: X must be a DataFrame (features as columns, "
                f"indexed by bar open time), got {type(X).__name__}."
            )
        values = X.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isinf(values).any(axis=0)
        if bad.any():
            cols = X.columns[bad].tolist()
            raise FeatureError(
                f"FeatureScaler.{where}: X holds infinite values in column(s) "
                f"{cols[:5]}{' ...' if len(cols) > 5 else ''}. Replace them with NaN "
                "(X.replace([np.inf, -np.inf], np.nan)) or fix the feature."
            )
        return X

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureScaler:
        """Learn the scaling statistics from training rows ``X`` (n_train, n_features)."""
        if self.kind not in SCALER_KINDS:
            raise ConfigError(
                f"`kind` must be one of {SCALER_KINDS}, got {self.kind!r}. "
                "Pass e.g. kind='robust'."
            )
        X = self._frame(X, "fit")
        if len(X) == 0:
            raise InsufficientDataError("FeatureScaler.fit: X has 0 rows.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        scaler = {
            "standard": StandardScaler,
            "robust": RobustScaler,
            "minmax": MinMaxScaler,
            "none": None,
        }[self.kind]
        self.scaler_ = None if scaler is None else scaler().fit(X.to_numpy(np.float64))
        fit_scope.record_fit("scaler", f"FeatureScaler({self.kind})", X.index)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Scale ``X`` (n_rows, n_features) with the training statistics; float32 out."""
        check_is_fitted(self, "feature_names_in_")
        X = self._frame(X, "transform")
        if list(X.columns) != list(self.feature_names_in_):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            extra = [c for c in X.columns if c not in set(self.feature_names_in_)]
            raise ConfigError(
                "FeatureScaler.transform: X must have the fitted columns in the same "
                f"order; missing {missing[:5]}, unexpected {extra[:5]}. Select "
                "X[scaler.feature_names_in_]."
            )
        values = X.to_numpy(np.float64)
        if self.scaler_ is not None:
            values = self.scaler_.transform(values)
        return pd.DataFrame(values.astype(np.float32), index=X.index, columns=X.columns)

    def inverse_transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Undo :meth:`transform` (float64 out)."""
        check_is_fitted(self, "feature_names_in_")
        values = X.to_numpy(np.float64)
        if self.scaler_ is not None:
            values = self.scaler_.inverse_transform(values)
        return pd.DataFrame(values, index=X.index, columns=X.columns)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (unchanged input names)."""
        check_is_fitted(self, "feature_names_in_")
        return np.asarray(self.feature_names_in_, dtype=object)

    def save(self, path: str | Path) -> Path:
        """Write the fitted statistics as JSON (no pickle), atomically.

        ``FeatureScaler.load(path)`` gives a scaler whose ``transform`` is identical.
        """
        check_is_fitted(self, "feature_names_in_")
        state = {}
        if self.scaler_ is not None:
            for name in _SCALER_STATE:
                value = getattr(self.scaler_, name, None)
                if value is not None:
                    state[name] = np.asarray(value).tolist()
        payload: dict[str, Any] = {
            "kind": self.kind,
            "features": [str(c) for c in self.feature_names_in_],
            "state": state,
        }
        payload["sha256"] = _content_digest(payload)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeatureScaler:
        """Read a scaler written by :meth:`save`, checking its SHA-256.

        Raises
        ------
        ArtifactError
            The file is unreadable, or its content does not match the checksum
            written with it (edited or corrupted).
        """
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            scaler = cls(kind=payload["kind"])
            features = payload["features"]
            state = payload["state"]
            recorded = payload.get("sha256")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ArtifactError(
                f"Cannot read a saved FeatureScaler from {str(path)!r}: {exc}. "
                "Re-run the pipeline to write it again."
            ) from None
        actual = _content_digest(payload)
        if recorded != actual:
            raise ArtifactError(
                f"{str(path)!r} fails its checksum (recorded sha256 {recorded!r}, "
                f"content hashes to {actual!r}): the scaler was edited or corrupted. "
                "Re-run `perpml run` to write it again."
            )
        scaler.feature_names_in_ = np.asarray(features, dtype=object)
        scaler.n_features_in_ = len(features)
        inner = {
            "standard": StandardScaler,
            "robust": RobustScaler,
            "minmax": MinMaxScaler,
            "none": None,
        }[scaler.kind]
        scaler.scaler_ = None
        if inner is not None:
            fitted = inner()
            for name, value in state.items():
                array = np.asarray(value)
                setattr(fitted, name, array if array.ndim else array.item())
            scaler.scaler_ = fitted
        return scaler


def _content_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of a scaler file's content (every key but ``sha256``), canonical JSON."""
    content = {k: v for k, v in payload.items() if k != "sha256"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Fitted attributes of sklearn's scalers that their transform needs.
_SCALER_STATE = (
    "mean_",
    "var_",
    "scale_",
    "center_",
    "min_",
    "data_min_",
    "data_max_",
    "data_range_",
    "n_samples_seen_",
    "n_features_in_",
)


def make_scaler(kind: str) -> FeatureScaler:
    """Return an unfitted :class:`FeatureScaler` of ``kind`` (validated now)."""
    if kind not in SCALER_KINDS:
        raise ConfigError(
            f"`scaler` must be one of {SCALER_KINDS}, got {kind!r}. Pass e.g. 'standard'."
        )
    return FeatureScaler(kind)  # type: ignore[arg-type]


def drop_incomplete_rows(X: pd.DataFrame, *ys: pd.Series | pd.DataFrame) -> tuple:
    """Drop rows where any feature or any target is missing, consistently everywhere.

    Typical dropped rows: the feature warm-up at the start (rolling windows not yet
    full) and the last ``h`` bars whose forward label is unknown.

    Parameters
    ----------
    X : DataFrame of shape (n_bars, n_features), indexed by bar open time (UTC)
    *ys : Series or DataFrame of shape (n_bars, ...), indexed exactly like X
        Targets (e.g. ``target_class``, ``target_return`` or the whole
        ``make_targets`` frame; ``NaT`` counts as missing).

    Returns
    -------
    tuple
        ``(X_clean, *ys_clean)`` with the same rows kept in every element.
        ``X_clean.attrs`` gets ``n_dropped`` (total), ``n_dropped_leading``,
        ``n_dropped_trailing`` (dropped before the first / after the last kept row)
        and ``n_dropped_inner`` (the rest — gaps worth a look).
    """
    if not isinstance(X, pd.DataFrame):
        raise ConfigError(
            f"`X` must be a DataFrame indexed by bar open time, got {type(X).__name__}."
        )
    for i, y in enumerate(ys):
        if not isinstance(y, pd.Series | pd.DataFrame) or not y.index.equals(X.index):
            raise ConfigError(
                f"target #{i} must be a Series/DataFrame indexed exactly like X "
                f"({len(X)} rows); got {type(y).__name__} with "
                f"{len(getattr(y, 'index', []))} rows. Align it with "
                "`y.reindex(X.index)`."
            )
    missing = X.isna().any(axis=1).to_numpy().copy()  # pandas 3 views are read-only
    for y in ys:
        isna = y.isna()
        missing |= (
            isna.any(axis=1) if isinstance(isna, pd.DataFrame) else isna
        ).to_numpy()
    keep = ~missing
    kept_pos = np.flatnonzero(keep)
    if kept_pos.size:
        leading = int(kept_pos[0])
        trailing = int(len(keep) - 1 - kept_pos[-1])
    else:
        leading, trailing = len(keep), 0
    n_dropped = int(missing.sum())
    X_clean = X.loc[keep].copy()
    X_clean.attrs["n_dropped"] = n_dropped
    X_clean.attrs["n_dropped_leading"] = leading
    X_clean.attrs["n_dropped_trailing"] = trailing
    X_clean.attrs["n_dropped_inner"] = n_dropped - leading - trailing
    return (X_clean, *(y.loc[keep] for y in ys))
