"""Matplotlib figures of the report, one function per seed plot.

Every function takes plain arrays/DataFrames, draws on a fresh figure (backend
``Agg``, so no display is needed), saves it atomically to ``path`` and closes it, so a
long report never accumulates open figures. Plots are small (DPI 100) because they are
embedded as base64 in a single HTML file.

Time semantics: none of these functions looks at timestamps; callers pass test-set rows
(predictions made at a bar's close next to that bar's label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: backend first
import numpy as np
import pandas as pd
import seaborn as sns

from perpml.exceptions import ReportError
from perpml.rundir.figures import DPI, save_figure

__all__ = [
    "DPI",
    "plot_confusion_matrix",
    "plot_feature_importance",
    "plot_model_comparison",
    "plot_regression_scatter",
    "plot_residuals",
    "plot_roc_curves",
    "save_figure",
    "slugify",
]

#: Resolution of every PNG; ~100 keeps a 10-figure report under a few MB.

_CLASS_COLORS = ("#c0392b", "#7f8c8d", "#27ae60")


def slugify(name: str) -> str:
    """Return a file-name-safe slug: ``"XGBoost Classifier"`` -> ``"xgboost_classifier"``."""
    chars = [c.lower() if c.isalnum() else "_" for c in name.strip()]
    slug = "_".join(part for part in "".join(chars).split("_") if part)
    return slug or "model"


def plot_confusion_matrix(
    counts: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str,
    path: Path,
) -> Path:
    """Heatmap of a confusion matrix with counts and row-normalised shares.

    Parameters
    ----------
    counts : ndarray of shape (n_classes, n_classes)
        Rows = true class, columns = predicted class.
    class_names : sequence of str
        Names in class-code order.
    title, path
        Figure title and output PNG path.
    """
    counts = np.asarray(counts, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    # Row shares = recall per true class; they make imbalanced classes comparable.
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    labels = np.array(
        [
            [f"{c}\n{s:.0%}" for c, s in zip(row_c, row_s, strict=True)]
            for row_c, row_s in zip(counts, shares, strict=True)
        ]
    )
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    sns.heatmap(
        shares,
        annot=labels,
        fmt="",
        cmap="Blues",
        vmin=0.0,
        vmax=1.0,
        cbar_kws={"label": "share of true class"},
        xticklabels=list(class_names),
        yticklabels=list(class_names),
        ax=ax,
    )
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_roc_curves(
    y_true: np.ndarray,
    y_proba: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str,
    path: Path,
) -> Path:
    """One-vs-rest ROC curve per class, with AUC in the legend.

    Parameters
    ----------
    y_true : ndarray of shape (n_bars,)
        Integer class codes ``0 .. n_classes-1``.
    y_proba : ndarray of shape (n_bars, n_classes)
        Predicted probabilities, columns in class-code order.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true = np.asarray(y_true).astype(np.int64)
    y_proba = np.asarray(y_proba, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    for k, name in enumerate(class_names):
        positive = y_true == k
        if positive.all() or not positive.any():
            # AUC is undefined for a class that is absent (or alone) in the test set.
            ax.plot([], [], label=f"{name}: absent from test set")
            continue
        fpr, tpr, _ = roc_curve(positive, y_proba[:, k])
        auc = roc_auc_score(positive, y_proba[:, k])
        color = _CLASS_COLORS[k] if len(class_names) == 3 else None
        ax.plot(fpr, tpr, color=color, lw=1.6, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="#999999", lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_regression_scatter(
    y_true: np.ndarray, y_pred: np.ndarray, *, title: str, path: Path
) -> Path:
    """Predicted vs actual scatter with the identity line and the OLS fit.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_bars,)
        Realised and forecast forward returns of the same bars.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.scatter(y_true, y_pred, s=6, alpha=0.35, color="#2c7fb8", edgecolors="none")
    lo = float(np.nanmin([y_true.min(), y_pred.min()]))
    hi = float(np.nanmax([y_true.max(), y_pred.max()]))
    ax.plot([lo, hi], [lo, hi], ls="--", color="#999999", lw=1, label="perfect")
    if len(y_true) >= 2 and np.ptp(y_true) > 0:
        slope, intercept = np.polyfit(y_true, y_pred, 1)
        xs = np.array([lo, hi])
        ax.plot(xs, intercept + slope * xs, color="#d95f0e", lw=1.4, label="OLS fit")
    ax.axhline(0, color="#cccccc", lw=0.8)
    ax.axvline(0, color="#cccccc", lw=0.8)
    ax.locator_params(axis="both", nbins=6)
    ax.set_xlabel("Actual forward return")
    ax.set_ylabel("Predicted forward return")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_residuals(
    y_true: np.ndarray, y_pred: np.ndarray, *, title: str, path: Path
) -> Path:
    """Residuals vs prediction (left) and the residual histogram (right)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    resid = y_true - y_pred
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.8))
    ax1.scatter(y_pred, resid, s=6, alpha=0.35, color="#2c7fb8", edgecolors="none")
    ax1.axhline(0, color="#d95f0e", lw=1)
    # Small log returns get long tick labels; fewer ticks keep them from overlapping.
    ax1.locator_params(axis="x", nbins=5)
    ax2.locator_params(axis="x", nbins=5)
    ax1.set_xlabel("Predicted forward return")
    ax1.set_ylabel("Residual (actual - predicted)")
    ax1.set_title("Residuals vs prediction")
    ax2.hist(resid, bins=50, color="#2c7fb8", alpha=0.8)
    ax2.axvline(0, color="#d95f0e", lw=1)
    ax2.set_xlabel("Residual")
    ax2.set_ylabel("Count")
    ax2.set_title("Residual distribution")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_feature_importance(
    importance: pd.DataFrame, *, title: str, path: Path, top_n: int = 20
) -> Path:
    """Horizontal bar chart of the ``top_n`` most important features.

    Parameters
    ----------
    importance : DataFrame with columns ``feature`` and ``importance``
        As returned by ``BaseModel.feature_importance()``; sorted here anyway.
    """
    missing = {"feature", "importance"} - set(importance.columns)
    if missing:
        raise ReportError(
            f"Feature importance must have columns 'feature' and 'importance', "
            f"missing {sorted(missing)} (got {list(importance.columns)}). Pass "
            "model.feature_importance()."
        )
    top = importance.sort_values("importance", ascending=False).head(top_n)
    fig, ax = plt.subplots(figsize=(7.0, max(3.2, 0.28 * len(top) + 1.2)))
    ax.barh(top["feature"].astype(str)[::-1], top["importance"][::-1], color="#2c7fb8")
    ax.set_xlabel("Importance")
    ax.set_ylabel("Feature")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_model_comparison(
    values: Mapping[str, float],
    *,
    metric_name: str,
    path: Path,
    references: Mapping[str, float] | None = None,
) -> Path:
    """Bar chart of one metric per model, with baselines/oracle as reference lines.

    Parameters
    ----------
    values : mapping of model name to metric value
        NaN values are drawn as missing bars.
    references : mapping of label to value, optional
        Drawn as dashed horizontal lines (e.g. ``{"majority": 0.38, "oracle": 0.5}``).
    """
    names = list(values)
    heights = [float(values[n]) for n in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names) + 2.0), 4.0))
    bars = ax.bar(names, heights, color="#2c7fb8")
    for bar, h in zip(bars, heights, strict=True):
        if np.isfinite(h):
            ax.annotate(
                f"{h:.3f}",
                (bar.get_x() + bar.get_width() / 2, h),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    palette = sns.color_palette("dark", max(1, len(references or {})))
    for (label, ref), color in zip((references or {}).items(), palette, strict=False):
        if ref is not None and np.isfinite(ref):
            ax.axhline(ref, ls="--", lw=1.2, color=color, label=f"{label} {ref:.3f}")
    if references:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("Model")
    ax.set_ylabel(metric_name)
    ax.set_title(f"Model comparison: {metric_name} (test set)")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return save_figure(fig, path)
