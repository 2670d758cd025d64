"""Build a small but real run directory (tiny trained models) without the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

CLASSIFIERS = ("xgb_classifier", "lgb_classifier")
REGRESSORS = ("xgb_regressor",)
FEATURES = ("f_trend", "f_momentum", "f_vol", "f_noise_a", "f_noise_b", "f_noise_c")


def _frames(n: int, n_features: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = pd.date_range(
        "2024-01-01", periods=n, freq="5min", tz="UTC", name="timestamp"
    )
    names = list(FEATURES) + [f"f_extra_{i}" for i in range(n_features - len(FEATURES))]
    X = pd.DataFrame(
        rng.normal(size=(n, n_features)).astype(np.float32),
        index=index,
        columns=names[:n_features],
    )
    signal = 0.8 * X.iloc[:, 0] + 0.4 * X.iloc[:, 1] + rng.normal(0, 0.8, n)
    target_class = np.digitize(signal, [-0.45, 0.45]).astype(np.float64)
    targets = pd.DataFrame(
        {
            "target_class": target_class,
            "target_return": (0.002 * signal).astype(np.float64),
            "threshold": 0.001,
            "label_end": index + pd.Timedelta(minutes=65),
        },
        index=index,
    )
    return X, targets


def build_fake_run(
    run_dir: Path,
    *,
    n: int = 600,
    n_features: int = 6,
    n_estimators: int = 20,
    classifiers: tuple[str, ...] = CLASSIFIERS,
    regressors: tuple[str, ...] = REGRESSORS,
    seed: int = 42,
    scaler: str | None = None,
) -> Path:
    """Write run.json, metrics.json, walk_forward.csv, predictions, models and data."""
    from perpml.evaluation.metrics import classification_metrics, regression_metrics
    from perpml.models import (
        CatBoostEntryPredictor,
        LightGBMEntryPredictor,
        XGBoostEntryPredictor,
        XGBoostPricePredictor,
    )
    from perpml.pipeline.artifacts import export_prepared_datasets

    kinds = {
        "xgb_classifier": XGBoostEntryPredictor,
        "lgb_classifier": LightGBMEntryPredictor,
        "cat_classifier": CatBoostEntryPredictor,
        "xgb_regressor": XGBoostPricePredictor,
    }
    X, y = _frames(n, n_features, seed)
    n_train, n_val = int(n * 0.6), int(n * 0.15)
    parts = {
        "train": (X.iloc[:n_train], y.iloc[:n_train]),
        "val": (X.iloc[n_train : n_train + n_val], y.iloc[n_train : n_train + n_val]),
        "test": (X.iloc[n_train + n_val :], y.iloc[n_train + n_val :]),
    }
    fs_id = "fs_test0001"
    export_prepared_datasets(parts, feature_set_id=fs_id, root=run_dir / "data")
    (Xtr, ytr), (Xva, yva), (Xte, yte) = parts["train"], parts["val"], parts["test"]
    if scaler is not None:
        # As the pipeline does: models see scaled features, data/ keeps them unscaled.
        from perpml.evaluation.preprocessing import FeatureScaler

        fitted = FeatureScaler(kind=scaler).fit(Xtr)
        Xtr, Xva, Xte = (fitted.transform(x) for x in (Xtr, Xva, Xte))
    models: dict[str, dict] = {}
    (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
    for name in classifiers + regressors:
        column = "target_class" if name in classifiers else "target_return"
        as_y = (lambda s: s.astype("int64")) if name in classifiers else (lambda s: s)
        if name == "nn_regressor":
            from perpml.models.neural_net import NeuralNetRegressor

            model = NeuralNetRegressor(
                params={"hidden_dims": (32, 16), "max_epochs": 5},
                random_state=seed,
                n_jobs=1,
            )
            model.fit(Xtr, ytr[column], Xva, yva[column])
        else:
            params = {"n_estimators": n_estimators}
            model = kinds[name](params=params, random_state=seed, n_jobs=1)
            model.fit(Xtr, as_y(ytr[column]))
        model.save(run_dir / "models" / name)
        pred = pd.DataFrame({"y_true": as_y(yte[column])}, index=Xte.index)
        pred["y_pred"] = model.predict(Xte)
        if name in classifiers:
            proba = model.predict_proba(Xte)
            pred[["p_short", "p_neutral", "p_long"]] = proba
            test = classification_metrics(pred["y_true"], pred["y_pred"], proba)
            val = classification_metrics(
                as_y(yva[column]), model.predict(Xva), model.predict_proba(Xva)
            )
            task = "classification"
        else:
            test = regression_metrics(pred["y_true"], pred["y_pred"])
            val = regression_metrics(yva[column], model.predict(Xva))
            task = "regression"
        pred.to_parquet(run_dir / "predictions" / f"{name}.parquet")
        models[name] = {"task": task, "test": test, "val": val, "seconds": 0.1}
    truth = yte["target_class"].astype("int64")
    majority = int(ytr["target_class"].mode().iloc[0])
    baselines = {
        "majority": classification_metrics(truth, np.full(len(truth), majority)),
        "always_neutral": classification_metrics(truth, np.ones(len(truth), int)),
        "zero_forecast": regression_metrics(yte["target_return"], np.zeros(len(yte))),
    }
    metrics = {
        "models": models,
        "baselines": baselines,
        "oracle": {"accuracy": 0.71},
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    folds = pd.DataFrame(
        {
            "model": "xgb_classifier",
            "fold": [0, 1, 2],
            "train_start": [str(X.index[0])] * 3,
            "train_end": [str(X.index[i]) for i in (50, 100, 150)],
            "test_start": [str(X.index[i]) for i in (70, 120, 170)],
            "test_end": [str(X.index[i]) for i in (150, 200, 250)],
            "n_train": [100, 200, 300],
            "n_test": [80, 80, 80],
            "n_purged": [12, 12, 12],
            "accuracy": [0.51, 0.55, 0.49],
            "directional_accuracy": [0.61, 0.66, 0.58],
        }
    )
    folds.to_csv(run_dir / "walk_forward.csv", index=False)
    run = {
        "symbol": "BTCUSDT",
        "interval": "5m",
        "source": "synthetic",
        "start": X.index[0].isoformat(),
        "end": X.index[-1].isoformat(),
        "n_bars": n,
        "data_fingerprint": "d1e2a3d4b5e6e7f8",
        "feature_set_id": fs_id,
        "features": list(X.columns),
        "n_features_built": n_features + 3,
        "skipped_features": {"oi_change_12": "open_interest not in the data"},
        "data_quality": {
            "n_rows": n,
            "interval": "5m",
            "missing_optional_columns": ["open_interest"],
            "optional_columns": {
                "funding_rate": {"nan_count": 3, "nan_share": 0.005},
            },
            "notes": ["2 gap bars filled by policy 'ffill_flat'"],
        },
        "splits": {
            k: {
                "start": v[0].index[0].isoformat(),
                "end": v[0].index[-1].isoformat(),
                "n": len(v[0]),
            }
            for k, v in parts.items()
        },
        "horizon": 12,
        "embargo": "0 days 01:00:00",
        "versions": {"perpml": "0.1.0", "xgboost-cpu": "3.2.0"},
        "oracle_accuracy": 0.71,
        "timings": {"Phase 1": 0.5},
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))
    (run_dir / "config.toml").write_text(
        '[data]\nsymbol = "BTCUSDT"\nnote = "<b>not markup</b>"\n\n[models]\n'
        f'scaler = "{scaler or "none"}"\napply_scaling = {str(scaler is not None).lower()}\n'
    )
    return run_dir
