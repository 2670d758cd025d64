"""The report's first screen: verdict headline, audit table, headline figures."""

from __future__ import annotations

import json

import pandas as pd

from perpml.report.front import (
    audit_rows,
    audit_section,
    feature_range_section,
    headline_section,
    verdict_headline,
    walk_forward_zoo_section,
)

VERDICT = {
    "best_model": "cat_classifier",
    "chosen_on": "validation",
    "baseline": "majority_class",
    "difference": 0.05,
    "ci_low": 0.01,
    "ci_high": 0.09,
    "beats_baseline": True,
    "n_eff": 500.0,
    "oracle_accuracy": 0.56,
    "edge_captured": 0.6,
    "selection_scores": {"cat_classifier": 0.5, "xgb_classifier": 0.48},
    "sentence": "cat_classifier (chosen on validation) beats the best baseline ...",
}
METRICS = {
    "verdict": VERDICT,
    "models": {
        "cat_classifier": {
            "test": {"accuracy": 0.5, "accuracy_ci": [0.46, 0.54], "n_eff": 480.0}
        }
    },
    "baselines": {"majority_class": {"accuracy": 0.45, "accuracy_ci": [0.4, 0.5]}},
}


def test_audit_json_rows_and_failed_audit_leads_the_headline(tmp_path):
    assert audit_rows(tmp_path) is None
    assert "Audit not run" in audit_section(None).notes[0]
    checks = [
        {"check": "truncation", "passed": True, "detail": "ok"},
        {"check": "above the ceiling", "passed": False, "detail": "x > y"},
    ]
    (tmp_path / "audit.json").write_text(json.dumps(checks), encoding="utf-8")
    rows = audit_rows(tmp_path)
    assert rows == checks
    section = audit_section(rows)
    assert section.tables[0].rows[1][:2] == ["above the ceiling", "FAIL"]
    text, kind = verdict_headline(METRICS, rows)
    assert text.startswith("Leakage audit FAILED") and kind == "bad"
    assert verdict_headline(METRICS, checks[:1]) == (VERDICT["sentence"], "good")
    assert verdict_headline({}, None) is None
    (tmp_path / "audit.json").write_text(json.dumps({"checks": checks}), "utf-8")
    assert audit_rows(tmp_path) == checks


def test_headline_figures_chosen_model_baseline_difference_oracle():
    section = headline_section(METRICS)
    rows = section.tables[0].rows
    assert rows[0][:3] == [
        "cat_classifier (chosen on validation)",
        "50.0 %",
        "46.0 – 54.0 %",
    ]
    assert rows[1][0] == "majority_class (best baseline)"
    assert rows[2][1:3] == ["+5.0 pts", "+1.0 – +9.0 pts"]
    assert rows[3][0] == "oracle (simulator truth)" and "60%" in rows[3][2]
    assert "never on the test period" in section.notes[0]


def test_walk_forward_section_pooled_first_and_one_column_per_fold():
    walk = pd.DataFrame(
        {
            "fold": ["0", "0", "1", "1", "pooled", "pooled"],
            "model": ["xgb", "majority_class"] * 3,
            "kind": ["classifier", "baseline"] * 3,
            "accuracy": [0.5, 0.4, 0.52, 0.41, 0.51, 0.405],
            "accuracy_ci_low": [None] * 4 + [0.47, 0.36],
            "accuracy_ci_high": [None] * 4 + [0.55, 0.45],
            "n_eff": [None] * 4 + [300.0, 310.0],
            "diff_vs_baseline": [None] * 4 + [0.105, None],
            "diff_ci_low": [None] * 4 + [0.05, None],
            "diff_ci_high": [None] * 4 + [0.16, None],
            "n_test": [100, 100, 100, 100, 200, 200],
        }
    )
    section = walk_forward_zoo_section(walk)
    pooled, per_fold = section.tables[0], section.tables[1]
    assert pooled.rows[0][:3] == ["xgb", "classifier", "51.0 %"]
    assert "+10.5 pts" in pooled.rows[0][5]
    assert per_fold.columns == ["model", "fold 0", "fold 1"]
    assert "no mean over folds" in section.notes[0]


def test_feature_range_section_only_when_flagged():
    assert feature_range_section([]) is None
    flagged = [{"feature": "f", "share_outside": 0.5, "train_min": 0.0,
                "train_max": 1.0, "test_min": 0.5, "test_max": 2.0}]  # fmt: skip
    section = feature_range_section(flagged)
    assert section.tables[0].rows[0][:2] == ["f", "50.0 %"]
