"""The report's first screen: the verdict, the leakage audit, the headline figures.

Also the walk-forward section of the zoo (pooled row first, one accuracy column per
fold) and the feature-range flags. Everything reads what ``perpml run`` wrote:
``metrics.json["verdict"]``, ``audit.json`` (a list of ``{check, passed, detail}``,
written by the leakage audit; "audit not run" otherwise), ``walk_forward.csv`` and
``run.json["feature_range_flags"]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from perpml.report.html import Section, Table, format_value, is_number

__all__ = [
    "audit_rows",
    "audit_section",
    "feature_range_section",
    "headline_section",
    "verdict_headline",
    "walk_forward_zoo_section",
]


def _pct(value: Any) -> str:
    return f"{100 * float(value):.1f} %" if is_number(value) else "—"


def _ci(values: Any) -> str:
    if (
        isinstance(values, list | tuple)
        and len(values) == 2
        and all(is_number(v) for v in values)
    ):
        return f"{100 * values[0]:.1f} – {100 * values[1]:.1f} %"
    return "—"


def audit_rows(run_dir: Path) -> list[dict[str, Any]] | None:
    """Rows of ``audit.json`` (None when the audit has not run or is unreadable)."""
    path = Path(run_dir) / "audit.json"
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rows = payload.get("checks") if isinstance(payload, Mapping) else payload
    if not isinstance(rows, list):
        return None
    return [dict(r) for r in rows if isinstance(r, Mapping)]


def verdict_headline(
    metrics: Mapping[str, Any], audit: list[dict[str, Any]] | None
) -> tuple[str, str] | None:
    """(sentence, kind) of the verdict, or None for runs without one."""
    verdict = metrics.get("verdict")
    if not isinstance(verdict, Mapping) or not verdict.get("sentence"):
        return None
    failed = audit is not None and not all(bool(r.get("passed")) for r in audit)
    text = str(verdict["sentence"])
    if failed:
        return (
            "Leakage audit FAILED — do not trust the numbers below. " + text,
            "bad",
        )
    return (text, "good" if verdict.get("beats_baseline") else "neutral")


def audit_section(audit: list[dict[str, Any]] | None) -> Section:
    """Pass/fail table of the leakage audit, or a note that it did not run."""
    if audit is None:
        return Section(
            "audit",
            "Leakage audit",
            notes=["Audit not run (no audit.json in the run directory)."],
        )
    rows = [
        [
            str(r.get("check", "?")),
            "pass" if r.get("passed") else "FAIL",
            str(r.get("detail", "")),
        ]
        for r in audit
    ]
    passed = all(bool(r.get("passed")) for r in audit)
    return Section(
        "audit",
        "Leakage audit",
        notes=["All checks passed." if passed else "At least one check FAILED."],
        tables=[Table("audit-table", ["check", "result", "detail"], rows)],
    )


def headline_section(metrics: Mapping[str, Any]) -> Section | None:
    """Chosen model vs best baseline (and the oracle) on the test period."""
    verdict = metrics.get("verdict")
    if not isinstance(verdict, Mapping):
        return None
    models = metrics.get("models") or {}
    baselines = metrics.get("baselines") or {}
    best, base = str(verdict.get("best_model")), str(verdict.get("baseline"))
    model_test = (models.get(best) or {}).get("test") or {}
    base_test = baselines.get(base) or {}
    rows = [
        [
            f"{best} (chosen on {verdict.get('chosen_on')})",
            _pct(model_test.get("accuracy")),
            _ci(model_test.get("accuracy_ci")),
            format_value(model_test.get("n_eff"), 0),
        ],
        [
            f"{base} (best baseline)",
            _pct(base_test.get("accuracy")),
            _ci(base_test.get("accuracy_ci")),
            format_value(base_test.get("n_eff"), 0),
        ],
        [
            "difference (paired, same rows)",
            f"{100 * float(verdict['difference']):+.1f} pts"
            if is_number(verdict.get("difference"))
            else "—",
            f"{100 * float(verdict['ci_low']):+.1f} – "
            f"{100 * float(verdict['ci_high']):+.1f} pts"
            if is_number(verdict.get("ci_low")) and is_number(verdict.get("ci_high"))
            else "—",
            format_value(verdict.get("n_eff"), 0),
        ],
    ]
    oracle = verdict.get("oracle_accuracy")
    if is_number(oracle):
        edge = verdict.get("edge_captured")
        rows.append(
            [
                "oracle (simulator truth)",
                _pct(oracle),
                f"edge captured {edge:.0%}" if is_number(edge) else "—",
                "—",
            ]
        )
    scores = verdict.get("selection_scores") or {}
    notes = [
        "Accuracy on the test period with its 95 % interval (Newey-West, lags ≥ 3 × "
        "horizon: overlapping labels make neighbouring rows dependent) and the "
        "effective sample size n_eff. The model was chosen on "
        f"{verdict.get('chosen_on')} accuracy, never on the test period: "
        + ", ".join(f"{k} {_pct(v)}" for k, v in scores.items())
        + ".",
    ]
    return Section(
        "headline",
        "Headline figures (test period)",
        notes=notes,
        tables=[
            Table(
                "headline-table",
                ["", "accuracy", "95 % interval", "n_eff"],
                rows,
            )
        ],
    )


def walk_forward_zoo_section(walk: pd.DataFrame) -> Section:
    """Pooled walk-forward row per model, then accuracy per fold (narrow tables)."""
    if "kind" not in walk.columns:
        # Older runs: one model's fold table.
        columns = [c for c in walk.columns if not c.endswith(("_start", "_end"))]
        rows = [[format_value(row[c]) for c in columns] for _, row in walk.iterrows()]
        return Section(
            "walk-forward",
            "Walk-forward validation",
            tables=[Table("walk-forward-table", columns, rows)],
        )
    fold_text = walk["fold"].astype(str)
    pooled = walk[fold_text == "pooled"]
    folds = walk[fold_text != "pooled"]
    pooled_rows = []
    for _, row in pooled.iterrows():
        diff = "—"
        if is_number(row.get("diff_vs_baseline")):
            diff = (
                f"{100 * row['diff_vs_baseline']:+.1f} pts "
                f"({100 * row['diff_ci_low']:+.1f} – {100 * row['diff_ci_high']:+.1f})"
            )
        ci = (
            _ci([row["accuracy_ci_low"], row["accuracy_ci_high"]])
            if "accuracy_ci_low" in row and is_number(row.get("accuracy_ci_low"))
            else "—"
        )
        pooled_rows.append(
            [
                str(row["model"]),
                str(row.get("kind", "")),
                _pct(row.get("accuracy")),
                ci,
                format_value(row.get("n_eff"), 0),
                diff,
                _pct(row.get("oracle_ratio")),
            ]
        )
    pivot = folds.pivot_table(
        index="model", columns="fold", values="accuracy", aggfunc="first", sort=False
    )
    fold_ids = list(pivot.columns)
    per_fold = [
        [str(model), *[_pct(pivot.loc[model, f]) for f in fold_ids]]
        for model in pivot.index
    ]
    info = folds.drop_duplicates("fold")
    spans = [
        [
            str(r["fold"]),
            str(r.get("test_start", ""))[:16],
            str(r.get("test_end", ""))[:16],
            format_value(r.get("n_train"), 0),
            format_value(r.get("n_test"), 0),
        ]
        for _, r in info.iterrows()
    ]
    n_rows = int(pooled["n_test"].max()) if "n_test" in pooled and len(pooled) else 0
    return Section(
        "walk-forward",
        "Walk-forward validation (every model, every fold)",
        notes=[
            f"{len(fold_ids)} purged folds; features selected and scaled on each "
            "fold's training rows; the ensemble is the average of the fold's "
            "classifiers. The pooled row is computed on all "
            f"{n_rows:,} out-of-fold rows (no mean over folds), with the 95 % "
            "interval and the paired difference with the best pooled baseline."
        ],
        tables=[
            Table(
                "walk-forward-pooled",
                [
                    "model",
                    "kind",
                    "accuracy",
                    "95 % interval",
                    "n_eff",
                    "vs best baseline (95 % CI)",
                    "÷ oracle",
                ],
                pooled_rows,
                caption="Pooled over folds",
            ),
            Table(
                "walk-forward-table",
                ["model", *[f"fold {f}" for f in fold_ids]],
                per_fold,
                caption="Accuracy per fold",
            ),
            Table(
                "walk-forward-folds",
                ["fold", "test start", "test end", "n_train", "n_test"],
                spans,
                caption="Folds",
            ),
        ],
    )


def feature_range_section(flags: Any) -> Section | None:
    """Selected features whose test values leave the training range (or None)."""
    if not isinstance(flags, list) or not flags:
        return None
    rows = [
        [
            str(f.get("feature")),
            _pct(f.get("share_outside")),
            f"{format_value(f.get('train_min'))} – {format_value(f.get('train_max'))}",
            f"{format_value(f.get('test_min'))} – {format_value(f.get('test_max'))}",
        ]
        for f in flags
        if isinstance(f, Mapping)
    ]
    return Section(
        "feature-ranges",
        "Features outside their training range",
        notes=[
            "These selected features take values in the test period that training "
            "never saw on more than 5 % of test rows: a tree model extrapolates them "
            "as the training extreme, so the test score says little about later data."
        ],
        tables=[
            Table(
                "feature-range-table",
                ["feature", "test rows outside", "training range", "test range"],
                rows,
            )
        ],
    )
