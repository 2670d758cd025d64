"""Linear meta-models of :class:`~perpml.models.ensemble.EnsembleModel` (internal).

Kept apart from the ensemble's fold/refit logic so the meta-model (its features, its
fit and its JSON form) can be read and tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from perpml.exceptions import InsufficientDataError
from perpml.models.base import CLASS_LABELS

__all__ = [
    "META_ALPHA",
    "META_C",
    "Kind",
    "average_combiner",
    "choose_combiner",
    "fit_meta",
    "meta_columns",
]

#: Inverse L2 strength of the logistic meta-model. The meta-features are probabilities
#: in [0, 1]; C=1 keeps weights modest when base models agree (collinear inputs).
#: Measured (docs/ensemble.md): C in {1, 0.1, 0.01} and log-odds instead of
#: probabilities change simulator test accuracy by < 0.3 points.
META_C = 1.0
#: L2 strength of the ridge meta-model on standardised base forecasts.
META_ALPHA = 1.0

Kind = Literal["classifier", "regressor"]


@dataclass(frozen=True)
class _LinearMeta:
    """A fitted linear meta-model as plain arrays (serialised to JSON, no pickle).

    Inputs are standardised with ``mean``/``scale`` first. Classifier: ``coef`` has
    shape (k, d) and ``classes`` k entries (k=1 means binary: ``classes`` holds both
    labels and the logit is that of ``classes[1]``); regressor: ``coef`` (1, d).
    """

    kind: Kind
    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: tuple[int, ...]

    def decision(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.scale
        return z @ self.coef.T + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities in SHORT/NEUTRAL/LONG order (absent classes get 0)."""
        logits = self.decision(features)
        if logits.shape[1] == 1:  # binary: sklearn's logit is that of classes[1]
            p1 = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            proba = np.column_stack([1.0 - p1, p1])
        else:
            logits = logits - logits.max(axis=1, keepdims=True)
            expd = np.exp(logits)
            proba = expd / expd.sum(axis=1, keepdims=True)
        out = np.zeros((len(features), len(CLASS_LABELS)))
        out[:, list(self.classes)] = proba
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "classes": list(self.classes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _LinearMeta:
        return cls(
            kind=data["kind"],
            feature_names=tuple(data["feature_names"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64).reshape(
                -1, len(data["feature_names"])
            ),
            intercept=np.asarray(data["intercept"], dtype=np.float64),
            classes=tuple(int(c) for c in data["classes"]),
        )


def meta_columns(kind: Kind, names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Meta-feature names: ``<base>__p_short``, ``<base>__p_long`` per classifier
    (``p_neutral`` is collinear with them and the intercept), ``<base>__return`` per
    regressor."""
    if kind == "classifier":
        return tuple(f"{n}__{p}" for n in names for p in ("p_short", "p_long"))
    return tuple(f"{n}__return" for n in names)


def fit_meta(
    kind: Kind, features: np.ndarray, y: np.ndarray, columns: tuple[str, ...]
) -> _LinearMeta:
    """Fit the meta-model on out-of-fold meta-features.

    Parameters
    ----------
    kind : {"classifier", "regressor"}
    features : ndarray of shape (n_oof_rows, n_meta_features)
        Out-of-fold base outputs, columns as :func:`meta_columns`.
    y : ndarray of shape (n_oof_rows,)
        Class labels in {0, 1, 2} or forward returns.
    columns : tuple of str

    Returns
    -------
    _LinearMeta
        Standardisation (OOF mean/std) and coefficients.
    """
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    scale = np.where(std > 1e-12, std, 1.0)
    z = (features - mean) / scale
    if kind == "regressor":
        ridge = Ridge(alpha=META_ALPHA).fit(z, y)
        return _LinearMeta(
            kind=kind,
            feature_names=columns,
            mean=mean,
            scale=scale,
            coef=np.asarray(ridge.coef_, dtype=np.float64).reshape(1, -1),
            intercept=np.atleast_1d(np.asarray(ridge.intercept_, dtype=np.float64)),
            classes=(),
        )
    labels = y.astype(np.int64)
    present = np.unique(labels)
    if len(present) < 2:
        raise InsufficientDataError(
            "EnsembleModel.train_classifier: the out-of-fold rows hold a single "
            f"class {present.tolist()}; the meta-model needs 2+. Use more data."
        )
    logit = LogisticRegression(C=META_C, max_iter=2000).fit(z, labels)
    return _LinearMeta(
        kind=kind,
        feature_names=columns,
        mean=mean,
        scale=scale,
        coef=np.asarray(logit.coef_, dtype=np.float64),
        intercept=np.asarray(logit.intercept_, dtype=np.float64),
        classes=tuple(int(c) for c in logit.classes_),
    )


def average_combiner(kind: Kind, features: np.ndarray) -> np.ndarray:
    """Equal-weight average of the base models, from their meta-features.

    Classifier: ``features`` holds (p_short, p_long) per base; returns (n, 3)
    SHORT/NEUTRAL/LONG probabilities (p_neutral = 1 - p_short - p_long). Regressor:
    returns the mean forecast, shape (n,).
    """
    if kind == "regressor":
        return features.mean(axis=1)
    short = features[:, 0::2].mean(axis=1)
    long_ = features[:, 1::2].mean(axis=1)
    neutral = np.clip(1.0 - short - long_, 0.0, 1.0)
    return np.column_stack([short, neutral, long_])


def _losses(kind: Kind, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Per-row loss: 0/1 error (classifier) or squared error (regressor)."""
    if kind == "classifier":
        return (out.argmax(axis=1) != y).astype(np.float64)
    return (out - y) ** 2


def _clearly_better(loss_a: np.ndarray, loss_b: np.ndarray, lags: int) -> bool:
    """Whether ``b`` beats ``a`` by more than one Newey–West s.e. of the paired
    per-row loss difference (labels overlap, so rows are not independent)."""
    from perpml.evaluation.audit import newey_west_se

    diff = loss_a - loss_b
    se = newey_west_se(diff, lags)
    return bool(diff.mean() > (se if np.isfinite(se) else 0.0))


def choose_combiner(
    kind: Kind,
    oof: np.ndarray,
    y: np.ndarray,
    early: np.ndarray,
    last: np.ndarray,
    columns: tuple[str, ...],
    members: list[str] | tuple[str, ...],
    lags: int = 0,
) -> dict[str, Any]:
    """Choose stacking, averaging or the best single member, out of sample.

    A meta-model is fitted on the out-of-fold rows ``early`` (the earlier blocks,
    **purged** against the last one by the caller: their labels end before it
    starts, minus the embargo) and scored on the last block ``last``, against the
    equal-weight average of the same base outputs and against each base model
    alone. Stacking is kept only if it beats both the average and the best member
    by more than one Newey–West standard error (``lags`` lags) of the paired
    per-row loss difference; otherwise the average, unless the best member beats
    the average by that margin (then that member). The average is the default
    because it has nothing to fit. Scores: accuracy for classifiers, minus the MSE
    for regressors.

    Parameters
    ----------
    oof : ndarray of shape (n_rows, n_meta_features)
        Out-of-fold base outputs (NaN on rows without one).
    y : ndarray of shape (n_rows,)
    early, last : ndarray of int
        Row positions: the purged earlier out-of-fold rows (fit) and the last block
        (score). An empty ``last`` means there is nothing to check on: stacking.
    columns : tuple of str
    members : sequence of str
        Base-model names, in meta-feature order.

    Returns
    -------
    dict
        ``combiner`` ("stacking", "average" or "member"), ``member`` (the chosen
        base model's name, else None), ``reason`` (one sentence), and when checked
        ``stacking_score``, ``average_score``, ``member_scores`` and the row counts
        ``n_check_fit`` / ``n_check_score``.
    """
    if len(last) == 0:
        return {
            "combiner": "stacking",
            "member": None,
            "reason": "a single out-of-fold block leaves nothing to check stacking "
            "on; stacking kept",
        }
    counts = {"n_check_fit": int(len(early)), "n_check_score": int(len(last))}
    try:
        if len(early) < 2:
            raise InsufficientDataError("too few purged out-of-fold rows")
        meta = fit_meta(kind, oof[early], y[early], columns)
    except InsufficientDataError as exc:  # e.g. one class in the early blocks
        return {
            "combiner": "average",
            "member": None,
            "reason": f"no stacking check possible ({exc}): averaging",
            **counts,
        }
    if kind == "classifier":
        stacked = meta.predict_proba(oof[last])
        labels = y[last].astype(np.int64)
    else:
        stacked = meta.decision(oof[last])[:, 0]
        labels = y[last]
    width = 2 if kind == "classifier" else 1
    loss_stack = _losses(kind, labels, stacked)
    loss_avg = _losses(kind, labels, average_combiner(kind, oof[last]))
    member_loss = {
        str(name): _losses(
            kind,
            labels,
            average_combiner(kind, oof[last][:, width * j : width * (j + 1)]),
        )
        for j, name in enumerate(members)
    }

    def score(loss: np.ndarray) -> float:
        mean = float(loss.mean())
        return 1.0 - mean if kind == "classifier" else -mean

    s_stack, s_avg = score(loss_stack), score(loss_avg)
    member_scores = {name: score(loss) for name, loss in member_loss.items()}
    best = max(member_scores, key=lambda n: member_scores[n])
    s_best = member_scores[best]
    metric = "accuracy" if kind == "classifier" else "minus MSE"
    scores = (
        f"stacking {s_stack:.6g}, averaging {s_avg:.6g}, best member {best} "
        f"{s_best:.6g} ({metric} on the {len(last)}-row purged check block; margin "
        f"1 Newey-West s.e., {lags} lags)"
    )
    if _clearly_better(loss_avg, loss_stack, lags) and _clearly_better(
        member_loss[best], loss_stack, lags
    ):
        combiner, member = "stacking", None
        why = "stacking beats averaging and every member by more than 1 s.e."
    elif _clearly_better(loss_avg, member_loss[best], lags):
        combiner, member = "member", best
        why = (
            f"stacking does not clearly beat the member {best}, which beats "
            "averaging by more than 1 s.e."
        )
    else:
        combiner, member = "average", None
        why = (
            "stacking does not beat averaging and the best member by more than "
            "1 s.e., and no member clearly beats averaging"
        )
    return {
        "combiner": combiner,
        "member": member,
        "reason": f"{why}: {scores}",
        "stacking_score": s_stack,
        "average_score": s_avg,
        "member_scores": member_scores,
        **counts,
    }
