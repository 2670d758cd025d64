"""EnsembleModel fixes of issue 8: the run's embargo, a purged stacking check, and
the same fallback (averaging or the best member) for both halves, recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from perpml.evaluation import fit_scope
from perpml.evaluation.splits import label_end_from_index
from perpml.models import LightGBMEntryPredictor, XGBoostEntryPredictor
from perpml.models._stacking import choose_combiner, meta_columns
from perpml.models.ensemble import EnsembleModel
from perpml.models.regressors import XGBoostPricePredictor
from perpml.pipeline.training import MLTrainingPipeline
from perpml.testing.model_checks import make_model_data

SMALL = {"n_estimators": 20}
HORIZON = 6


def _regime_change(n_early: int = 300, n_last: int = 100) -> tuple:
    """Member ``a`` forecasts well only in the last block, ``b`` only before it."""
    rng = np.random.default_rng(42)
    n = n_early + n_last
    y = rng.normal(0, 1e-3, n)
    noise = rng.normal(0, 3e-3, n)
    a = np.where(np.arange(n) >= n_early, y, noise)
    b = np.where(np.arange(n) < n_early, y, -y + noise)
    oof = np.column_stack([a, b])
    return oof, y, np.arange(n_early), np.arange(n_early, n)


def test_regressor_falls_back_to_the_best_member_and_says_why() -> None:
    oof, y, early, last = _regime_change()
    columns = meta_columns("regressor", ["a", "b"])
    check = choose_combiner("regressor", oof, y, early, last, columns, ["a", "b"])
    assert check["combiner"] == "member"
    assert check["member"] == "a"
    assert check["member_scores"]["a"] > check["stacking_score"]
    assert check["member_scores"]["a"] > check["average_score"]
    assert "member a" in check["reason"] and "purged check block" in check["reason"]


def test_stacking_kept_only_when_it_beats_average_and_members() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1e-3, 400)
    # Two members with opposite biases: the meta-model learns to combine them.
    oof = np.column_stack([2 * y + 1e-3, 2 * y - 3e-3]) + rng.normal(0, 1e-4, (400, 2))
    columns = meta_columns("regressor", ["a", "b"])
    check = choose_combiner(
        "regressor", oof, y, np.arange(300), np.arange(300, 400), columns, ["a", "b"]
    )
    assert check["combiner"] == "stacking", check["reason"]
    assert check["member"] is None


def test_single_block_keeps_stacking_with_reason() -> None:
    columns = meta_columns("regressor", ["a"])
    empty = np.arange(0)
    check = choose_combiner(
        "regressor", np.zeros((5, 1)), np.zeros(5), empty, empty, columns, ["a"]
    )
    assert check["combiner"] == "stacking" and "single" in check["reason"]


def _ensemble(embargo: pd.Timedelta) -> EnsembleModel:
    return EnsembleModel(
        {
            "xgb": XGBoostEntryPredictor(params=SMALL, n_jobs=1),
            "lgb": LightGBMEntryPredictor(params=SMALL, n_jobs=1),
        },
        {"xgb": XGBoostPricePredictor(params=SMALL, n_jobs=1)},
        n_splits=3,
        horizon=HORIZON,
        embargo=embargo,
    )


def test_stacking_check_purges_earlier_blocks_against_the_scoring_block() -> None:
    X, y = make_model_data(n_rows=700, task="classification")
    embargo = pd.Timedelta("30min")
    with fit_scope.recording() as recorder:
        ens = _ensemble(embargo).train_classifier(X, y)
    checks = [s for s in recorder.splits if s["kind"] == "stacking_check"]
    assert len(checks) == 1
    check = checks[0]
    # The earlier blocks' labels all end before the scoring block, minus the embargo.
    gaps = [g for g in check["gap_before_seconds"] if g is not None]
    assert gaps and min(gaps) > embargo.total_seconds()
    # Unpurged, the last rows of the earlier blocks would overlap: a label ends at
    # the close of bar t + h, so h + 1 bars plus 6 bars (30 min) of embargo go.
    total_early = sum(
        len(f.test_index)
        for f in ens.oof_folds_["classifier"]
        if f.model == "xgb" and f.fold < ens.n_splits - 1
    )
    assert check["n_train"] == total_early - (HORIZON + 1) - 6
    # The check's meta-model is fitted on exactly those purged rows.
    fits = [f for f in recorder.fits if f["step"].startswith("stacking check")]
    assert fits[0]["reference"] == check["id"] and fits[0]["n"] == check["n_train"]
    assert ens.combiner_check_["classifier"]["n_check_fit"] == check["n_train"]
    # Every other split of the ensemble used the embargo too.
    assert {s["embargo_seconds"] for s in recorder.splits} == {1800.0}


def test_pipeline_passes_the_run_embargo_and_records_the_choice(tmp_path) -> None:
    X, y_class = make_model_data(n_rows=900, task="classification")
    _, y_reg = make_model_data(n_rows=900, task="regression")
    label_end = label_end_from_index(X.index, HORIZON)
    tr, va, te = slice(0, 600), slice(612, 750), slice(762, 900)
    pipeline = MLTrainingPipeline(
        output_dir=tmp_path / "models",
        n_jobs=1,
        model_params={
            n: SMALL for n in ("xgb_classifier", "lgb_classifier", "xgb_regressor")
        },
    )
    results = pipeline.run_full_pipeline(
        X.iloc[tr], y_class.iloc[tr], y_reg.iloc[tr],
        X.iloc[va], y_class.iloc[va], y_reg.iloc[va],
        X.iloc[te], y_class.iloc[te], y_reg.iloc[te],
        skip_lstm=True, skip_catboost=True, skip_nn=True,
        label_end_train=label_end.iloc[tr], horizon=HORIZON,
        embargo=pd.Timedelta("1h"),
    )  # fmt: skip
    assert pipeline.ensemble.embargo == pd.Timedelta("1h")
    manifest = json.loads((tmp_path / "models/ensemble/ensemble.json").read_text())
    assert manifest["embargo_ns"] == pd.Timedelta("1h").value
    for kind, name in (
        ("classifier", "ensemble_classifier"),
        ("regressor", "ensemble_regressor"),
    ):
        section = manifest[kind]
        assert section["combiner"] in ("stacking", "average", "member")
        assert section["reason"]
        assert (section["member"] is not None) == (section["combiner"] == "member")
        assert results[name].extra["combiner"] == section["combiner"]


def test_pipeline_default_embargo_is_horizon_bars() -> None:
    from perpml.pipeline.training import _default_embargo

    X, _ = make_model_data(n_rows=50)
    assert _default_embargo(X.index, 12) == pd.Timedelta("1h")


@pytest.mark.parametrize("combiner", ["member", "average"])
def test_loaded_member_fallback_predicts_like_the_member(tmp_path, combiner) -> None:
    X, y = make_model_data(n_rows=600, task="regression")
    ens = EnsembleModel(
        None,
        {
            "xgb": XGBoostPricePredictor(params=SMALL, n_jobs=1),
            "xgb2": XGBoostPricePredictor(params={"n_estimators": 5}, n_jobs=1),
        },
        n_splits=2,
        horizon=HORIZON,
    ).train_regressor(X.iloc[:500], y.iloc[:500])
    ens.combiner_["regressor"] = combiner
    ens.combiner_member_["regressor"] = "xgb2" if combiner == "member" else None
    loaded = EnsembleModel.load(ens.save(tmp_path / "e"))
    test = X.iloc[510:]
    expected = (
        ens.regressors_["xgb2"].predict(test)
        if combiner == "member"
        else np.mean([m.predict(test) for m in ens.regressors_.values()], 0)
    )
    np.testing.assert_allclose(loaded.predict_return(test), expected, atol=1e-9)
    assert loaded.combiner_member_ == ens.combiner_member_
