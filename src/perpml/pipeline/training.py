"""Phase 3 of the seed: train, evaluate and save the whole model zoo.

:class:`MLTrainingPipeline` keeps the seed's API (``run_full_pipeline`` with the nine
data arguments, ``pipeline.models[...]``, ``pipeline.ensemble``). What it does
differently from the seed, on purpose:

* the scaler is fitted on the training rows only and applied to validation/test;
* the validation set passed in is the early-stopping set; it must be the purged tail
  of the training period (``perpml.evaluation.splits.chronological_split`` builds it),
  never the test period;
* the stacking ensemble learns its meta-model from time-ordered, purged out-of-fold
  predictions (see ``docs/ensemble.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.exceptions import InsufficientDataError

__all__ = ["MLTrainingPipeline", "ModelResult"]

ProgressCallback = Callable[[str], None]

CLASSIFIER_NAMES = ("xgb_classifier", "lgb_classifier", "cat_classifier")
REGRESSOR_NAMES = ("xgb_regressor", "nn_regressor")


@dataclass
class ModelResult:
    """Metrics and test predictions of one trained model.

    ``predictions`` is indexed by bar open time with ``y_true``, ``y_pred`` and, for
    classifiers, ``p_short``, ``p_neutral``, ``p_long``.
    """

    name: str
    task: str
    val: dict[str, float]
    test: dict[str, float]
    predictions: pd.DataFrame
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def _proba_frame(index: pd.Index, proba: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        proba[:, :3], index=index, columns=["p_short", "p_neutral", "p_long"]
    )


class MLTrainingPipeline:
    """Train every model of the zoo on one prepared dataset.

    Parameters
    ----------
    random_state : int
        Seed shared by every model.
    n_jobs : int
        Threads per model (2 suits a 2-core machine).
    output_dir : path, optional
        Where models are saved (``<output_dir>/<name>/``); ``None`` keeps them in memory.
    ensemble_splits : int
        Walk-forward folds the stacking ensemble uses for its out-of-fold predictions.
    model_params : dict, optional
        ``{model_name: params}`` overrides, e.g. tuned parameters.
    params_file : path, optional
        Tuned-params file of ``perpml tune`` (``[models] params_file``); its params
        apply to every model it names, under ``model_params``.
    on_stage : callable, optional
        Called with a short text before each model is trained (progress display).
    """

    def __init__(
        self,
        *,
        random_state: int = 42,
        n_jobs: int = 2,
        output_dir: str | Path | None = None,
        ensemble_splits: int = 2,
        model_params: dict[str, dict[str, Any]] | None = None,
        on_stage: ProgressCallback | None = None,
        params_file: str | Path | None = None,
    ) -> None:
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.ensemble_splits = ensemble_splits
        self.model_params = dict(model_params or {})
        if params_file is not None:
            from perpml.tuning.params_file import read_params_file

            tuned = read_params_file(params_file).params
            self.model_params = {**tuned, **self.model_params}
        self.on_stage = on_stage
        self.models: dict[str, Any] = {}
        self.ensemble: Any = None
        self.scaler: Any = None
        self.results: dict[str, ModelResult] = {}

    # ------------------------------------------------------------------ helpers
    def _stage(self, text: str) -> None:
        if self.on_stage is not None:
            self.on_stage(text)

    def _make(self, name: str) -> Any:
        from perpml import models as zoo

        classes = {
            "xgb_classifier": zoo.XGBoostEntryPredictor,
            "lgb_classifier": zoo.LightGBMEntryPredictor,
            "cat_classifier": zoo.CatBoostEntryPredictor,
            "xgb_regressor": zoo.XGBoostPricePredictor,
            "nn_regressor": zoo.NeuralNetRegressor,
            "lstm": zoo.LSTMForecaster,
        }
        return classes[name](
            params=self.model_params.get(name),
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )

    def _save(self, name: str, model: Any) -> None:
        if self.output_dir is not None:
            model.save(self.output_dir / name)

    # ------------------------------------------------------------------ main
    def run_full_pipeline(
        self,
        X_train: pd.DataFrame,
        y_train_class: pd.Series,
        y_train_reg: pd.Series,
        X_val: pd.DataFrame,
        y_val_class: pd.Series,
        y_val_reg: pd.Series,
        X_test: pd.DataFrame,
        y_test_class: pd.Series,
        y_test_reg: pd.Series,
        feature_set_id: str | None = None,
        scaler_type: str = "standard",
        apply_scaling: bool = True,
        skip_lstm: bool = False,
        skip_catboost: bool = False,
        *,
        skip_nn: bool = False,
        skip_ensemble: bool = False,
        label_end_train: pd.Series | None = None,
        horizon: int = 12,
        lstm_targets: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None,
        lstm_context: tuple[pd.DataFrame | None, pd.DataFrame | None] | None = None,
        embargo: pd.Timedelta | None = None,
    ) -> dict[str, ModelResult]:
        """Scale, train every model, evaluate on validation and test, save.

        Parameters
        ----------
        X_train, X_val, X_test : DataFrame of shape (n_bars, n_features)
            Indexed by bar open time (UTC), chronological: train < val < test, with
            purged gaps between them. No NaN.
        y_*_class : Series
            SHORT/NEUTRAL/LONG class (0, 1, 2) of each row.
        y_*_reg : Series
            Forward log return of each row.
        feature_set_id : str, optional
            Recorded with the results.
        scaler_type : {"standard", "robust", "minmax", "none"}
            Scaler fitted on ``X_train`` only.
        skip_lstm, skip_catboost, skip_nn, skip_ensemble : bool
            Leave those models out (faster runs).
        label_end_train : Series, optional
            When each training label becomes known; used to purge the ensemble's
            internal folds. Derived from ``horizon`` when missing.
        lstm_targets : (train, val, test) DataFrames, optional
            ``target_return`` and ``target_oi_change`` for the LSTM's two outputs;
            without it the LSTM forecasts the return only.
        lstm_context : (val_context, test_context), optional
            Unscaled feature rows immediately preceding ``X_val`` / ``X_test`` (e.g.
            the purged gap before each period): the LSTM reads them as the history
            of its first windows, so it is scored on every validation/test row like
            the other models. Rows only, never labels. ``None`` entries: no context
            (the first ``lookback - 1`` rows of that period are then not scored).
        embargo : Timedelta, optional
            The run's embargo, applied to the ensemble's internal folds, its
            early-stopping tails and its stacking check. Default: ``horizon`` bars
            (the run's default ``[split] embargo_bars``), the bar length taken from
            ``X_train``'s most common spacing.

        Returns
        -------
        dict of str to ModelResult
            One entry per trained model (also kept in ``self.results``).
        """
        from perpml.evaluation.preprocessing import FeatureScaler

        if len(X_train) < 200:
            raise InsufficientDataError(
                f"Training needs at least 200 labelled rows, got {len(X_train)}. "
                "Use more days of data or a shorter horizon."
            )
        self.feature_set_id = feature_set_id
        kind = scaler_type if apply_scaling else "none"
        self.scaler = FeatureScaler(kind=kind).fit(X_train)  # type: ignore[arg-type]
        if self.output_dir is not None:
            # Models are trained on scaled features: keep the training-split scaler
            # next to them so saved models can score new data.
            self.scaler.save(self.output_dir / "scaler.json")
        Xtr = self.scaler.transform(X_train)
        Xva = self.scaler.transform(X_val)
        Xte = self.scaler.transform(X_test)

        names = list(CLASSIFIER_NAMES)
        if skip_catboost:
            names.remove("cat_classifier")
        regressors = list(REGRESSOR_NAMES)
        if skip_nn:
            regressors.remove("nn_regressor")

        for name in names:
            self._train_one(
                name, Xtr, y_train_class, Xva, y_val_class, Xte, y_test_class
            )
        for name in regressors:
            self._train_one(name, Xtr, y_train_reg, Xva, y_val_reg, Xte, y_test_reg)
        if not skip_lstm:
            if lstm_targets is not None:
                ytr_l, yva_l, yte_l = lstm_targets
            else:
                ytr_l, yva_l, yte_l = y_train_reg, y_val_reg, y_test_reg
            ctx_val, ctx_test = lstm_context or (None, None)
            self._train_one(
                "lstm",
                Xtr,
                ytr_l,
                Xva,
                yva_l,
                Xte,
                yte_l,
                context=(
                    None if ctx_val is None else self.scaler.transform(ctx_val),
                    None if ctx_test is None else self.scaler.transform(ctx_test),
                ),
            )
        if not skip_ensemble:
            self._train_ensemble(
                names,
                regressors,
                Xtr,
                y_train_class,
                y_train_reg,
                Xte,
                y_test_class,
                y_test_reg,
                label_end_train,
                horizon,
                _default_embargo(X_train.index, horizon)
                if embargo is None
                else embargo,
            )
        return self.results

    def _train_one(
        self,
        name: str,
        Xtr: pd.DataFrame,
        ytr: pd.Series | pd.DataFrame,
        Xva: pd.DataFrame,
        yva: pd.Series | pd.DataFrame,
        Xte: pd.DataFrame,
        yte: pd.Series | pd.DataFrame,
        context: tuple[pd.DataFrame | None, pd.DataFrame | None] = (None, None),
    ) -> None:
        self._stage(f"training {name}")
        start = time.perf_counter()
        model = self._make(name)
        model.train(Xtr, ytr, Xva, yva)
        seconds = time.perf_counter() - start
        self.models[name] = model
        self._save(name, model)
        val = _evaluate(model, Xva, yva, context[0])
        test = _evaluate(model, Xte, yte, context[1])
        self.results[name] = ModelResult(
            name=name,
            task=model.task,
            val=val,
            test=test,
            predictions=_predictions(model, Xte, yte, context[1]),
            seconds=seconds,
        )

    def _train_ensemble(
        self,
        classifier_names: list[str],
        regressor_names: list[str],
        Xtr: pd.DataFrame,
        ytr_class: pd.Series,
        ytr_reg: pd.Series,
        Xte: pd.DataFrame,
        yte_class: pd.Series,
        yte_reg: pd.Series,
        label_end_train: pd.Series | None,
        horizon: int,
        embargo: pd.Timedelta,
    ) -> None:
        from perpml.evaluation.metrics import (
            classification_metrics,
            regression_metrics,
        )
        from perpml.models.ensemble import EnsembleModel

        self._stage("training stacking ensemble (purged out-of-fold)")
        start = time.perf_counter()
        ensemble = EnsembleModel(
            {name: self._make(name) for name in classifier_names},
            {name: self._make(name) for name in regressor_names},
            n_splits=self.ensemble_splits,
            label_end=label_end_train,
            horizon=horizon,
            embargo=embargo,
            random_state=self.random_state,
        )
        # The zoo's models were trained on exactly these rows (early-stopped on the
        # purged validation period before the test period): reuse them as the final
        # base models instead of refitting each one again (docs/ensemble.md).
        ensemble.train_classifier(
            Xtr,
            ytr_class,
            fitted_bases={
                n: self.models[n] for n in classifier_names if n in self.models
            },
        )
        ensemble.train_regressor(
            Xtr,
            ytr_reg,
            fitted_bases={
                n: self.models[n] for n in regressor_names if n in self.models
            },
        )
        seconds = time.perf_counter() - start
        self.ensemble = ensemble
        if self.output_dir is not None:
            ensemble.save(self.output_dir / "ensemble")
        proba = ensemble.predict_proba(Xte)
        pred = np.asarray(proba).argmax(axis=1)
        cls_pred = pd.DataFrame({"y_true": yte_class, "y_pred": pred}, index=Xte.index)
        cls_pred = cls_pred.join(_proba_frame(Xte.index, np.asarray(proba)))
        self.results["ensemble_classifier"] = ModelResult(
            name="ensemble_classifier",
            task="classification",
            val={},
            test=classification_metrics(yte_class, pred, proba),
            predictions=cls_pred,
            seconds=seconds,
            extra=_combiner_info(ensemble, "classifier"),
        )
        ret = np.asarray(ensemble.predict_return(Xte), dtype=float)
        self.results["ensemble_regressor"] = ModelResult(
            name="ensemble_regressor",
            task="regression",
            val={},
            test=regression_metrics(yte_reg, ret),
            predictions=pd.DataFrame(
                {"y_true": yte_reg, "y_pred": ret}, index=Xte.index
            ),
            seconds=0.0,
            extra=_combiner_info(ensemble, "regressor"),
        )


def _default_embargo(index: pd.Index, horizon: int) -> pd.Timedelta:
    """``horizon`` bars, the bar length being the index's most common spacing."""
    if len(index) < 2:
        return pd.Timedelta(0)
    step = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
    return pd.Timedelta(step) * int(horizon)


def _combiner_info(ensemble: Any, kind: str) -> dict[str, Any]:
    """How the ensemble half combines its members and why (``ensemble.json`` too)."""
    return {
        "combiner": ensemble.combiner_.get(kind),
        "member": ensemble.combiner_member_.get(kind),
        "reason": ensemble.combiner_reason_.get(kind),
    }


def _first_column(y: pd.Series | pd.DataFrame) -> pd.Series:
    return y.iloc[:, 0] if isinstance(y, pd.DataFrame) else y


def _predict_rows(
    model: Any, X: pd.DataFrame, context: pd.DataFrame | None
) -> np.ndarray:
    """``model.predict(X)``; sequence models also get the preceding rows."""
    if context is not None and len(context):
        return np.asarray(model.predict(X, context=context), dtype=float)
    return np.asarray(model.predict(X), dtype=float)


def _evaluate(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series | pd.DataFrame,
    context: pd.DataFrame | None = None,
) -> dict:
    """Metrics of ``model`` on (X, y), skipping rows it cannot predict (LSTM warm-up)."""
    from perpml.evaluation.metrics import regression_metrics

    if model.task == "classification":
        return dict(model.evaluate(X, y))
    pred = _predict_rows(model, X, context)
    if pred.ndim == 1:
        pred = pred[:, None]
    truth = y.to_frame() if isinstance(y, pd.Series) else y
    metrics: dict[str, float] = {}
    for j, column in enumerate(truth.columns):
        ok = ~np.isnan(pred[:, j]) & truth[column].notna().to_numpy()
        scores = regression_metrics(truth[column].to_numpy()[ok], pred[ok, j])
        prefix = "" if j == 0 else f"{column}_"
        metrics.update({f"{prefix}{k}": v for k, v in scores.items()})
    return metrics


def _predictions(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series | pd.DataFrame,
    context: pd.DataFrame | None = None,
) -> pd.DataFrame:
    truth = _first_column(y)
    if model.task == "classification":
        proba = np.asarray(model.predict_proba(X))
        frame = pd.DataFrame(
            {"y_true": truth.to_numpy(), "y_pred": proba.argmax(axis=1)},
            index=X.index,
        )
        return frame.join(_proba_frame(X.index, proba))
    pred = _predict_rows(model, X, context)
    if pred.ndim == 2:
        pred = pred[:, 0]
    return pd.DataFrame({"y_true": truth.to_numpy(), "y_pred": pred}, index=X.index)
