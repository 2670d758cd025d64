"""Build ``RUN_DIR/report/`` (every PNG, ``model_comparison.csv``, ``model_report.html``).

:func:`build_run_report` reads only what ``perpml run`` wrote (layout in
``docs/architecture.md``) and never retrains: metrics come from ``metrics.json``,
plots from ``predictions/*.parquet``, feature importance and SHAP from the saved models
in ``models/`` and the prepared test features in ``data/``. So ``perpml report RUN_DIR``
rebuilds the same report from disk.

Honesty rules of the page: the headline compares the best model with the best
baseline (and the simulator's oracle when known) and says so plainly when no model
beats a baseline; numbers in the tables are exactly those in ``metrics.json``
(formatted by :func:`perpml.report.html.format_value`); anything that could not be
produced (a model that failed to load, SHAP on features that do not reproduce the saved
predictions) is listed with its reason instead of silently missing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.exceptions import PerpmlError, ReportError
from perpml.report.front import (
    audit_rows,
    audit_section,
    feature_range_section,
    headline_section,
    verdict_headline,
    walk_forward_zoo_section,
)
from perpml.report.html import (
    HtmlReport,
    Section,
    Table,
    format_cell,
    format_time,
    format_value,
    is_number,
    kv_table,
    render_html,
    write_text_atomic,
)
from perpml.report.reporter import (
    CLASSIFICATION_COLUMNS,
    REGRESSION_COLUMNS,
    ModelPerformanceReporter,
    ReportFigure,
    best_baseline,
    embed_figure,
    format_ratio,
    honest_headline,
    walk_forward_section,
)

__all__ = ["build_run_report"]

_PROBA_COLUMNS = ("p_short", "p_neutral", "p_long")
_CLASS_NAMES = ("SHORT", "NEUTRAL", "LONG")
_TREE_LIBRARIES = ("xgboost", "lightgbm", "catboost")


@dataclass
class _RunFiles:
    run: dict[str, Any]
    metrics: dict[str, Any]
    config_text: str
    walk_forward: pd.DataFrame | None
    predictions: dict[str, pd.DataFrame]
    problems: list[str] = field(default_factory=list)
    #: Problems that mean the run directory is damaged (a checksum fails, a listed
    #: model cannot be read): printed by ``perpml report``, which then exits 1.
    integrity: list[str] = field(default_factory=list)


class ReportIntegrityError(ReportError):
    """The report was written, but the run directory failed an integrity check."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(
            f"The report {path} was written, but the run directory is damaged: "
            + "; ".join(problems)
            + ". Re-run `perpml run` (with --overwrite) to rebuild it."
        )


