"""The run's answer: which model, chosen off the test set, and does it beat the baselines.

Rules (``docs/metrics.md``):

1. **Choice.** The best classifier is the one with the highest accuracy on the
   **validation period** (the purged tail of the training period, before the test
   period). The test period is never used to choose; it is then reported once for
   the chosen model (and, beside it, for the others).
2. **Baseline.** The best naive baseline is the one with the highest accuracy on
   the test rows — the strongest competitor in hindsight, which can only make the
   comparison harder for the model.
3. **Beats the baseline** means: the paired per-row difference in accuracy (model −
   baseline, same test rows) has a Newey-West 95 % interval above 0
   (:func:`perpml.evaluation.intervals.paired_difference`). Otherwise the verdict
   says "no evidence of a signal beyond the baselines", with the interval.
4. **On the simulator** the oracle (true probabilities) is the ceiling:
   ``edge_captured = (model − majority) / (oracle − majority)`` (undefined when the
   oracle is less than one accuracy point above the majority class: no signal).

``audit_passed`` stays ``None`` until the leakage audit has run; :func:`attach_audit`
records its result in ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.evaluation.intervals import paired_difference
from perpml.exceptions import ArtifactError, ConfigError, InsufficientDataError

__all__ = ["Verdict", "attach_audit", "choose_model", "decide", "verdict_sentence"]

ChosenOn = str  # "validation" | "walk_forward"
#: Least oracle - majority accuracy for which ``edge_captured`` is defined.
MIN_ORACLE_ROOM = 0.01


@dataclass(frozen=True)
class Verdict:
    """The run's verdict (written to ``metrics.json["verdict"]``).

    Attributes
    ----------
    best_model : str
        Classifier chosen on ``chosen_on``.
    chosen_on : {"validation", "walk_forward"}
        Period the choice was made on (never the test period).
    baseline : str
        Best naive baseline on the test rows.
    model_accuracy, baseline_accuracy : float
        Test accuracy of each on the same rows.
    difference : float
        ``model_accuracy - baseline_accuracy``.
    ci_low, ci_high : float
        Newey-West 95 % interval of ``difference`` (paired, same rows).
    beats_baseline : bool
        ``ci_low > 0``.
    n, n_eff : int, float
        Test rows compared and the effective sample size of the difference.
    selection_scores : dict of str to float
        Accuracy of every candidate on ``chosen_on``.
    audit_passed : bool or None
        Result of the leakage audit; None until it has run.
    oracle_accuracy, edge_captured : float or None
        Simulator only: the oracle's test accuracy and the share of the oracle's
        edge over the majority class the model captured.
    sentence : str
        The verdict in one sentence (console and report).
    """

    best_model: str
    chosen_on: ChosenOn
    baseline: str
    model_accuracy: float
    baseline_accuracy: float
    difference: float
    ci_low: float
    ci_high: float
    beats_baseline: bool
    n: int
    n_eff: float
    selection_scores: dict[str, float]
    audit_passed: bool | None = None
    oracle_accuracy: float | None = None
    edge_captured: float | None = None
    sentence: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (NaN → None)."""
        return {k: _clean(v) for k, v in asdict(self).items()}


