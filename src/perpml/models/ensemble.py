"""Stacking ensemble trained on time-ordered, purged out-of-fold predictions.

The seed's ``EnsembleModel``: base classifiers (XGBoost, LightGBM, CatBoost) feed a
logistic-regression meta-model, base regressors (XGBoost, MLP) feed a ridge
meta-model, and :meth:`EnsembleModel.get_trading_decision` returns the signal, its
confidence and the forecast return.

Why not plain K-fold stacking (see ``docs/ensemble.md``): labels of neighbouring bars
overlap (each covers the next ``horizon`` bars), so in K-fold the models that produce
a row's out-of-fold prediction were trained on its neighbours — and on the future.
The meta-model then learns to trust base models for an accuracy they will not have
live. Here every out-of-fold prediction comes from a model fitted only on rows whose
labels were known before the predicted block starts:

1. :class:`~perpml.evaluation.splits.PurgedWalkForward` (expanding window, purged on
   ``label_end``, ``embargo``) cuts the rows after an initial block (by default the
   first half, ``min_train_fraction``) into ``n_splits`` test blocks;
2. for each block, clones of the base models are fitted on the purged earlier rows,
   early-stopping on the purged tail of those rows
   (:func:`~perpml.evaluation.splits.purged_tail_split`), and predict the block;
3. the meta-model is fitted on the concatenated out-of-fold predictions (rows of the
   first training block get none and are not used);
4. every base model is refitted on all training rows (again with a purged
   early-stopping tail) and used for prediction — or, when the caller passes
   ``fitted_bases`` (the pipeline's already trained models), those are used as is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.evaluation import fit_scope
from perpml.evaluation.splits import (
    PurgedWalkForward,
    label_end_from_index,
    purge_rows,
    purged_tail_split,
)
from perpml.exceptions import (
    ArtifactError,
    ConfigError,
    DataContractError,
    InsufficientDataError,
    NotFittedError,
)
from perpml.models._ensemble_parts import (
    OOFFold,
    base_output,
    check_fitted_bases,
    default_classifiers,
    default_regressors,
    fit_clone,
    meta_slot,
    named_models,
)
from perpml.models._stacking import (
    Kind,
    _LinearMeta,
    average_combiner,
    choose_combiner,
    fit_meta,
    meta_columns,
)
from perpml.models.base import BaseModel

__all__ = ["EnsembleModel", "OOFFold"]

_FORMAT = "perpml-ensemble"
_FORMAT_VERSION = 1
_MANIFEST = "ensemble.json"
#: Share of each training fold held out (its purged tail) for base-model early stopping.
EARLY_STOPPING_FRACTION = 0.15
#: Default share of the training rows in the initial walk-forward block (it only ever
#: trains). Half: the fold models then see 50-75 % of the rows (with 2 splits) and their
#: out-of-fold probabilities resemble those of the final models; with the old equal
#: blocks (20 % for 4 splits) they were less confident and the meta-model, fitted on
#: them, over-predicted NEUTRAL on the final models (docs/ensemble.md, measured).
MIN_TRAIN_FRACTION = 0.5


class EnsembleModel:
    """Stacking ensemble with purged walk-forward out-of-fold meta-features.

    Parameters
    ----------
    base_classifiers : mapping {name: model}, sequence of models, or None
        Unfitted perpml classifiers (they are cloned, never fitted in place).
        ``None``: XGBoost, LightGBM and CatBoost entry predictors.
    base_regressors : mapping, sequence or None
        ``None``: XGBoostPricePredictor and NeuralNetRegressor.
    n_splits : int, default 2
        Walk-forward test blocks producing out-of-fold predictions. Each costs one fit
        of every base model.
    min_train_fraction : float in (0, 1) or None, default 0.5
        Share of the training rows in the initial block, which only ever trains; the
        remaining rows are cut into ``n_splits`` equal blocks. ``None``: equal blocks
        throughout (the first ``1 / (n_splits + 1)`` only trains) — the earlier
        layout, which measured worse (``docs/ensemble.md``).
    label_end : Series of datetime (UTC), optional
        When each training row's label is known (``make_targets(...)["label_end"]``),
        indexed like (a superset of) ``X_train``. Missing: derived conservatively
        from the index and ``horizon`` (:func:`~perpml.evaluation.splits.label_end_from_index`).
    horizon : int, default 12
        Label horizon in bars; used only when ``label_end`` is missing.
    embargo : Timedelta, default 0
        Extra gap between training labels and each out-of-fold block.
    random_state : int, default 42
        Seed of the default base models.

    Attributes
    ----------
    classifiers_, regressors_ : dict of str to BaseModel
        Final base models (used for prediction): refitted on all training rows, or
        the ``fitted_bases`` passed to ``train_*``.
    reused_bases_ : dict of {"classifier", "regressor"} to list of str
        Names of final base models taken from ``fitted_bases`` (not refitted).
    classifier_meta_, regressor_meta_ : _LinearMeta
        Fitted meta-models (coefficients).
    oof_classifier_, oof_regressor_ : DataFrame
        The meta-models' training data: out-of-fold base predictions (meta-feature
        columns) plus ``y``, indexed by bar open time (OOF rows only).
    oof_folds_ : dict of {"classifier", "regressor"} to list of OOFFold
        Provenance of every out-of-fold prediction.
    combiner_ : dict of {"classifier", "regressor"} to str
        How each half combines its base models: ``"stacking"`` (the meta-model),
        ``"average"`` (equal weights) or ``"member"`` (one base model alone, named
        in ``combiner_member_``), chosen on the last out-of-fold block with the
        earlier blocks purged against it (:func:`~perpml.models._stacking.choose_combiner`).
    combiner_reason_ : dict of str to str
        Why, with the scores (also in ``ensemble.json``).
    feature_names_in_ : list of str

    Notes
    -----
    Meta-features. Classifiers contribute ``p_short`` and ``p_long`` per base model;
    ``p_neutral = 1 - p_short - p_long`` is dropped because with an intercept it is
    exactly collinear (keeping it only works through the penalty and makes the
    coefficients unreadable). Meta-features are standardised with their out-of-fold
    mean/std before the L2-penalised fit (``C = 1``; ridge ``alpha = 1``) so the
    penalty treats base models alike — essential for regressors, whose forecasts are
    ~1e-3 and would otherwise be shrunk to zero.
    """

    #: Rows each meta-model learned from, restored by :meth:`load`.
    n_oof_rows_: dict[str, int]

    def __init__(
        self,
        base_classifiers: Mapping[str, BaseModel] | Sequence[BaseModel] | None = None,
        base_regressors: Mapping[str, BaseModel] | Sequence[BaseModel] | None = None,
        *,
        n_splits: int = 2,
        min_train_fraction: float | None = MIN_TRAIN_FRACTION,
        label_end: pd.Series | None = None,
        horizon: int = 12,
        embargo: pd.Timedelta = pd.Timedelta(0),  # noqa: B008  (immutable value)
        random_state: int = 42,
    ) -> None:
        self.base_classifiers = base_classifiers
        self.base_regressors = base_regressors
        self.n_splits = n_splits
        self.min_train_fraction = min_train_fraction
        self.label_end = label_end
        self.horizon = horizon
        self.embargo = embargo
        self.random_state = random_state

    # ---------------------------------------------------------------- training
    def train_classifier(
        self,
        X_train: pd.DataFrame,
        y_train_class: pd.Series,
        label_end: pd.Series | None = None,
        *,
        fitted_bases: Mapping[str, BaseModel] | None = None,
    ) -> EnsembleModel:
        """Fit the stacked direction classifier.

        Parameters
        ----------
        X_train : DataFrame of shape (n_bars, n_features), indexed by bar open time
            Sorted, unique UTC timestamps; no NaN.
        y_train_class : Series of shape (n_bars,)
            Labels in {0 SHORT, 1 NEUTRAL, 2 LONG}, aligned to ``X_train``.
        label_end : Series, optional
            Overrides the constructor's ``label_end`` for this call.
        fitted_bases : mapping {name: fitted classifier}, optional
            Already trained base models to use as the final models instead of
            refitting those names (saves one fit each; out-of-fold fold models are
            still trained). Names must be base-model names, each model of the same
            class as that base and fitted on exactly ``X_train``'s columns. They
            **must have been trained only on rows of X_train plus an early-stopping
            period that ends before any row you will predict** (e.g. the purged
            validation period of ``chronological_split``); the ensemble cannot check
            this. Measured on the simulator, stacking on such models beats stacking
            on refits (``docs/ensemble.md``).

        Returns
        -------
        self
        """
        self._train("classifier", X_train, y_train_class, label_end, fitted_bases)
        return self

    def train_regressor(
        self,
        X_train: pd.DataFrame,
        y_train_reg: pd.Series,
        label_end: pd.Series | None = None,
        *,
        fitted_bases: Mapping[str, BaseModel] | None = None,
    ) -> EnsembleModel:
        """Fit the stacked return regressor (same protocol as :meth:`train_classifier`).

        ``y_train_reg`` : Series of shape (n_bars,), the forward log return.
        ``fitted_bases`` : already trained regressors, same rules as for
        :meth:`train_classifier`.
        """
        self._train("regressor", X_train, y_train_reg, label_end, fitted_bases)
        return self

    # ---------------------------------------------------------------- inference
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Meta-model probabilities, shape (n_bars, 3), columns SHORT/NEUTRAL/LONG."""
        meta = self._fitted("classifier")
        features = self._meta_features("classifier", X)
        combined = self._combine("classifier", features)
        return meta.predict_proba(features) if combined is None else combined

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class per bar, int64 in {0, 1, 2} (argmax of :meth:`predict_proba`)."""
        return np.argmax(self.predict_proba(X), axis=1).astype(np.int64)

    def predict_return(self, X: pd.DataFrame) -> np.ndarray:
        """Stacked forward-return forecast per bar, shape (n_bars,), float64."""
        meta = self._fitted("regressor")
        features = self._meta_features("regressor", X)
        combined = self._combine("regressor", features)
        return meta.decision(features)[:, 0] if combined is None else combined

    def get_trading_decision(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """The seed's decision dict for each bar of ``X``.

        Returns
        -------
        dict with keys
            ``signal`` : ndarray of int64, shape (n_bars,) — 0 SHORT, 1 NEUTRAL, 2 LONG;
            ``confidence`` : ndarray of float64 — the meta-model's probability of
            the chosen class (>= 1/3);
            ``target`` : ndarray of float64 — the stacked regressor's forecast
            forward log return.
        """
        self._fitted("regressor")
        proba = self.predict_proba(X)
        signal = np.argmax(proba, axis=1).astype(np.int64)
        return {
            "signal": signal,
            "confidence": proba[np.arange(len(signal)), signal],
            "target": self.predict_return(X),
        }

    # ------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Save to directory ``path``: ``ensemble.json`` + each base model's own save.

        Layout: ``classifiers/<name>/`` and ``regressors/<name>/`` (native file +
        sidecar each), ``ensemble.json`` (settings, meta-model coefficients, base
        names). No pickle. The write is atomic; an earlier saved ensemble at
        ``path`` is replaced.
        """
        if not hasattr(self, "classifier_meta_") and not hasattr(
            self, "regressor_meta_"
        ):
            raise NotFittedError(
                "This EnsembleModel is not fitted yet. Call train_classifier and/or "
                "train_regressor first."
            )
        target = Path(path)
        if target.exists() and (
            not target.is_dir()
            or (any(target.iterdir()) and not (target / _MANIFEST).is_file())
        ):
            raise ArtifactError(
                f"Cannot save an ensemble to {target}: it exists and is not a saved "
                "ensemble. Pass a new or empty directory."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        manifest: dict[str, Any] = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "n_splits": int(self.n_splits),
            "min_train_fraction": self.min_train_fraction,
            "horizon": int(self.horizon),
            "embargo_ns": int(pd.Timedelta(self.embargo).value),
            "random_state": int(self.random_state),
            "feature_names": list(self.feature_names_in_),
        }
        try:
            for kind in ("classifier", "regressor"):
                meta = getattr(self, f"{kind}_meta_", None)
                if meta is None:
                    manifest[kind] = None
                    continue
                models: dict[str, BaseModel] = getattr(self, f"{kind}s_")
                for name, model in models.items():
                    model.save(tmp / f"{kind}s" / name)
                manifest[kind] = {
                    "base_models": list(models),
                    "meta": meta.to_json(),
                    "combiner": self._combiner(kind),
                    "member": getattr(self, "combiner_member_", {}).get(kind),
                    "reason": getattr(self, "combiner_reason_", {}).get(kind),
                    "check": getattr(self, "combiner_check_", {}).get(kind),
                    "n_oof_rows": self._n_oof_rows(kind),
                }
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            backup = None
            if target.exists():
                backup = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
                os.replace(target, backup)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        return target

    @classmethod
    def load(cls, path: str | Path) -> EnsembleModel:
        """Load an ensemble written by :meth:`save` (base models verified by checksum).

        The loaded ensemble predicts exactly like the saved one; its out-of-fold
        tables and fold provenance are not stored.
        """
        from perpml.models.persistence import load_model

        directory = Path(path)
        file = directory / _MANIFEST
        try:
            manifest = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(
                f"No readable {_MANIFEST} at {directory} ({exc}). Pass the directory "
                "written by EnsembleModel.save(path)."
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise ArtifactError(
                f"{file} is not a perpml ensemble manifest. Save again."
            )
        if manifest.get("format_version") != _FORMAT_VERSION:
            raise ArtifactError(
                f"{file} has format_version {manifest.get('format_version')}, this "
                f"perpml reads {_FORMAT_VERSION}. Retrain and save again."
            )
        loaded: dict[str, dict[str, BaseModel]] = {}
        for kind in ("classifier", "regressor"):
            section = manifest.get(kind)
            loaded[kind] = {}
            if section is not None:
                for name in section["base_models"]:
                    loaded[kind][name] = load_model(directory / f"{kind}s" / name)
        ensemble = cls(
            loaded["classifier"] or None,
            loaded["regressor"] or None,
            n_splits=int(manifest["n_splits"]),
            # Absent in files of the equal-block layout (None).
            min_train_fraction=manifest.get("min_train_fraction"),
            horizon=int(manifest["horizon"]),
            embargo=pd.Timedelta(int(manifest["embargo_ns"]), unit="ns"),
            random_state=int(manifest["random_state"]),
        )
        ensemble.feature_names_in_ = [str(c) for c in manifest["feature_names"]]
        ensemble.combiner_ = {}
        ensemble.combiner_member_ = {}
        ensemble.combiner_reason_ = {}
        ensemble.combiner_check_ = {}
        ensemble.n_oof_rows_ = {}
        for kind in ("classifier", "regressor"):
            section = manifest.get(kind)
            if section is not None:
                setattr(ensemble, f"{kind}s_", loaded[kind])
                setattr(
                    ensemble, f"{kind}_meta_", _LinearMeta.from_json(section["meta"])
                )
                # Files written before the averaging fallback always stacked.
                ensemble.combiner_[kind] = section.get("combiner", "stacking")
                ensemble.combiner_member_[kind] = section.get("member")
                ensemble.combiner_reason_[kind] = section.get("reason") or ""
                ensemble.combiner_check_[kind] = section.get("check") or {}
                if ensemble.combiner_[kind] == "member" and (
                    ensemble.combiner_member_[kind] not in loaded[kind]
                ):
                    raise ArtifactError(
                        f"{file}: the {kind} combines as the single member "
                        f"{ensemble.combiner_member_[kind]!r}, which is not one of its "
                        f"base models {sorted(loaded[kind])}. Save the ensemble again."
                    )
                ensemble.n_oof_rows_[kind] = int(section.get("n_oof_rows", 0))
        return ensemble

    def _n_oof_rows(self, kind: Kind) -> int:
        """Rows the meta-model learned from (kept across save/load)."""
        oof = getattr(self, f"oof_{kind}_", None)
        if oof is not None:
            return int(len(oof))
        return int(getattr(self, "n_oof_rows_", {}).get(kind, 0))

    # --------------------------------------------------------------- internals
    def _base_models(self, kind: Kind) -> dict[str, BaseModel]:
        given = self.base_classifiers if kind == "classifier" else self.base_regressors
        if given is None:
            rs = int(self.random_state)
            return (
                default_classifiers(rs)
                if kind == "classifier"
                else default_regressors(rs)
            )
        return named_models(given, kind)

    def _label_end(self, X: pd.DataFrame, label_end: pd.Series | None) -> pd.Series:
        chosen = label_end if label_end is not None else self.label_end
        if chosen is None:
            return label_end_from_index(X.index, int(self.horizon))
        if not isinstance(chosen, pd.Series):
            raise ConfigError(
                "EnsembleModel: `label_end` must be a pd.Series of timestamps indexed "
                f"like X_train, got {type(chosen).__name__}. Use "
                "make_targets(...)['label_end']."
            )
        missing = ~X.index.isin(chosen.index)
        if missing.any():
            raise ConfigError(
                f"EnsembleModel: `label_end` lacks {int(missing.sum())} training bars "
                f"(first {X.index[missing][0]}). Pass label_end for every row of "
                "X_train (make_targets(...)['label_end'])."
            )
        return chosen.reindex(X.index)

    def _check_xy(self, X: Any, y: Any, kind: Kind) -> pd.Series:
        if not isinstance(X, pd.DataFrame) or not isinstance(X.index, pd.DatetimeIndex):
            raise DataContractError(
                "EnsembleModel: X_train must be a DataFrame indexed by bar open time "
                f"(DatetimeIndex), got {type(X).__name__}. Pass the feature frame."
            )
        if isinstance(y, pd.Series):
            if not y.index.equals(X.index):
                raise DataContractError(
                    f"EnsembleModel.train_{kind}: y's index must equal X_train's index "
                    "(same bars, same order). Align it: y = y.loc[X_train.index]."
                )
            return y
        arr = np.asarray(y)
        if arr.ndim != 1 or len(arr) != len(X):
            raise DataContractError(
                f"EnsembleModel.train_{kind}: y must have shape ({len(X)},), got "
                f"{arr.shape}. Pass the target aligned to X_train."
            )
        return pd.Series(arr, index=X.index)

    def _train(
        self,
        kind: Kind,
        X: Any,
        y: Any,
        label_end: pd.Series | None,
        fitted_bases: Mapping[str, BaseModel] | None,
    ) -> None:
        y = self._check_xy(X, y, kind)
        known: list[str] | None = getattr(self, "feature_names_in_", None)
        if known is not None and list(X.columns) != known:
            # The classifier and regressor halves must read the same features.
            other = "regressor" if kind == "classifier" else "classifier"
            if hasattr(self, f"{other}_meta_"):
                raise DataContractError(
                    f"EnsembleModel.train_{kind}: X_train must have the columns the "
                    f"{other} was trained on ({len(known)} columns). "
                    "Train both halves on the same feature frame."
                )
        le = self._label_end(X, label_end)
        bases = self._base_models(kind)
        reused = check_fitted_bases(kind, fitted_bases, bases, X)
        n = len(X)
        splitter = PurgedWalkForward(
            int(self.n_splits),
            label_end=le,
            embargo=self.embargo,
            train_size=self._initial_block(n),
        )
        columns = meta_columns(kind, list(bases))
        oof = np.full((n, len(columns)), np.nan)
        folds: list[OOFFold] = []
        le_values = le.to_numpy()
        blocks: list[np.ndarray] = []
        for fold, (train_idx, test_idx) in enumerate(splitter.split(X)):
            blocks.append(test_idx)
            fit_idx, es_idx = purged_tail_split(
                train_idx, le, fraction=EARLY_STOPPING_FRACTION, embargo=self.embargo
            )
            used = np.concatenate([fit_idx, es_idx])
            for j, (name, base) in enumerate(bases.items()):
                model = fit_clone(base, X, y, fit_idx, es_idx, name, fold)
                oof[test_idx, meta_slot(kind, j)] = base_output(
                    kind, model, X.iloc[test_idx]
                )
                folds.append(
                    OOFFold(
                        fold=fold,
                        model=name,
                        fit_index=X.index[fit_idx],
                        early_stop_index=X.index[es_idx],
                        test_index=X.index[test_idx],
                        max_label_end=pd.Timestamp(le_values[used].max()),
                    )
                )
        rows = ~np.isnan(oof).any(axis=1)
        if rows.sum() < 2:
            raise InsufficientDataError(
                f"EnsembleModel.train_{kind}: only {int(rows.sum())} out-of-fold rows; "
                "use more training data or fewer n_splits."
            )
        meta = fit_meta(kind, oof[rows], y.to_numpy()[rows], columns)
        fit_scope.record_fit(
            f"stacking meta-model ({kind})", "_LinearMeta", X.index[rows]
        )
        check = self._check_combiner(kind, oof, y, le, blocks, columns, list(bases))

        all_idx = np.arange(n)
        fit_idx, es_idx = purged_tail_split(
            all_idx, le, fraction=EARLY_STOPPING_FRACTION, embargo=self.embargo
        )
        final = {
            name: reused[name]
            if name in reused
            else fit_clone(base, X, y, fit_idx, es_idx, name, None)
            for name, base in bases.items()
        }
        self.feature_names_in_ = [str(c) for c in X.columns]
        if not hasattr(self, "reused_bases_"):
            self.reused_bases_: dict[str, list[str]] = {}
        self.reused_bases_[kind] = [name for name in bases if name in reused]
        setattr(self, f"{kind}s_", final)
        setattr(self, f"{kind}_meta_", meta)
        table = pd.DataFrame(oof[rows], index=X.index[rows], columns=list(columns))
        table["y"] = y.to_numpy()[rows]
        setattr(self, f"oof_{kind}_", table)
        if not hasattr(self, "oof_folds_"):
            self.oof_folds_: dict[str, list[OOFFold]] = {}
        self.oof_folds_[kind] = folds
        if not hasattr(self, "combiner_"):
            self.combiner_: dict[str, str] = {}
            self.combiner_check_: dict[str, dict[str, Any]] = {}
        if not hasattr(self, "combiner_member_"):
            self.combiner_member_: dict[str, str | None] = {}
            self.combiner_reason_: dict[str, str] = {}
        self.combiner_[kind] = check["combiner"]
        self.combiner_member_[kind] = check["member"]
        self.combiner_reason_[kind] = check["reason"]
        self.combiner_check_[kind] = {
            k: v for k, v in check.items() if k not in ("combiner", "member", "reason")
        }

    def _check_combiner(
        self,
        kind: Kind,
        oof: np.ndarray,
        y: pd.Series,
        le: pd.Series,
        blocks: list[np.ndarray],
        columns: tuple[str, ...],
        members: list[str],
    ) -> dict[str, Any]:
        """Stacking vs averaging vs best member on the last out-of-fold block.

        The earlier blocks are purged against the last one (their labels must end
        before it starts, minus the embargo): otherwise the check's meta-model
        learns from rows whose labels cover the block that scores it.
        """
        if len(blocks) < 2:
            return choose_combiner(
                kind, oof, y.to_numpy(), blocks[0][:0], blocks[0][:0], columns, members
            )
        last = blocks[-1]
        with fit_scope.scope(f"stacking_check.{kind}"):
            early = purge_rows(
                np.concatenate(blocks[:-1]),
                last,
                le,
                self.embargo,
                kind="stacking_check",
            )
            fit_scope.record_fit(
                f"stacking check meta-model ({kind})", "_LinearMeta", le.index[early]
            )
            return choose_combiner(
                kind,
                oof,
                y.to_numpy(),
                early,
                last,
                columns,
                members,
                lags=int(self.horizon),
            )

    def _initial_block(self, n: int) -> int | None:
        """Rows of the initial walk-forward block (None: equal blocks)."""
        frac = self.min_train_fraction
        if frac is None:
            return None
        if (
            isinstance(frac, bool)
            or not isinstance(frac, int | float)
            or not (0.0 < float(frac) < 1.0)
        ):
            raise ConfigError(
                "EnsembleModel: `min_train_fraction` must be a float in (0, 1) or "
                f"None, got {frac!r}. Use e.g. 0.5 (the default)."
            )
        return max(1, int(float(frac) * n))

    def _combiner(self, kind: Kind) -> str:
        return str(getattr(self, "combiner_", {}).get(kind, "stacking"))

    def _combine(self, kind: Kind, features: np.ndarray) -> np.ndarray | None:
        """Averaged or single-member output; None when the meta-model stacks."""
        combiner = self._combiner(kind)
        if combiner == "average":
            return average_combiner(kind, features)
        if combiner == "member":
            name = getattr(self, "combiner_member_", {}).get(kind)
            names = list(getattr(self, f"{kind}s_"))
            j = names.index(name)
            return average_combiner(kind, features[:, meta_slot(kind, j)])
        return None

    def _fitted(self, kind: Kind) -> _LinearMeta:
        meta = getattr(self, f"{kind}_meta_", None)
        if meta is None:
            raise NotFittedError(
                f"The EnsembleModel's {kind} is not fitted yet. Call "
                f"train_{kind}(X_train, y_train) first, or EnsembleModel.load(path)."
            )
        return meta

    def _meta_features(self, kind: Kind, X: pd.DataFrame) -> np.ndarray:
        models: dict[str, BaseModel] = getattr(self, f"{kind}s_")
        parts = [base_output(kind, m, X) for m in models.values()]
        features = np.concatenate(parts, axis=1)
        if not np.isfinite(features).all():  # pragma: no cover - base models are finite
            raise DataContractError(
                f"EnsembleModel: a base {kind} produced non-finite outputs; check X."
            )
        return features
