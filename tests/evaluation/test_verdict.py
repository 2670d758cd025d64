"""The verdict: chosen off the test set, judged by a paired interval."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from perpml.evaluation.verdict import (
    Verdict,
    attach_audit,
    choose_model,
    decide,
    verdict_sentence,
)
from perpml.exceptions import ArtifactError, ConfigError, InsufficientDataError


def _rows(n: int = 4_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    y = pd.Series(rng.choice(3, n, p=[0.3, 0.4, 0.3]), index=index)
    baselines = pd.DataFrame(
        {"majority_class": 1, "always_neutral": 1}, index=index, dtype="int64"
    )
    return rng, y, baselines


def test_a_real_edge_beats_the_baseline():
    rng, y, baselines = _rows()
    good = np.where(rng.random(len(y)) < 0.3, y, 1)  # right on 30 % more rows
    noise = rng.choice(3, len(y))
    preds = {"good": pd.Series(good, index=y.index), "noise": pd.Series(noise, y.index)}
    v = decide(
        y, preds, baselines, {"good": 0.5, "noise": 0.45}, horizon=12,
        oracle_accuracy=0.7,
    )  # fmt: skip
    assert v.best_model == "good" and v.chosen_on == "validation"
    assert v.beats_baseline and v.ci_low > 0
    assert v.difference == pytest.approx(v.model_accuracy - v.baseline_accuracy)
    assert 0 < v.edge_captured < 1
    assert v.sentence.startswith("good (chosen on validation) beats the best baseline")
    assert "95% CI" in v.sentence and "Oracle" in v.sentence


def test_choice_ignores_the_test_period():
    rng, y, baselines = _rows()
    test_star = pd.Series(y.to_numpy(), index=y.index)  # perfect on test
    plain = pd.Series(np.ones(len(y), dtype=int), index=y.index)
    v = decide(
        y, {"test_star": test_star, "plain": plain}, baselines,
        {"test_star": 0.40, "plain": 0.41}, horizon=12,
    )  # fmt: skip
    assert v.best_model == "plain"  # the validation winner, although worse on test
    assert not v.beats_baseline
    assert v.sentence.startswith("No evidence of a signal beyond the baselines")


def test_noise_does_not_beat_the_baseline():
    rng, y, baselines = _rows(seed=3)
    noisy = np.where(rng.random(len(y)) < 0.97, 1, rng.choice(3, len(y)))
    v = decide(
        y, {"m": pd.Series(noisy, index=y.index)}, baselines, {"m": 0.4}, horizon=12,
        oracle_accuracy=float((y == 1).mean()) + 0.005,
    )  # fmt: skip
    assert not v.beats_baseline
    assert v.ci_low <= 0
    assert v.edge_captured is None  # no room above the majority class


def test_choose_model_and_bad_input():
    assert choose_model({"a": float("nan"), "b": 0.3, "c": 0.3}) == "b"
    with pytest.raises(InsufficientDataError, match="val_fraction"):
        choose_model({"a": float("nan")})
    _, y, baselines = _rows(100)
    with pytest.raises(ConfigError, match="never the test"):
        decide(y, {}, baselines, {}, horizon=12, chosen_on="test")
    short = pd.Series(np.ones(50, dtype=int), index=y.index[:50])
    with pytest.raises(InsufficientDataError, match="same rows"):
        decide(y, {"m": short}, baselines, {"m": 0.5}, horizon=12)


def test_attach_audit_records_the_result(tmp_path):
    _, y, baselines = _rows(500)
    v = decide(y, {"m": baselines["majority_class"]}, baselines, {"m": 0.5}, horizon=3)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"verdict": v.to_dict(), "x": None}), encoding="utf-8")
    assert v.audit_passed is None
    updated = attach_audit(path, True)
    assert updated["audit_passed"] is True
    assert json.loads(path.read_text())["verdict"]["audit_passed"] is True
    assert verdict_sentence(updated) == v.sentence
    with pytest.raises(ArtifactError, match="no 'verdict'"):
        (tmp_path / "old.json").write_text("{}", encoding="utf-8")
        attach_audit(tmp_path / "old.json", False)
    with pytest.raises(ArtifactError, match="Cannot read"):
        attach_audit(tmp_path / "missing.json", False)
    assert isinstance(v, Verdict)