def _clean(value: Any) -> Any:
    """NaN/inf → None, recursively (metrics.json holds no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def choose_model(scores: Mapping[str, float]) -> str:
    """Name with the highest score (NaN never wins; ties keep the first given).

    Raises
    ------
    InsufficientDataError
        No candidate has a finite score.
    """
    best, best_score = None, -math.inf
    for name, score in scores.items():
        if score is not None and math.isfinite(score) and score > best_score:
            best, best_score = name, float(score)
    if best is None:
        raise InsufficientDataError(
            f"No model has a finite selection score ({dict(scores)}); cannot choose a "
            "best model. Check that the validation period has rows "
            "([split] val_fraction)."
        )
    return best


def _predictions(frame: pd.DataFrame | pd.Series, where: str) -> pd.Series:
    if isinstance(frame, pd.DataFrame):
        if "y_pred" not in frame:
            raise ConfigError(f"{where}: predictions need a 'y_pred' column.")
        frame = frame["y_pred"]
    return frame


def decide(
    y_test: pd.Series,
    test_predictions: Mapping[str, pd.DataFrame | pd.Series],
    baseline_predictions: pd.DataFrame,
    selection_scores: Mapping[str, float],
    *,
    horizon: int,
    chosen_on: ChosenOn = "validation",
    oracle_accuracy: float | None = None,
    majority: str = "majority_class",
) -> Verdict:
    """Choose the model off the test set and compare it with the best baseline.

    Parameters
    ----------
    y_test : Series of shape (n_test,), indexed by bar open time
        True classes of the test rows.
    test_predictions : mapping {model: DataFrame with ``y_pred`` or Series}
        Test-period class predictions of every candidate classifier, indexed like
        (a superset of) ``y_test``.
    baseline_predictions : DataFrame of shape (n_test, n_baselines)
        Per-row predictions of each baseline
        (:func:`~perpml.evaluation.baselines.classification_baseline_predictions`).
    selection_scores : mapping {model: float}
        Accuracy of each candidate on ``chosen_on`` (validation period or walk-
        forward out-of-fold rows) — never on the test period.
    horizon : int
        Label horizon in bars (Newey-West lags).
    chosen_on : {"validation", "walk_forward"}
    oracle_accuracy : float, optional
        The simulator's oracle accuracy on the test rows.
    majority : str, default "majority_class"
        Baseline column used for ``edge_captured``.

    Returns
    -------
    Verdict
    """
    if chosen_on not in ("validation", "walk_forward"):
        raise ConfigError(
            f"`chosen_on` must be 'validation' or 'walk_forward' (never the test "
            f"period), got {chosen_on!r}."
        )
    candidates = {k: v for k, v in selection_scores.items() if k in test_predictions}
    best = choose_model(candidates)
    truth = y_test.astype(np.int64)
    pred = _predictions(test_predictions[best], best).reindex(truth.index)
    if pred.isna().any():
        raise InsufficientDataError(
            f"Model {best!r} has no test prediction for {int(pred.isna().sum())} of "
            f"{len(truth)} test rows; every model must be scored on the same rows."
        )
    base = baseline_predictions.reindex(truth.index)
    if base.empty or base.shape[1] == 0:
        raise InsufficientDataError("No baseline predictions to compare with.")
    base_acc = {c: float((base[c].to_numpy() == truth.to_numpy()).mean()) for c in base}
    baseline = max(base_acc, key=lambda c: base_acc[c])
    diff = paired_difference(
        truth.to_numpy(),
        pred.to_numpy(np.int64),
        base[baseline].to_numpy(np.int64),
        horizon=horizon,
    )
    model_acc = float((pred.to_numpy(np.int64) == truth.to_numpy()).mean())
    edge = None
    if oracle_accuracy is not None and majority in base_acc:
        room = oracle_accuracy - base_acc[majority]
        # Without room above the majority class (pure noise) the share is undefined;
        # below one accuracy point it would be a ratio of sampling noise.
        if room >= MIN_ORACLE_ROOM:
            edge = (model_acc - base_acc[majority]) / room
    verdict = Verdict(
        best_model=best,
        chosen_on=chosen_on,
        baseline=baseline,
        model_accuracy=model_acc,
        baseline_accuracy=base_acc[baseline],
        difference=diff.estimate,
        ci_low=diff.low,
        ci_high=diff.high,
        beats_baseline=bool(diff.low > 0),
        n=diff.n,
        n_eff=diff.n_eff,
        selection_scores={k: float(v) for k, v in candidates.items()},
        oracle_accuracy=None if oracle_accuracy is None else float(oracle_accuracy),
        edge_captured=edge,
    )
    return _with_sentence(verdict)


def _with_sentence(verdict: Verdict) -> Verdict:
    from dataclasses import replace

    return replace(verdict, sentence=verdict_sentence(verdict))


def _pts(value: float) -> str:
    return f"{100 * value:+.1f} pts"


def verdict_sentence(verdict: Verdict | Mapping[str, Any]) -> str:
    """The verdict in one sentence, with its interval.

    E.g. ``"cat_classifier (chosen on validation) beats the best baseline
    previous_return_sign on the test period: accuracy 49.7% vs 42.2%, +7.5 pts (95%
    CI +4.1 to +10.9 pts, n_eff 390 of 3,456 rows)."``
    """
    v = verdict.to_dict() if isinstance(verdict, Verdict) else dict(verdict)
    period = "validation" if v["chosen_on"] == "validation" else "walk-forward"
    who = f"{v['best_model']} (chosen on {period})"
    numbers = (
        f"accuracy {v['model_accuracy']:.1%} vs {v['baseline_accuracy']:.1%}, "
        f"{_pts(v['difference'])} (95% CI {_pts(v['ci_low'])[:-4]} to "
        f"{_pts(v['ci_high'])}, n_eff {v['n_eff']:,.0f} of {v['n']:,} rows)"
    )
    if v["beats_baseline"]:
        text = (
            f"{who} beats the best baseline {v['baseline']} on the test period: "
            f"{numbers}."
        )
    else:
        text = (
            f"No evidence of a signal beyond the baselines: {who} vs "
            f"{v['baseline']} on the test period: {numbers}."
        )
    if v.get("oracle_accuracy") is not None:
        edge = v.get("edge_captured")
        share = "" if edge is None else f"; captures {edge:.0%} of the oracle's edge"
        text += f" Oracle (simulator truth) {v['oracle_accuracy']:.1%}{share}."
    return text


def attach_audit(metrics_path: str | Path, passed: bool) -> dict[str, Any]:
    """Record the leakage audit's result in ``metrics.json["verdict"]``.

    Parameters
    ----------
    metrics_path : path
        ``RUN_DIR/metrics.json`` written by ``perpml run``.
    passed : bool
        ``AuditReport.passed``.

    Returns
    -------
    dict
        The updated verdict.

    Raises
    ------
    ArtifactError
        The file is missing, unreadable or has no verdict.
    """
    from perpml.rundir.io import read_json, write_json_atomic

    path = Path(metrics_path)
    metrics = read_json(path)
    verdict = metrics.get("verdict") if isinstance(metrics, dict) else None
    if not isinstance(verdict, dict):
        raise ArtifactError(
            f"{str(path)!r} has no 'verdict' object (written by an older perpml?). "
            "Re-run `perpml run`."
        )
    verdict["audit_passed"] = bool(passed)
    write_json_atomic(path, metrics)
    return verdict
