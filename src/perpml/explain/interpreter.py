"""SHAP explanations of fitted perpml models (or raw fitted library models).

Which explainer runs
--------------------
* **XGBoost / LightGBM / CatBoost**: the boosters' native exact TreeSHAP contributions
  (``pred_contribs=True`` / ``pred_contrib=True`` / ``get_feature_importance(
  type="ShapValues")``). They equal ``shap.TreeExplainer``'s path-dependent values (a
  test checks it) and are several times faster. Values are in the booster's raw
  output space: log-odds (softmax margins) per class for classifiers, target units
  for regressors.
* **other scikit-learn tree ensembles**: ``shap.TreeExplainer``.
* **anything else with predict / predict_proba** (the MLP regressor, an ensemble):
  ``shap.PermutationExplainer`` over a seeded background sample of ``X_train``, in
  probability space for classifiers. It is slow, so it explains at most
  ``max_agnostic_rows`` rows.
* **LSTMForecaster**: ``shap.PermutationExplainer`` on the features of the bar being
  predicted (its window's last row), the window's earlier ``lookback - 1`` rows held
  at their real values; first output (``target_return``), target units. Attributions
  are conditional on the bar's history (earlier rows get none) and each bar has its
  own base value (``base_values_``). Details and cost: :mod:`perpml.explain._sequence`.

Time semantics: SHAP describes what the fitted model does on the rows you pass; the
rows are the test period's features (known at each bar's close). Nothing is refitted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from perpml.exceptions import (
    ConfigError,
    FeatureError,
    InsufficientDataError,
    ReportError,
)
from perpml.rundir.figures import save_figure

__all__ = ["ModelInterpreter"]

_THREE_CLASSES = ("SHORT", "NEUTRAL", "LONG")


class ModelInterpreter:
    """Global and single-prediction SHAP explanations with the seed's plots.

    Parameters
    ----------
    model : perpml BaseModel or fitted xgboost / lightgbm / catboost / sklearn model
        A perpml model is explained through ``model.native_model_`` (trees) or its
        ``predict``/``predict_proba`` (others); feature names come from
        ``model.feature_names_in_``.
    X_train : DataFrame of shape (n_bars, n_features), indexed by bar open time, UTC
        The model's training features. Used as the background sample of the
        model-agnostic explainer and for the feature order when the model has none.
    output_dir : str or Path, default "reports"
        Where ``shap_summary.png``, ``shap_importance_bar.png`` and
        ``shap_force_plot.png`` are written.
    background_size : int, default 100
        Rows of ``X_train`` (seeded sample) used as the agnostic explainer's background.
    random_state : int, default 42
        Seed of every row sample.
    max_rows : int, default 2000
        At most this many test rows are explained (seeded sample, kept in time order).
    max_agnostic_rows : int, default 100
        Lower cap for the (slow) model-agnostic explainers (MLP, ensembles, LSTM).

    Attributes
    ----------
    shap_values_ : ndarray of shape (n_rows, n_features) or (n_rows, n_features, n_classes)
        Values of the last :meth:`explain_predictions` call.
    expected_value_ : ndarray of shape (n_outputs,)
        Base value(s) the contributions add up from (for the LSTM: the mean over the
        explained bars of their own base values).
    base_values_ : ndarray of shape (n_rows,) or (n_rows, n_classes)
        Base value of each explained row: ``shap_values_.sum(axis=1) + base_values_``
        is the explained output. Constant over rows except for the LSTM.
    explained_index_ : Index
        Bar open times of the explained rows.
    explainer_ : str
        Which method produced the values (e.g. ``"xgboost native TreeSHAP"``).
    output_space : str
        Units of the values (``"log-odds"``, ``"probability"``, ``"target units"``).
    skip_reason_ : None
        Kept for compatibility: every supported model is explained now (the LSTM
        used to be skipped).
    """

    def __init__(
        self,
        model: Any,
        X_train: pd.DataFrame,
        *,
        output_dir: str | Path = "reports",
        background_size: int = 100,
        random_state: int = 42,
        max_rows: int = 2000,
        max_agnostic_rows: int = 100,
    ) -> None:
        if not isinstance(X_train, pd.DataFrame):
            raise ConfigError(
                f"`X_train` must be a DataFrame of features, got "
                f"{type(X_train).__name__}. Pass the training feature frame."
            )
        for name, value in (
            ("background_size", background_size),
            ("max_rows", max_rows),
            ("max_agnostic_rows", max_agnostic_rows),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"`{name}` must be a positive int, got {value!r}.")
        self.model = model
        self.X_train = X_train
        self.output_dir = Path(output_dir)
        self.background_size = background_size
        self.random_state = random_state
        self.max_rows = max_rows
        self.max_agnostic_rows = max_agnostic_rows
        self.feature_names_ = _feature_names(model, X_train)
        self.task_ = _task(model)
        self.skip_reason_: str | None = None
        self._sequence = _is_sequence_model(model)
        self.explainer_ = ""
        self.output_space = ""
        self.class_names_: list[str] = []

    # ------------------------------------------------------------------ public API
    def explain_predictions(
        self, X_test: pd.DataFrame, max_display: int = 20
    ) -> pd.DataFrame:
        """Global SHAP importance on (a capped sample of) ``X_test`` and its plots.

        Parameters
        ----------
        X_test : DataFrame of shape (n_bars, n_features), indexed by bar open time
            Rows to explain (normally the test period). At most ``max_rows`` rows are
            used (seeded sample, time order kept).
        max_display : int, default 20
            Features shown in the plots; the returned frame lists every feature.

        Returns
        -------
        DataFrame
            ``feature``, ``mean_abs_shap_<CLASS>`` per class (multi-class only) and
            ``mean_abs_shap`` (mean over classes of the per-class mean |SHAP|), sorted
            by ``mean_abs_shap`` descending. Writes ``shap_summary.png`` (beeswarm) and
            ``shap_importance_bar.png`` into ``output_dir``.

        Notes
        -----
        For an LSTMForecaster only bars with ``lookback`` consecutive bars ending at
        them inside ``X_test`` can be explained (the first ``lookback - 1`` rows
        cannot); the cap samples among those bars.
        """
        native = getattr(self.model, "native_model_", self.model)
        cap = self.max_rows
        if self._sequence or _library(native) == "other":
            cap = min(cap, self.max_agnostic_rows)
        if self._sequence:
            X_all = self._prepare(X_test, cap=None)
            values, rows_base, positions = self._sequence_values(X_all, cap)
            X = X_all.iloc[positions]
            base = np.array([rows_base.mean()])
        else:
            X = self._prepare(X_test, cap=cap)
            values, base = self._shap_values(X)
            rows_base = np.broadcast_to(base, (len(X), len(base))).copy()
            rows_base = rows_base[:, 0] if values.ndim == 2 else rows_base
        self.shap_values_ = values
        self.expected_value_ = base
        self.base_values_ = rows_base
        self.explained_index_ = X.index
        self.explained_data_ = X
        table = self._importance_table(values)
        self._plot_summary(values, X, max_display)
        self._plot_bar(table, max_display)
        return table

    def explain_single_prediction(
        self, X_instance: pd.DataFrame | pd.Series, class_idx: int = 2
    ) -> pd.DataFrame:
        """Explain one bar's prediction and write ``shap_force_plot.png`` (waterfall).

        Parameters
        ----------
        X_instance : DataFrame with one row, or Series indexed by feature
            The bar to explain; a multi-row frame uses its **last** row (the latest bar).
            For an LSTMForecaster pass a frame whose last ``lookback`` rows are
            consecutive bars ending at the bar to explain (its window's history).
        class_idx : int, default 2
            Class whose output is explained (0 SHORT, 1 NEUTRAL, 2 LONG). Ignored for
            single-output models (regressors).

        Returns
        -------
        DataFrame
            ``feature``, ``value`` (the bar's feature value) and ``shap_value``, sorted
            by |shap_value| descending; ``attrs`` holds ``base_value``,
            ``prediction`` (base + sum of contributions, in :attr:`output_space`),
            ``class_idx`` and ``output_space``.
        """
        if isinstance(X_instance, pd.Series):
            if self._sequence:
                raise InsufficientDataError(
                    "An LSTMForecaster forecast depends on the bar's window: pass a "
                    f"DataFrame whose last {self.model.params_['lookback']} rows are "
                    "consecutive bars ending at the bar to explain, not a single "
                    "Series."
                )
            X_instance = X_instance.to_frame().T
        if self._sequence:
            X_all = self._prepare(X_instance, cap=None)
            values, rows_base, _ = self._sequence_values(X_all, None)
            X = X_all.iloc[[-1]]
            base = rows_base[:1]
        else:
            X = self._prepare(X_instance, cap=None).iloc[[-1]]
            values, base = self._shap_values(X)
        if values.ndim == 3:
            n_classes = values.shape[2]
            if not isinstance(class_idx, (int, np.integer)) or not (
                0 <= class_idx < n_classes
            ):
                raise ConfigError(
                    f"`class_idx` must be an int in [0, {n_classes - 1}] "
                    f"({', '.join(self.class_names_)}), got {class_idx!r}."
                )
            contrib, base_value = values[0, :, class_idx], float(base[class_idx])
            label = self.class_names_[class_idx]
        else:
            contrib, base_value, label = values[0], float(base[0]), "prediction"
        frame = pd.DataFrame(
            {
                "feature": self.feature_names_,
                "value": X.iloc[0].to_numpy(dtype=np.float64),
                "shap_value": contrib.astype(np.float64),
            }
        )
        frame = frame.reindex(
            frame["shap_value"].abs().sort_values(ascending=False).index
        ).reset_index(drop=True)
        frame.attrs.update(
            base_value=base_value,
            prediction=base_value + float(contrib.sum()),
            class_idx=int(class_idx) if values.ndim == 3 else None,
            output_space=self.output_space,
        )
        self._plot_waterfall(contrib, base_value, X.iloc[0], label, X.index[0])
        return frame

    # ------------------------------------------------------------------ internals
    def _prepare(self, X: pd.DataFrame, cap: int | None) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise ConfigError(
                f"`X` must be a DataFrame of features, got {type(X).__name__}."
            )
        missing = [f for f in self.feature_names_ if f not in X.columns]
        if missing:
            raise FeatureError(
                f"The model was trained on {len(self.feature_names_)} features but X "
                f"lacks {len(missing)} of them (first: {missing[:5]}). Pass the same "
                "feature columns the model was trained on."
            )
        if len(X) == 0:
            raise ConfigError("`X` has no rows; pass at least one bar to explain.")
        X = X[self.feature_names_]
        if cap is not None and len(X) > cap:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(len(X), size=cap, replace=False))
            X = X.iloc[rows]
        return X

    def _shap_values(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return (values, base) with values (n, F) or (n, F, K) and base (K,) or (1,)."""
        native = getattr(self.model, "native_model_", self.model)
        kind = _library(native)
        if kind == "xgboost":
            raw, method = _xgb_contribs(native, X), "xgboost native TreeSHAP"
        elif kind == "lightgbm":
            raw, method = _lgb_contribs(native, X), "lightgbm native TreeSHAP"
        elif kind == "catboost":
            raw, method = _cat_contribs(native, X), "catboost native TreeSHAP"
        elif kind == "sklearn_tree":
            return self._tree_explainer(native, X)
        else:
            return self._agnostic(X)
        # raw: (n, F+1) or (n, K, F+1); the last column is the bias (expected value).
        if raw.ndim == 3:
            values = np.transpose(raw[:, :, :-1], (0, 2, 1))
            base = raw[0, :, -1]
            self.class_names_ = _class_names(values.shape[2], self.model)
        else:
            values, base = raw[:, :-1], raw[:1, -1]
        self.explainer_ = method
        self.output_space = (
            "log-odds (raw margin)"
            if self.task_ == "classification"
            else "target units"
        )
        return values.astype(np.float64), np.asarray(base, dtype=np.float64)

    def _tree_explainer(
        self, native: Any, X: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray]:
        shap = _import_shap()

        explanation = shap.TreeExplainer(native)(X)
        values = np.asarray(explanation.values, dtype=np.float64)
        base = np.atleast_1d(np.asarray(explanation.base_values, dtype=np.float64))
        base = base[0] if base.ndim == 2 else base[:1]
        if values.ndim == 3:
            self.class_names_ = _class_names(values.shape[2], self.model)
        self.explainer_ = "shap.TreeExplainer"
        self.output_space = (
            "probability" if self.task_ == "classification" else "target units"
        )
        return values, np.atleast_1d(base)

    def _background(self, size: int) -> pd.DataFrame:
        """Seeded sample of ``size`` complete training rows (fewer if X_train is short)."""
        rng = np.random.default_rng(self.random_state)
        train = self.X_train[self.feature_names_].dropna()
        if len(train) == 0:
            raise ReportError(
                "`X_train` has no complete row to use as SHAP background. Pass "
                "training features without all-NaN rows."
            )
        n_bg = min(size, len(train))
        return train.iloc[np.sort(rng.choice(len(train), n_bg, replace=False))]

    def _sequence_values(
        self, X: pd.DataFrame, cap: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LSTM SHAP of bars of ``X`` with a full window.

        ``cap=None`` explains the last row of ``X`` only (it must have a full window);
        otherwise at most ``cap`` such bars (seeded sample, time order kept). Returns
        (values (n, F), per-bar base values (n,), positions in ``X``).
        """
        from perpml.explain import _sequence

        positions, forecasts = _sequence.window_positions(
            self.model, X, cap=cap, seed=self.random_state
        )
        size = min(self.background_size, _sequence.MAX_SEQUENCE_BACKGROUND)
        background = self._background(size).to_numpy(np.float64)
        result = _sequence.explain_last_rows(
            self.model,
            X,
            positions,
            forecasts,
            background,
            shap=_import_shap(),
            seed=self.random_state,
            feature_names=self.feature_names_,
        )
        target = self.model.target_names_[0]
        self.explainer_ = (
            f"shap.PermutationExplainer (LSTM {target}: current bar's features, "
            "window history held fixed)"
        )
        self.output_space = "target units"
        return result.values, result.base_values, positions

    def _agnostic(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        shap = _import_shap()

        predict = _predict_function(self.model, self.task_, self.feature_names_)
        background = self._background(self.background_size)
        n_bg = len(background)
        masker = shap.maskers.Independent(background.to_numpy(np.float64), n_bg)
        explainer = shap.PermutationExplainer(
            predict, masker, seed=self.random_state, feature_names=self.feature_names_
        )
        # One antithetic permutation (2F+1 evaluations) per row: exact for additive
        # models and keeps the MLP explanation within seconds.
        n_features = len(self.feature_names_)
        explanation = explainer(
            X.to_numpy(np.float64), max_evals=2 * n_features + 1, silent=True
        )
        values = np.asarray(explanation.values, dtype=np.float64)
        base = np.asarray(explanation.base_values, dtype=np.float64)
        base = base[0] if base.ndim >= 1 and len(base) else np.atleast_1d(base)
        if values.ndim == 3:
            self.class_names_ = _class_names(values.shape[2], self.model)
        self.explainer_ = "shap.PermutationExplainer"
        self.output_space = (
            "probability" if self.task_ == "classification" else "target units"
        )
        return values, np.atleast_1d(base)

    def _importance_table(self, values: np.ndarray) -> pd.DataFrame:
        table = pd.DataFrame({"feature": self.feature_names_})
        if values.ndim == 3:
            per_class = np.abs(values).mean(axis=0)  # (F, K)
            for k, name in enumerate(self.class_names_):
                table[f"mean_abs_shap_{name}"] = per_class[:, k]
            table["mean_abs_shap"] = per_class.mean(axis=1)
        else:
            table["mean_abs_shap"] = np.abs(values).mean(axis=0)
        table = table.sort_values("mean_abs_shap", ascending=False, kind="stable")
        return table.reset_index(drop=True)

    def _plot_summary(self, values: np.ndarray, X: pd.DataFrame, top: int) -> None:
        shap = _import_shap()

        data = X.to_numpy(np.float64)
        panels = (
            [(values[:, :, k], name) for k, name in enumerate(self.class_names_)]
            if values.ndim == 3
            else [(values, "")]
        )
        n_show = min(top, len(self.feature_names_))
        fig, axes = plt.subplots(
            1,
            len(panels),
            figsize=(5.2 * len(panels), 0.32 * n_show + 1.8),
            squeeze=False,
        )
        for ax, (vals, name) in zip(axes[0], panels, strict=True):
            explanation = shap.Explanation(
                values=vals, data=data, feature_names=self.feature_names_
            )
            shap.plots.beeswarm(
                explanation,
                max_display=n_show,
                ax=ax,
                show=False,
                plot_size=None,
                color_bar=ax is axes[0][-1],
                s=8,
            )
            ax.set_title(f"class {name}" if name else "SHAP values")
            ax.set_xlabel(f"SHAP value ({self.output_space})")
        fig.suptitle(f"SHAP summary ({self.explainer_}, {len(values)} test rows)")
        fig.tight_layout()
        save_figure(fig, self.output_dir / "shap_summary.png")

    def _plot_bar(self, table: pd.DataFrame, top: int) -> None:
        head = table.head(top).iloc[::-1]
        fig, ax = plt.subplots(figsize=(7.0, 0.3 * len(head) + 1.4))
        class_cols = [f"mean_abs_shap_{c}" for c in self.class_names_]
        if class_cols and all(c in head.columns for c in class_cols):
            left = np.zeros(len(head))
            colors = ("#c0392b", "#7f8c8d", "#27ae60")
            for k, col in enumerate(class_cols):
                # Stacked per-class shares of the overall mean (each divided by K).
                width = head[col].to_numpy() / len(class_cols)
                ax.barh(
                    head["feature"],
                    width,
                    left=left,
                    color=colors[k % 3],
                    label=self.class_names_[k],
                )
                left += width
            ax.legend(fontsize=8, loc="lower right")
        else:
            ax.barh(head["feature"], head["mean_abs_shap"], color="#2c7fb8")
        ax.set_xlabel(f"mean |SHAP value| ({self.output_space})")
        ax.set_ylabel("Feature")
        ax.set_title(f"Global SHAP importance ({self.explainer_})")
        fig.tight_layout()
        save_figure(fig, self.output_dir / "shap_importance_bar.png")

    def _plot_waterfall(
        self,
        contrib: np.ndarray,
        base_value: float,
        row: pd.Series,
        label: str,
        when: Any,
    ) -> None:
        shap = _import_shap()

        explanation = shap.Explanation(
            values=contrib.astype(np.float64),
            base_values=base_value,
            data=row.to_numpy(np.float64),
            feature_names=self.feature_names_,
        )
        plt.figure(figsize=(8, 5))
        shap.plots.waterfall(explanation, max_display=15, show=False)
        fig = plt.gcf()
        fig.suptitle(f"Why this prediction: {label} at {when} ({self.output_space})")
        save_figure(fig, self.output_dir / "shap_force_plot.png")


# ---------------------------------------------------------------------- helpers
def _import_shap() -> Any:
    """Import shap without its import-time matplotlib PendingDeprecationWarning.

    shap 0.51 calls ``Colormap.set_bad`` at import, which matplotlib 3.11 flags; the
    warning is about shap's code, not the caller's, so it is silenced here only.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=PendingDeprecationWarning, module=r"shap\..*"
        )
        import shap
    return shap


def _class_names(n: int, model: Any) -> list[str]:
    # perpml classifiers drop classes absent from training from the native model;
    # ``trained_classes_`` maps native outputs back to SHORT/NEUTRAL/LONG codes.
    trained = getattr(model, "trained_classes_", None)
    if trained is not None and len(trained) == n and n != 3:
        return [_THREE_CLASSES[int(c)] for c in trained]
    return list(_THREE_CLASSES) if n == 3 else [f"class_{k}" for k in range(n)]


def _feature_names(model: Any, X_train: pd.DataFrame) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = getattr(model, "feature_names_", None)  # CatBoost
    if names is None or len(names) == 0:
        names = list(X_train.columns)
    return [str(n) for n in names]


def _task(model: Any) -> str:
    task = getattr(model, "task", None)
    if task in ("classification", "regression"):
        return task
    if hasattr(model, "predict_proba"):
        return "classification"
    native = getattr(model, "native_model_", model)
    objective = ""
    if _library(native) == "xgboost":
        import json

        booster = native.get_booster() if hasattr(native, "get_booster") else native
        config = json.loads(booster.save_config())
        objective = config["learner"]["objective"]["name"]
    elif _library(native) == "lightgbm":
        booster = getattr(native, "booster_", native)
        objective = str(booster.params.get("objective", ""))
    return (
        "classification"
        if any(k in objective for k in ("multi", "binary", "softmax", "logistic"))
        else "regression"
    )


def _is_sequence_model(model: Any) -> bool:
    """True for a perpml LSTMForecaster (or subclass), without importing torch.

    A model can only be an LSTMForecaster if its module is already imported, so a
    missing module means "no" and explaining a tree model never loads torch.
    """
    module = sys.modules.get("perpml.models.lstm_forecaster")
    return module is not None and isinstance(model, module.LSTMForecaster)


def _library(native: Any) -> str:
    module = type(native).__module__
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("catboost"):
        return "catboost"
    if module.startswith("sklearn.ensemble") or module.startswith("sklearn.tree"):
        return "sklearn_tree"
    return "other"


def _xgb_contribs(native: Any, X: pd.DataFrame) -> np.ndarray:
    import xgboost as xgb

    booster = native.get_booster() if hasattr(native, "get_booster") else native
    # A booster trained on a bare array (as perpml's models are) has no feature names
    # and rejects a named DMatrix; columns are already in training order here.
    data = X if booster.feature_names else X.to_numpy()
    return np.asarray(booster.predict(xgb.DMatrix(data), pred_contribs=True))


def _lgb_contribs(native: Any, X: pd.DataFrame) -> np.ndarray:
    booster = getattr(native, "booster_", native)
    raw = np.asarray(booster.predict(X.to_numpy(), pred_contrib=True))
    n_features = X.shape[1]
    if raw.shape[1] > n_features + 1:
        # Multi-class: class-major blocks of (F+1) columns.
        n_classes = raw.shape[1] // (n_features + 1)
        raw = raw.reshape(len(X), n_classes, n_features + 1)
    return raw


def _cat_contribs(native: Any, X: pd.DataFrame) -> np.ndarray:
    from catboost import Pool

    pool = Pool(X.to_numpy())
    return np.asarray(native.get_feature_importance(pool, type="ShapValues"))


def _predict_function(
    model: Any, task: str, features: list[str]
) -> Callable[[np.ndarray], np.ndarray]:
    method = "predict_proba" if task == "classification" else "predict"
    if not hasattr(model, method):
        raise ReportError(
            f"Cannot explain a {type(model).__name__}: it has no `{method}` method. "
            "Pass a fitted perpml model or a fitted library estimator."
        )
    fn = getattr(model, method)

    def predict(data: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(data, columns=features).astype(np.float32)
        return np.asarray(fn(frame), dtype=np.float64)

    return predict