def build_run_report(
    run_dir: Path | str,
    *,
    quiet: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> Path:
    """Write ``run_dir/report/`` from a finished run directory, without retraining.

    Parameters
    ----------
    run_dir : Path
        A directory written by ``perpml run`` (needs ``run.json`` and
        ``metrics.json``; ``walk_forward.csv``, ``predictions/``, ``models/``,
        ``data/`` and ``config.toml`` are used when present).
    quiet : bool, default False
        When False and no ``on_stage`` is given, stage names are printed to stderr.
    on_stage : callable, optional
        Called with a short stage description before each stage (progress bars).

    Returns
    -------
    Path
        ``run_dir/report/model_report.html``.

    Raises
    ------
    ReportError
        ``run_dir`` is missing ``run.json``/``metrics.json`` or they are unreadable.
    ReportIntegrityError
        The report was written, but a saved model or scaler that the run lists
        fails its checksum or cannot be read (``.problems`` lists them).
    """
    run_dir = Path(run_dir)
    out = run_dir / "report"

    def stage(text: str) -> None:
        if on_stage is not None:
            on_stage(text)
        elif not quiet:
            print(f"report: {text}", file=sys.stderr)

    stage("reading run directory")
    files = _read_run_dir(run_dir)
    reporter = ModelPerformanceReporter(out)
    models_meta = files.metrics.get("models") or {}

    stage("plotting predictions")
    for name, frame in files.predictions.items():
        task = (models_meta.get(name) or {}).get("task") or _task_of(frame)
        try:
            if task == "classification":
                reporter.generate_classification_report(
                    frame["y_true"].to_numpy().astype(np.int64),
                    frame["y_pred"].to_numpy().astype(np.int64),
                    frame[list(_PROBA_COLUMNS)].to_numpy(np.float64)
                    if set(_PROBA_COLUMNS) <= set(frame.columns)
                    else None,
                    class_names=_CLASS_NAMES,
                    model_name=name,
                )
            else:
                # Rows a sequence model could not forecast (no full window) are
                # left out of its plots, as they are out of its metrics.
                scored = frame.dropna(subset=["y_true", "y_pred"])
                reporter.generate_regression_report(
                    scored["y_true"], scored["y_pred"], model_name=name
                )
        except (PerpmlError, KeyError, ValueError) as exc:
            files.problems.append(f"plots of {name} skipped: {exc}")

    stage("loading models for feature importance")
    loaded = _load_models(run_dir / "models", files, set(models_meta))
    importance_notes = _importance(run_dir, files, loaded, reporter)

    stage("SHAP")
    shap_notes = _shap(run_dir, files, loaded, reporter)

    stage("model comparison")
    classification, regression = _split_by_task(files.metrics)
    top_baseline = best_baseline(files.metrics.get("baselines") or {})
    oracle = _oracle(files)
    if classification:
        refs = {}
        if top_baseline[0]:
            refs[f"best baseline ({top_baseline[0]})"] = top_baseline[1]
        if oracle is not None:
            refs["oracle"] = oracle
        reporter.compare_models(classification, "accuracy", references=refs)
    if regression:
        reporter.compare_models(regression, "pearson_ic")
    table_input = {**classification, **regression}
    table_input.update(files.metrics.get("baselines") or {})
    if table_input:
        reporter.generate_comparison_table(table_input)

    stage("writing HTML")
    audit = audit_rows(run_dir)
    verdict = verdict_headline(files.metrics, audit)
    headline, kind = verdict or honest_headline(
        classification, regression, top_baseline, oracle
    )
    run = files.run
    report = HtmlReport(
        title=f"perpml run report — {run.get('symbol', '?')} {run.get('interval', '')}",
        subtitle=(
            f"{run.get('source', '?')} data, {format_time(run.get('start'))} → "
            f"{format_time(run.get('end'))}, feature set {run.get('feature_set_id', '?')}"
        ),
        headline=headline,
        headline_kind=kind,
        sections=_sections(
            files, reporter, classification, regression, oracle, audit, verdict
        )
        + _backtest_sections(run_dir, files)
        + _figure_sections(reporter, shap_notes, files.problems, importance_notes)
        + _reference_sections(files),
        footer=(
            f"Generated by perpml on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from "
            f"{run_dir.name}. Self-contained: no external resources."
        ),
    )
    path = write_text_atomic(out / "model_report.html", render_html(report))
    if files.integrity:
        raise ReportIntegrityError(path, files.integrity)
    return path


def _backtest_sections(run_dir: Path, files: _RunFiles) -> list[Section]:
    """The backtest of the chosen model (``backtest.json``), or why there is none."""
    if not (run_dir / "backtest.json").exists():
        note = files.run.get("backtest")
        if not note:
            return []
        return [Section("backtest", "Does it make money? (backtest)", notes=[note])]
    from perpml.backtest import load_backtest_summary

    try:
        summary = load_backtest_summary(run_dir)
    except (PerpmlError, OSError, ValueError, KeyError) as exc:
        files.problems.append(f"backtest.json unreadable: {exc}")
        return []
    return [
        Section(
            "backtest",
            "Does it make money? (backtest net of fees, slippage and funding)",
            trusted_html=summary.html_fragment(embed=True),
        )
    ]


# ------------------------------------------------------------------- reading
def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ReportError(
            f"{path.name} is missing in {path.parent}; it is not a finished perpml run "
            "directory. Run `perpml run` first or pass the directory it wrote."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(
            f"Cannot read {path}: {exc}. Re-run `perpml run` to rewrite it."
        ) from exc


def _read_run_dir(run_dir: Path) -> _RunFiles:
    if not run_dir.is_dir():
        raise ReportError(
            f"Run directory {run_dir} does not exist. Pass the directory written by "
            "`perpml run`."
        )
    files = _RunFiles(
        run=_read_json(run_dir / "run.json"),
        metrics=_read_json(run_dir / "metrics.json"),
        config_text="",
        walk_forward=None,
        predictions={},
    )
    config = run_dir / "config.toml"
    if config.exists():
        files.config_text = config.read_text(encoding="utf-8")
    walk = run_dir / "walk_forward.csv"
    if walk.exists():
        files.walk_forward = pd.read_csv(walk)
    listed = set(files.metrics.get("models") or {})
    for path in sorted((run_dir / "predictions").glob("*.parquet")):
        if path.stem not in listed:
            continue  # not this run's model (runs never mix)
        try:
            files.predictions[path.stem] = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            files.problems.append(f"predictions/{path.name} unreadable: {exc}")
    return files


def _task_of(frame: pd.DataFrame) -> str:
    return "classification" if "p_short" in frame.columns else "regression"


def _load_models(
    models_dir: Path, files: _RunFiles, listed: set[str]
) -> dict[str, Any]:
    """Load the saved models that ``metrics.json`` lists (nothing else in the folder).

    A listed model that fails to load (checksum mismatch, corrupt file) is an
    integrity problem, not a cosmetic one.
    """
    loaded: dict[str, Any] = {}
    if not models_dir.is_dir():
        return loaded
    try:
        from perpml.models import load_model
    except ImportError as exc:
        files.problems.append(f"saved models not loaded: {exc}")
        return loaded
    for directory in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        if not (directory / "model.json").exists() or directory.name not in listed:
            continue
        try:
            loaded[directory.name] = load_model(directory)
        except (PerpmlError, OSError, ImportError) as exc:
            message = f"model {directory.name} not loaded: {exc}"
            files.problems.append(message)
            files.integrity.append(message)
    return loaded


# ------------------------------------------------------------- importance
def _importance(
    run_dir: Path,
    files: _RunFiles,
    loaded: Mapping[str, Any],
    reporter: ModelPerformanceReporter,
) -> list[str]:
    """Plot every model's feature importance, titled with its method.

    Neural models (torch) get permutation importance on the test rows instead of
    their near-flat weight-magnitude proxy.
    """
    from perpml.report.importance import importance_method, permutation_importance

    notes: list[str] = []
    scaled: pd.DataFrame | None = None
    for name, model in loaded.items():
        method = importance_method(model)
        try:
            if getattr(model, "native_library", "") == "torch":
                if scaled is None:
                    scaled = _scaled_test_features(run_dir, files)
                truth = files.predictions[name]["y_true"]
                # Windows make a sequence model ~40x dearer per row; 400 rows
                # rank its top features as 1,000 do (measured on the seed run).
                sequence = "lookback" in (getattr(model, "params_", None) or {})
                table = permutation_importance(
                    model, scaled, truth, n_rows=400 if sequence else 1000
                )
            else:
                table = model.feature_importance()
            reporter.plot_feature_importance(table, name, 20, method=method)
            notes.append(f"{name}: {method}.")
        except (PerpmlError, ValueError, AttributeError, KeyError) as exc:
            files.problems.append(f"feature importance of {name} skipped: {exc}")
    return notes


def _scaled_test_features(run_dir: Path, files: _RunFiles) -> pd.DataFrame:
    """Prepared test features, scaled by the run's saved training scaler."""
    _, X_test = _prepared_features(run_dir, files.run)
    saved = run_dir / "models" / "scaler.json"
    if not saved.exists():
        return X_test
    from perpml.evaluation.preprocessing import FeatureScaler

    return FeatureScaler.load(saved).transform(X_test)


# ------------------------------------------------------------------- SHAP
def _shap(
    run_dir: Path,
    files: _RunFiles,
    loaded: Mapping[str, Any],
    reporter: ModelPerformanceReporter,
) -> list[str]:
    """Explain the best tree classifier on the prepared test features."""
    from perpml.explain import ModelInterpreter
    from perpml.explain.interpreter import _library

    models_meta = files.metrics.get("models") or {}
    verdict = files.metrics.get("verdict") or {}
    # The model explained follows the verdict's choice (validation period, never
    # the test period); an ensemble is explained through its best tree member.
    period = "val" if verdict else "test"
    candidates = [
        (float((models_meta.get(n) or {}).get(period, {}).get("accuracy", -1.0)), n)
        for n, m in loaded.items()
        if getattr(m, "task", None) == "classification"
        and _library(getattr(m, "native_model_", None)) in _TREE_LIBRARIES
    ]
    if not candidates:
        return ["SHAP skipped: no saved tree classifier could be loaded."]
    chosen = verdict.get("best_model")
    names = [n for _, n in candidates]
    name = chosen if chosen in names else max(candidates)[1]
    why = (
        "the model chosen on validation"
        if name == chosen
        else "best tree classifier on validation (the chosen model "
        f"{chosen} is not a tree model)"
        if verdict
        else "best tree classifier by test accuracy (run without a verdict)"
    )
    model = loaded[name]
    try:
        X_train, X_test = _prepared_features(run_dir, files.run)
    except PerpmlError as exc:
        return [f"SHAP skipped: prepared features unavailable ({exc})."]
    saved = files.predictions.get(name)
    mismatch = _reproduces(model, X_test, saved)
    inputs = "the prepared (unscaled) features"
    kind = _scaler_kind(files.config_text)
    saved_scaler = run_dir / "models" / "scaler.json"
    if mismatch and saved_scaler.exists():
        # The pipeline saves the training-split scaler its models were trained with.
        from perpml.evaluation.preprocessing import FeatureScaler

        try:
            scaler = FeatureScaler.load(saved_scaler)
        except PerpmlError as exc:
            files.integrity.append(str(exc))
            return [f"SHAP skipped: {exc}"]
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        mismatch = _reproduces(model, X_test, saved)
        inputs = f"{scaler.kind}-scaled features (the run's saved training scaler)"
    elif mismatch and kind is not None:
        # Older runs did not save the scaler; refitting the same deterministic scaler
        # on the same rows rebuilds it. The reproduction check below is the proof.
        from perpml.evaluation.preprocessing import make_scaler

        scaler = make_scaler(kind).fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        mismatch = _reproduces(model, X_test, saved)
        inputs = f"{kind}-scaled features (scaler refit on the training split)"
    if mismatch:
        return [f"SHAP skipped for {name}: {mismatch}"]
    interpreter = ModelInterpreter(model, X_train, output_dir=reporter.output_dir)
    table = interpreter.explain_predictions(X_test, max_display=20)
    latest = interpreter.explain_single_prediction(X_test.iloc[[-1]], class_idx=2)
    for filename, title, wide in (
        ("shap_summary.png", f"SHAP summary — {name}", True),
        ("shap_importance_bar.png", f"Global SHAP importance — {name}", False),
        ("shap_force_plot.png", f"Latest test bar, class LONG — {name}", False),
    ):
        reporter.figures.append(
            ReportFigure("shap", title, reporter.output_dir / filename, wide)
        )
    top = ", ".join(table["feature"].head(5))
    return [
        f"Model explained: {name} ({why}), with "
        f"{interpreter.explainer_} on {len(interpreter.explained_index_)} test rows "
        f"of {inputs}, checked to reproduce the saved test probabilities; values in "
        f"{interpreter.output_space}.",
        f"Top features by mean |SHAP|: {top}.",
        f"Single prediction: the last test bar ({X_test.index[-1]}), LONG output "
        f"{format_value(latest.attrs['prediction'])} = base "
        f"{format_value(latest.attrs['base_value'])} + contributions.",
        "SHAP shows what the model uses, not that the relation is causal or stable.",
    ]


def _prepared_features(
    run_dir: Path, run: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from perpml.rundir.datasets import load_prepared_datasets

    fs_id = run.get("feature_set_id")
    if not fs_id:
        raise ReportError("run.json has no feature_set_id")
    X_train, _, _, _, X_test, _, _ = load_prepared_datasets(
        str(fs_id), root=run_dir / "data"
    )
    return X_train, X_test


def _scaler_kind(config_text: str) -> str | None:
    """The run's feature scaler (``[models] scaler``), or None when unscaled/unknown."""
    import tomllib

    try:
        models = tomllib.loads(config_text).get("models", {})
    except tomllib.TOMLDecodeError:
        return None
    kind = models.get("scaler")
    if not models.get("apply_scaling", False) or kind in (None, "none"):
        return None
    return str(kind)


def _reproduces(model: Any, X: pd.DataFrame, saved: pd.DataFrame | None) -> str:
    """Return '' if the model reproduces its saved test probabilities on ``X``.

    The prepared datasets hold unscaled features; a model trained on scaled features
    would be explained on the wrong inputs, so SHAP runs only when the loaded model
    gives back the saved predictions.
    """
    if saved is None or not set(_PROBA_COLUMNS) <= set(saved.columns):
        return "no saved test probabilities to check the features against."
    common = X.index.intersection(saved.index)
    if len(common) == 0:
        return "prepared test features and saved predictions share no timestamps."
    sample = common[:: max(1, len(common) // 200)]
    try:
        proba = model.predict_proba(X.loc[sample])
    except (PerpmlError, ValueError) as exc:
        return f"model cannot predict on the prepared features ({exc})."
    expected = saved.loc[sample, list(_PROBA_COLUMNS)].to_numpy(np.float64)
    gap = float(np.max(np.abs(np.asarray(proba, dtype=np.float64) - expected)))
    if gap > 1e-4:
        return (
            f"the saved model does not reproduce its test probabilities on the "
            f"features given (max |Δp| = {gap:.3g}): the run's feature scaling "
            "cannot be rebuilt from config.toml and data/, so SHAP would explain the "
            "wrong inputs."
        )
    return ""


# ------------------------------------------------------------------- numbers
def _split_by_task(
    metrics: Mapping[str, Any],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    cls: dict[str, dict[str, float]] = {}
    reg: dict[str, dict[str, float]] = {}
    for name, entry in (metrics.get("models") or {}).items():
        test = dict(entry.get("test") or {})
        (cls if entry.get("task") == "classification" else reg)[name] = test
    return cls, reg


def _oracle(files: _RunFiles) -> float | None:
    block = files.metrics.get("oracle")
    if isinstance(block, Mapping) and is_number(block.get("accuracy")):
        return float(block["accuracy"])
    value = files.run.get("oracle_accuracy")
    return (
        float(value) if isinstance(value, (int, float)) and is_number(value) else None
    )


# ------------------------------------------------------------------- sections
def _sections(
    files: _RunFiles,
    reporter: ModelPerformanceReporter,
    classification: Mapping[str, Mapping[str, float]],
    regression: Mapping[str, Mapping[str, float]],
    oracle: float | None,
    audit: list[dict[str, Any]] | None = None,
    verdict: tuple[str, str] | None = None,
) -> list[Section]:
    """The answer first: audit, headline figures, metrics, walk-forward, flags."""
    sections: list[Section] = [audit_section(audit)]
    headline = headline_section(files.metrics)
    if headline is not None:
        sections.append(headline)
    sections.append(_metrics_section(files, classification, regression, oracle))
    if files.walk_forward is not None and not files.walk_forward.empty:
        if "kind" in files.walk_forward.columns:
            sections.append(walk_forward_zoo_section(files.walk_forward))
        else:  # runs written before the walk-forward covered the zoo
            sections.append(walk_forward_section(files.walk_forward))
    ranges = feature_range_section(files.run.get("feature_range_flags"))
    if ranges is not None:
        sections.append(ranges)
    return sections


def _reference_sections(files: _RunFiles) -> list[Section]:
    """Long lists, at the end and collapsed: run summary, features, versions, config."""
    run = files.run
    summary_keys = (
        "symbol",
        "interval",
        "source",
        "start",
        "end",
        "n_bars",
        "data_fingerprint",
        "feature_set_id",
        "n_features_built",
        "horizon",
        "embargo",
        "oracle_accuracy",
        "signal_strength",
    )
    summary = {k: run.get(k) for k in summary_keys if k in run}
    for key in ("start", "end"):
        if key in summary:
            summary[key] = format_time(summary[key])
    features = list(run.get("features") or [])
    summary["n_features_selected"] = len(features)
    tables = [kv_table("run-summary", summary, "Run")]
    splits = run.get("splits") or {}
    if splits:
        tables.append(
            Table(
                "splits",
                ["split", "start", "end", "n"],
                [
                    [
                        s,
                        format_time(b.get("start")),
                        format_time(b.get("end")),
                        format_cell(b.get("n"), "n"),
                    ]
                    for s, b in splits.items()
                ],
                caption="Chronological splits (bar open time; purged + embargoed)",
            )
        )
    if run.get("timings"):
        tables.append(kv_table("timings", run["timings"], "Timings (s)"))
    if run.get("stage_seconds"):
        tables.append(
            kv_table("stage-seconds", run["stage_seconds"], "Stage timings (s)")
        )
    out = [
        Section("summary", "Run summary", tables=tables, collapsed=True),
        Section(
            "features",
            f"Selected features ({len(features)})",
            notes=[", ".join(features)] if features else ["none recorded"],
            collapsed=True,
        ),
        _quality_section(run),
    ]
    if run.get("versions"):
        out.append(
            Section(
                "versions",
                "Library versions",
                tables=[kv_table("versions", run["versions"], "Library versions")],
                collapsed=True,
            )
        )
    if files.config_text:
        out.append(
            Section(
                "config",
                "Configuration (config.toml)",
                preformatted=files.config_text,
                collapsed=True,
            )
        )
    return out


def _quality_section(run: Mapping[str, Any]) -> Section:
    quality = dict(run.get("data_quality") or {})
    notes = [str(n) for n in quality.pop("notes", []) or []]
    tables = []
    nested = {
        k: v
        for k, v in quality.items()
        if isinstance(v, Mapping)
        and v
        and all(isinstance(x, Mapping) for x in v.values())
    }
    flat = {k: v for k, v in quality.items() if k not in nested}
    if flat:
        tables.append(kv_table("data-quality", flat, "Market data"))
    for key, block in nested.items():
        columns = sorted({c for row in block.values() for c in row})
        tables.append(
            Table(
                f"data-quality-{key}".replace("_", "-"),
                [key, *columns],
                [
                    [str(name), *[format_cell(row.get(c), c) for c in columns]]
                    for name, row in block.items()
                ],
                caption=key.replace("_", " ").capitalize(),
            )
        )
    skipped = run.get("skipped_features") or {}
    tables.append(
        Table(
            "skipped-features",
            ["feature", "reason"],
            [[str(k), str(v)] for k, v in skipped.items()] or [["—", "none skipped"]],
            caption=f"Skipped features ({len(skipped)})",
        )
    )
    return Section(
        "data-quality",
        "Data quality and skipped features",
        notes=notes,
        tables=tables,
        collapsed=True,
    )


def _metrics_section(
    files: _RunFiles,
    classification: Mapping[str, Mapping[str, float]],
    regression: Mapping[str, Mapping[str, float]],
    oracle: float | None,
) -> Section:
    baselines = files.metrics.get("baselines") or {}
    tables = []
    if classification or any("accuracy" in b for b in baselines.values()):
        rest = [c for c in CLASSIFICATION_COLUMNS if c != "accuracy"]
        # Key columns first (a narrow window scrolls the rest, never these).
        columns = [
            "model",
            "kind",
            "accuracy",
            "95 % interval",
            "n_eff",
            "vs oracle",
            *rest,
        ]
        rows = []
        chosen = (files.metrics.get("verdict") or {}).get("best_model")
        entries = [
            (n, "model (chosen)" if n == chosen else "model", m)
            for n, m in classification.items()
        ] + [(n, "baseline", b) for n, b in baselines.items() if "accuracy" in b]
        for name, kind, m in entries:
            acc = m.get("accuracy")
            ratio = float(acc) / oracle if oracle and is_number(acc) else None
            rows.append(
                [
                    name,
                    kind,
                    format_cell(acc, "accuracy"),
                    _interval_text(m.get("accuracy_ci"), m, "accuracy"),
                    format_value(m.get("n_eff"), 0),
                    format_ratio(ratio),
                ]
                + [format_cell(m.get(c), c) for c in rest]
            )
        if oracle is not None:
            block = files.metrics.get("oracle") or {}
            rows.append(
                [
                    "oracle",
                    "simulator truth",
                    format_value(oracle),
                    _interval_text(block.get("accuracy_ci"), block, "accuracy"),
                    format_value(block.get("n_eff"), 0),
                    "100 %",
                ]
                + ["—"] * len(rest)
            )
        tables.append(
            Table(
                "metrics-classification",
                columns,
                rows,
                caption="Classification, test set",
            )
        )
        per_class = [
            f"{k}_{c}" for c in _CLASS_NAMES for k in ("precision", "recall", "f1")
        ]
        tables.append(
            Table(
                "metrics-per-class",
                ["model", *per_class],
                [
                    [n, *[format_cell(m.get(c), c) for c in per_class]]
                    for n, m in classification.items()
                ],
                caption="Per-class precision / recall / F1, test set",
            )
        )
    reg_baselines = {n: b for n, b in baselines.items() if "rmse" in b}
    if regression or reg_baselines:
        rows = [
            [n, kind, *[format_cell(m.get(c), c) for c in REGRESSION_COLUMNS]]
            for kind, group in (("model", regression), ("baseline", reg_baselines))
            for n, m in group.items()
        ]
        tables.append(
            Table(
                "metrics-regression",
                ["model", "kind", *REGRESSION_COLUMNS],
                rows,
                caption="Regression (forward log return), test set",
            )
        )
    val_rows = []
    for name, entry in (files.metrics.get("models") or {}).items():
        val = entry.get("val") or {}
        key = "accuracy" if entry.get("task") == "classification" else "rmse"
        if key in val:
            test = (entry.get("test") or {}).get(key)
            val_rows.append([name, key, format_value(val[key]), format_value(test)])
    if val_rows:
        tables.append(
            Table(
                "metrics-val",
                ["model", "metric", "validation", "test"],
                val_rows,
                caption="Validation vs test (a large drop hints at overfitting to validation)",
            )
        )
    notes = [
        "95 % interval: Newey-West (HAC) with lags ≥ 3 × horizon, because overlapping "
        "labels make neighbouring rows dependent; n_eff is the number of independent "
        "rows giving the same precision (docs/metrics.md). The binomial "
        "sqrt(p(1-p)/n) would be 2-3× too narrow. Directional accuracy counts only "
        "rows where neither truth nor prediction is NEUTRAL (see "
        "directional_coverage). 'model (chosen)' is the validation-period choice.",
    ]
    return Section(
        "metrics", "Test-set metrics vs baselines", notes=notes, tables=tables
    )


def _interval_text(ci: Any, scores: Mapping[str, Any], key: str) -> str:
    """``low – high`` of a metric's 95 % interval (em dash when absent)."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(map(is_number, ci)):
        return f"{format_value(ci[0], 3)}–{format_value(ci[1], 3)}"
    return "—"


def _figure_sections(
    reporter: ModelPerformanceReporter,
    shap_notes: list[str],
    problems: list[str],
    importance_notes: list[str] | None = None,
) -> list[Section]:
    titles: tuple[tuple[str, str, list[str]], ...] = (
        ("classification", "Confusion matrices and ROC curves", []),
        ("regression", "Regression scatter and residuals", []),
        ("importance", "Feature importance (saved models)", importance_notes or []),
        ("shap", "SHAP interpretability", shap_notes),
        ("comparison", "Model comparison", ["Also written as model_comparison.csv."]),
    )
    out = []
    for key, title, notes in titles:
        figs = [embed_figure(f) for f in reporter.figures if f.section == key]
        if figs or notes:
            out.append(Section(key, title, notes=list(notes), figures=figs))
    if problems:
        out.append(Section("problems", "What could not be produced", notes=problems))
    return out
