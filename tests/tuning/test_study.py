"""Studies: resumable journal files, the trial cap, and tuned params that apply."""

from __future__ import annotations

import json

import pytest

import perpml
from perpml.exceptions import ConfigError
from perpml.models import XGBoostEntryPredictor
from perpml.pipeline.training import MLTrainingPipeline
from perpml.tuning import TuningOptions, optimize_xgboost_classifier, tune_model
from perpml.tuning.params_file import read_params_file, write_params_file
from perpml.tuning.storage import normalize_url, redact_url, storage_kind

FAST = TuningOptions(n_jobs=1)


def _split(frame):
    X, y, r, label_end = frame
    return X.iloc[:600], y.iloc[:600], X.iloc[600:750], y.iloc[600:750], label_end


def test_seed_api_result_plugs_into_the_model_class(small_frame):
    Xtr, ytr, Xva, yva, _ = _split(small_frame)
    result = perpml.optimize_xgboost_classifier(
        Xtr, ytr, Xva, yva, n_trials=3, options=FAST
    )
    assert {"best_params", "best_score", "study"} <= set(result)
    assert result["n_trials"] == 3 == len(result["study"].trials)
    model = XGBoostEntryPredictor(params=result["best_params"], n_jobs=1)
    model.train(Xtr, ytr, Xva, yva)
    assert model.params_["max_depth"] == result["best_params"]["max_depth"]
    assert model.params_["early_stopping_rounds"] == 30


def test_a_resumed_journal_study_continues(small_frame, tmp_path):
    Xtr, ytr, Xva, yva, _ = _split(small_frame)
    log = tmp_path / "studies" / "xgb.log"
    first = optimize_xgboost_classifier(
        Xtr, ytr, Xva, yva, n_trials=2, storage=log, study_name="s", options=FAST
    )
    first_params = [t.params for t in first["study"].trials]
    again = optimize_xgboost_classifier(
        Xtr, ytr, Xva, yva, n_trials=4, storage=log, study_name="s", options=FAST
    )
    trials = again["study"].trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.params for t in trials[:2]] == first_params  # kept, not re-run
    assert trials[2].params not in first_params  # new points, not a replay
    # A third call with the target already reached runs nothing.
    done = tune_model(
        "xgb_classifier",
        Xtr,
        ytr,
        Xva,
        yva,
        n_trials=4,
        storage=log,
        study_name="s",
        options=FAST,
    )
    assert done.n_run_here == 0 and done.n_trials == 4


def test_a_study_of_another_model_is_refused(small_frame, tmp_path):
    Xtr, ytr, Xva, yva, _ = _split(small_frame)
    log = tmp_path / "s.log"
    optimize_xgboost_classifier(
        Xtr, ytr, Xva, yva, n_trials=1, storage=log, study_name="s", options=FAST
    )
    with pytest.raises(ConfigError, match="tunes 'xgb_classifier'"):
        perpml.optimize_lightgbm_classifier(
            Xtr, ytr, Xva, yva, n_trials=1, storage=log, study_name="s", options=FAST
        )


def test_tuned_params_file_is_applied_by_the_training_pipeline(small_frame, tmp_path):
    X, y, r, _ = small_frame
    Xtr, ytr, Xva, yva, _ = _split(small_frame)
    result = tune_model("xgb_classifier", Xtr, ytr, Xva, yva, n_trials=2, options=FAST)
    path = write_params_file(
        tmp_path / "tuned.json",
        {"xgb_classifier": {"params": result.best_params, "n_trials": result.n_trials}},
    )
    tuned = read_params_file(path)
    assert tuned.n_trials == {"xgb_classifier": 2}
    pipe = MLTrainingPipeline(n_jobs=1, params_file=path)
    pipe.run_full_pipeline(
        Xtr,
        ytr,
        r.iloc[:600],
        Xva,
        yva,
        r.iloc[600:750],
        X.iloc[760:],
        y.iloc[760:],
        r.iloc[760:],
        skip_lstm=True,
        skip_catboost=True,
        skip_nn=True,
        skip_ensemble=True,
    )
    applied = pipe.models["xgb_classifier"].params_
    assert {k: applied[k] for k in result.best_params} == result.best_params
    assert pipe.models["lgb_classifier"].params_["early_stopping_rounds"] == 50


@pytest.mark.parametrize(
    "content, match",
    [
        pytest.param({"svm": {}}, "unknown model 'svm'", id="model"),
        pytest.param({"xgb_classifier": {"depth": 3}}, "depth", id="param"),
    ],
)
def test_bad_params_files_say_what_to_fix(tmp_path, content, match):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=match):
        read_params_file(path)


def test_toml_params_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[lgbm_classifier]\nnum_leaves = 40\n")
    assert read_params_file(path).params == {"lgb_classifier": {"num_leaves": 40}}


def test_storage_values():
    assert storage_kind(None) == "memory" and storage_kind("a/b.log") == "journal"
    assert storage_kind("sqlite:///x.db") == "rdb"
    assert normalize_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert redact_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_unreachable_database_is_a_config_error():
    from perpml.tuning.storage import open_storage

    with pytest.raises(ConfigError, match="--storage"):
        open_storage("postgresql://nobody:pw@127.0.0.1:9/none")


def test_optimize_all_models_returns_pipeline_names(small_frame):
    X, y, r, _ = small_frame
    results = perpml.optimize_all_models(
        X.iloc[:600],
        y.iloc[:600],
        r.iloc[:600],
        X.iloc[600:750],
        y.iloc[600:750],
        r.iloc[600:750],
        n_trials=1,
        models=["xgboost_classifier", "xgboost_regressor"],
        options=FAST,
    )
    assert set(results) == {"xgb_classifier", "xgb_regressor"}
    assert "gamma" not in results["xgb_regressor"]["best_params"]
    for result in results.values():
        assert {"best_params", "best_score", "study"} <= set(result)
