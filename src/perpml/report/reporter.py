"""``ModelPerformanceReporter``: the seed's metrics + plots + HTML for a set of models.

Usage (the seed's API)::

    reporter = ModelPerformanceReporter(output_dir="reports")
    reporter.generate_classification_report(y_true, y_pred, y_proba, model_name="xgb")
    reporter.generate_regression_report(r_true, r_pred, model_name="xgb_reg")
    reporter.compare_models(reporter.metrics, metric_name="accuracy")
    reporter.generate_comparison_table(reporter.metrics)
    reporter.save_html_report("model_report.html")

Time semantics: every input is a test-set vector (prediction made at bar ``t``'s close,
label of bar ``t``); the reporter never refits anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.exceptions import ConfigError, ReportError
from perpml.report import plots
from perpml.report.html import (
    Figure,
    HtmlReport,
    Section,
    Table,
    format_cell,
    format_time,
    format_value,
    is_number,
    png_data_uri,
    render_html,
    write_text_atomic,
)

__all__ = [
    "CLASSIFICATION_COLUMNS",
    "REGRESSION_COLUMNS",
    "ModelPerformanceReporter",
    "ReportFigure",
    "accuracy_stderr",
    "best_baseline",
    "format_ratio",
    "honest_headline",
    "walk_forward_section",
    "embed_figure",
]

#: Metric columns shown for classifiers, in display order.
CLASSIFICATION_COLUMNS = (
    "accuracy",
    "balanced_accuracy",
    "directional_accuracy",
    "directional_coverage",
    "f1_macro",
    "log_loss",
    "roc_auc_ovr",
    "n",
)
#: Metric columns shown for regressors, in display order.
REGRESSION_COLUMNS = (
    "rmse",
    "mae",
    "r2",
    "directional_accuracy",
    "pearson_ic",
    "spearman_ic",
    "n",
)


# Walk-forward columns that describe the fold rather than score it.
_FOLD_INFO = {
    "fold", "n_train", "n_test", "n_purged", "n_fit", "n_early_stop", "n", "n_features"
}  # fmt: skip


@dataclass(frozen=True)
class ReportFigure:
    """A PNG written by the reporter: its section, title and whether it spans a row."""

    section: str
    title: str
    path: Path
    wide: bool = False


class ModelPerformanceReporter:
    """Collect test-set metrics and figures of several models; write plots and HTML.

    Parameters
    ----------
    output_dir : str or Path, default "reports"
        Directory for every PNG, ``model_comparison.csv`` and the HTML report.

    Attributes
    ----------
    metrics : dict of str to dict of str to float
        Model name → metrics of its last ``generate_*_report`` call (the seed passes
        it to :meth:`generate_comparison_table`).
    tasks : dict of str to str
        Model name → ``"classification"`` or ``"regression"``.
    figures : list of ReportFigure
        Every PNG written so far, in order; the HTML embeds them.
    """

    def __init__(self, output_dir: str | Path = "reports") -> None:
        self.output_dir = Path(output_dir)
        self.metrics: dict[str, dict[str, float]] = {}
        self.tasks: dict[str, str] = {}
        self.figures: list[ReportFigure] = []

    # --------------------------------------------------------------- reports
    def generate_classification_report(
        self,
        y_true: Any,
        y_pred: Any,
        y_proba: Any = None,
        class_names: Sequence[str] = ("SHORT", "NEUTRAL", "LONG"),
        model_name: str = "model",
    ) -> dict[str, float]:
        """Metrics, confusion matrix and ROC curves of one classifier.

        Parameters
        ----------
        y_true, y_pred : array-like of shape (n_bars,)
            Class codes ``0 .. len(class_names)-1`` (0 SHORT, 1 NEUTRAL, 2 LONG).
        y_proba : array-like of shape (n_bars, n_classes), optional
            Class probabilities; without it there is no ROC plot.
        class_names : sequence of str, default ("SHORT", "NEUTRAL", "LONG")
        model_name : str
            Used in titles and file names (``confusion_matrix_<slug>.png``,
            ``roc_curves_<slug>.png``).

        Returns
        -------
        dict of str to float
            :func:`perpml.evaluation.metrics.classification_metrics`; also stored in
            ``self.metrics[model_name]``.
        """
        from perpml.evaluation.metrics import classification_metrics, confusion_frame

        labels = tuple(range(len(class_names)))
        metrics = classification_metrics(
            y_true, y_pred, y_proba, labels=labels, class_names=tuple(class_names)
        )
        slug = plots.slugify(model_name)
        counts = confusion_frame(
            y_true, y_pred, labels=labels, class_names=tuple(class_names)
        ).to_numpy()
        self._add(
            "classification",
            f"Confusion matrix — {model_name}",
            plots.plot_confusion_matrix(
                counts,
                class_names,
                title=f"Confusion matrix — {model_name} (test set)",
                path=self.output_dir / f"confusion_matrix_{slug}.png",
            ),
        )
        if y_proba is not None:
            self._add(
                "classification",
                f"ROC curves — {model_name}",
                plots.plot_roc_curves(
                    np.asarray(y_true).astype(np.int64),
                    np.asarray(y_proba, dtype=np.float64),
                    class_names,
                    title=f"ROC one-vs-rest — {model_name} (test set)",
                    path=self.output_dir / f"roc_curves_{slug}.png",
                ),
            )
        self.metrics[model_name] = metrics
        self.tasks[model_name] = "classification"
        return metrics

    def generate_regression_report(
        self, y_true: Any, y_pred: Any, model_name: str = "model"
    ) -> dict[str, float]:
        """Metrics, predicted-vs-actual scatter and residual plots of one regressor.

        Parameters
        ----------
        y_true, y_pred : array-like of shape (n_bars,)
            Realised and forecast forward log returns of the same bars.
        model_name : str
            Used in titles and file names (``regression_scatter_<slug>.png``,
            ``residuals_<slug>.png``).

        Returns
        -------
        dict of str to float
            :func:`perpml.evaluation.metrics.regression_metrics`; also stored in
            ``self.metrics[model_name]``.
        """
        from perpml.evaluation.metrics import regression_metrics

        metrics = regression_metrics(y_true, y_pred)
        slug = plots.slugify(model_name)
        t = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(y_pred, dtype=np.float64)
        self._add(
            "regression",
            f"Predicted vs actual — {model_name}",
            plots.plot_regression_scatter(
                t,
                p,
                title=f"Predicted vs actual — {model_name} (test set)",
                path=self.output_dir / f"regression_scatter_{slug}.png",
            ),
        )
        self._add(
            "regression",
            f"Residuals — {model_name}",
            wide=True,
            path=plots.plot_residuals(
                t,
                p,
                title=f"Residuals — {model_name} (test set)",
                path=self.output_dir / f"residuals_{slug}.png",
            ),
        )
        self.metrics[model_name] = metrics
        self.tasks[model_name] = "regression"
        return metrics

    def plot_feature_importance(
        self,
        feature_importance_df: pd.DataFrame,
        model_name: str,
        top_n: int = 20,
        *,
        method: str = "",
    ) -> Path:
        """Bar chart of a model's top features → ``feature_importance_<slug>.png``.

        Parameters
        ----------
        feature_importance_df : DataFrame with columns ``feature``, ``importance``
            E.g. ``model.feature_importance()``.
        method : str, optional
            How the importance was measured (shown in the title), e.g. "total gain".
        """
        if not isinstance(top_n, int) or top_n < 1:
            raise ConfigError(f"`top_n` must be a positive int, got {top_n!r}.")
        how = f" — {method}" if method else ""
        path = plots.plot_feature_importance(
            feature_importance_df,
            title=f"Feature importance — {model_name} (top {top_n}){how}",
            path=self.output_dir
            / f"feature_importance_{plots.slugify(model_name)}.png",
            top_n=top_n,
        )
        self._add("importance", f"Feature importance — {model_name}", path)
        return path

    def compare_models(
        self,
        model_metrics: Mapping[str, Mapping[str, float]],
        metric_name: str = "accuracy",
        *,
        references: Mapping[str, float] | None = None,
    ) -> Path:
        """Bar chart of ``metric_name`` across models → ``model_comparison_<metric>.png``.

        Parameters
        ----------
        model_metrics : mapping of model name to metrics
            Models without ``metric_name`` are left out.
        references : mapping of label to value, optional
            Dashed reference lines, e.g. the best baseline and the oracle.
        """
        values = {
            name: float(m[metric_name])
            for name, m in model_metrics.items()
            if metric_name in m
        }
        if not values:
            raise ReportError(
                f"No model has the metric {metric_name!r} (models: "
                f"{sorted(model_metrics)}). Pass a metric they share, e.g. 'accuracy' "
                "for classifiers or 'rmse' for regressors."
            )
        path = plots.plot_model_comparison(
            values,
            metric_name=metric_name,
            path=self.output_dir / f"model_comparison_{plots.slugify(metric_name)}.png",
            references=references,
        )
        self._add("comparison", f"Model comparison — {metric_name}", path)
        return path

    def generate_comparison_table(
        self, model_metrics: Mapping[str, Mapping[str, float]]
    ) -> pd.DataFrame:
        """One row per model, one column per metric; also writes ``model_comparison.csv``.

        Returns
        -------
        DataFrame
            Index ``model`` (input order); columns = union of metric names, classifier
            columns first; NaN where a model lacks a metric.
        """
        if not model_metrics:
            raise ReportError(
                "`model_metrics` is empty; run generate_classification_report / "
                "generate_regression_report first or pass {name: metrics}."
            )
        table = pd.DataFrame.from_dict(
            {name: dict(m) for name, m in model_metrics.items()}, orient="index"
        )
        preferred = [c for c in CLASSIFICATION_COLUMNS + REGRESSION_COLUMNS]
        ordered = [c for c in dict.fromkeys(preferred) if c in table.columns]
        table = table[ordered + [c for c in table.columns if c not in ordered]]
        table.index.name = "model"
        write_text_atomic(self.output_dir / "model_comparison.csv", table.to_csv())
        return table

    def save_html_report(self, filename: str = "model_report.html") -> Path:
        """Write a self-contained HTML page with every metric and figure so far.

        Returns
        -------
        Path
            ``output_dir / filename``.
        """
        if not self.metrics and not self.figures:
            raise ReportError(
                "Nothing to report: call generate_classification_report / "
                "generate_regression_report before save_html_report."
            )
        report = HtmlReport(
            title="Model performance report",
            subtitle=f"{len(self.metrics)} model(s), test set",
            headline=_simple_headline(self.metrics, self.tasks),
            headline_kind="neutral",
            sections=self.sections(),
            footer=f"Generated by perpml on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        )
        return write_text_atomic(self.output_dir / filename, render_html(report))

    # --------------------------------------------------------------- helpers
    def metrics_tables(self) -> list[Table]:
        """Test-set metric tables (classifiers, regressors) of ``self.metrics``."""
        tables = []
        for task, columns, table_id in (
            ("classification", CLASSIFICATION_COLUMNS, "metrics-classification"),
            ("regression", REGRESSION_COLUMNS, "metrics-regression"),
        ):
            names = [n for n, t in self.tasks.items() if t == task]
            if names:
                rows = [
                    [n] + [format_cell(self.metrics[n].get(c), c) for c in columns]
                    for n in names
                ]
                tables.append(Table(table_id, ["model", *columns], rows))
        return tables

    def sections(self) -> list[Section]:
        """HTML sections: metrics tables, then figures grouped by kind."""
        out = [Section("metrics", "Test-set metrics", tables=self.metrics_tables())]
        titles = {
            "classification": "Confusion matrices and ROC curves",
            "regression": "Regression scatter and residuals",
            "importance": "Feature importance",
            "shap": "SHAP",
            "comparison": "Model comparison",
        }
        for key, title in titles.items():
            figs = [f for f in self.figures if f.section == key]
            if figs:
                out.append(Section(key, title, figures=[embed_figure(f) for f in figs]))
        return out

    def _add(self, section: str, title: str, path: Path, wide: bool = False) -> None:
        # A re-run for the same model replaces its figure instead of duplicating it.
        self.figures = [f for f in self.figures if f.path != path]
        self.figures.append(ReportFigure(section, title, path, wide))


def embed_figure(figure: ReportFigure) -> Figure:
    """Turn a written PNG into an embedded HTML figure."""
    return Figure(
        figure.title,
        png_data_uri(figure.path),
        figure.path.name,
        wide=figure.wide,
    )


def _simple_headline(
    metrics: Mapping[str, Mapping[str, float]], tasks: Mapping[str, str]
) -> str:
    classifiers = {
        n: m["accuracy"] for n, m in metrics.items() if tasks.get(n) == "classification"
    }
    if not classifiers:
        return f"{len(metrics)} model(s) evaluated on the test set."
    best = max(classifiers, key=lambda n: classifiers[n])
    return (
        f"Best classifier {best}: accuracy {format_value(classifiers[best])} on the "
        "test set (compare with the baselines before trusting it)."
    )


def best_baseline(baselines: Mapping[str, Mapping[str, Any]]) -> tuple[str, float]:
    """(name, accuracy) of the most accurate baseline; ("", nan) when none has one."""
    scored = {
        n: b["accuracy"] for n, b in baselines.items() if is_number(b.get("accuracy"))
    }
    if not scored:
        return ("", float("nan"))
    best = max(scored, key=lambda n: scored[n])
    return (best, float(scored[best]))


def accuracy_stderr(p: float, n: float) -> float:
    """Binomial standard error of an accuracy ``p`` measured on ``n`` rows."""
    return math.sqrt(p * (1.0 - p) / n) if n and n > 0 else float("nan")


def honest_headline(
    classification: Mapping[str, Mapping[str, float]],
    regression: Mapping[str, Mapping[str, float]],
    best_baseline: tuple[str, float],
    oracle: float | None,
) -> tuple[str, str]:
    """The report's one-line verdict and its kind (``good``/``bad``/``neutral``).

    Compares the best classifier's test accuracy with the best baseline and the
    oracle; a margin under two binomial standard errors is called noise.
    """
    scored = {
        n: m["accuracy"]
        for n, m in classification.items()
        if is_number(m.get("accuracy"))
    }
    if not scored:
        if regression:
            return (
                f"{len(regression)} regressor(s) evaluated; no classifier.",
                "neutral",
            )
        return ("No model metrics in this run.", "neutral")
    best = max(scored, key=lambda n: scored[n])
    acc = float(scored[best])
    n = float(classification[best].get("n", float("nan")))
    se = accuracy_stderr(acc, n)
    oracle_text = ""
    if oracle:
        oracle_text = (
            f", oracle {format_value(oracle)} → {acc / oracle:.0%} of oracle".replace(
                "%", " %"
            )
        )
    base_name, base_acc = best_baseline
    if not base_name:
        return (
            f"Best model {best}: accuracy {format_value(acc)} (±{se:.3f} s.e., "
            f"n={int(n) if is_number(n) else '?'}){oracle_text}; no baseline recorded.",
            "neutral",
        )
    if acc <= base_acc:
        return (
            "No model beats the best baseline on the test set: best model "
            f"{best} accuracy {format_value(acc)} vs {base_name} "
            f"{format_value(base_acc)}{oracle_text}.",
            "bad",
        )
    within_noise = (acc - base_acc) < 2 * se
    noise = (
        f" The margin ({acc - base_acc:.3f}) is within 2 standard errors "
        f"(±{se:.3f}, n={int(n)}): not distinguishable from the baseline."
        if within_noise
        else ""
    )
    return (
        f"Best model {best}: accuracy {format_value(acc)} vs {base_name} "
        f"{format_value(base_acc)}{oracle_text}.{noise}",
        "neutral" if within_noise else "good",
    )


def format_ratio(value: float | None) -> str:
    """Share as a percentage with a thin space, e.g. ``82 %``."""
    return "—" if value is None else f"{value:.0%}".replace("%", " %")


def walk_forward_section(walk: pd.DataFrame) -> Section:
    """Fold table of ``walk_forward.csv`` with a mean ± std footer per metric."""
    columns = list(walk.columns)
    rows = [[_wf_cell(v, c) for c, v in row.items()] for _, row in walk.iterrows()]
    numeric = [
        c
        for c in columns
        if c not in _FOLD_INFO and pd.api.types.is_numeric_dtype(walk[c])
    ]
    footer = [
        [
            "mean ± std"
            if i == 0
            else (
                f"{walk[c].mean():.4f} ± {walk[c].std(ddof=1):.4f}"
                if c in numeric
                else ""
            )
            for i, c in enumerate(columns)
        ]
    ]
    return Section(
        "walk-forward",
        "Walk-forward validation",
        notes=[
            f"{len(walk)} folds; mean ± sample std over folds. Fold-to-fold spread is "
            "the honest size of the uncertainty in any single test-set number."
        ],
        tables=[Table("walk-forward-table", columns, rows, footer=footer)],
    )


def _wf_cell(value: Any, column: str) -> str:
    if isinstance(value, str) and ("start" in column or "end" in column):
        return format_time(value)
    if column in _FOLD_INFO and is_number(value):
        return str(int(value))
    return format_cell(value, column)
