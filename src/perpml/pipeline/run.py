"""The seed's end-to-end run: Phase 1 data → Phase 2 features → Phase 3 models → report.

Every step that learns from data sees training rows only:

* features are causal (row t uses bars ≤ t) and targets carry ``label_end``;
* the chronological train/validation/test split purges training rows whose label is
  known only once the next period has begun, plus an embargo;
* feature selection and scaling are fitted on the training split;
* the validation split (the purged tail before the test period) serves early stopping;
* walk-forward validation runs on every built feature (not the selected ones), so no
  selection fitted on later rows can flatter the earlier folds.

The run directory layout is documented in ``docs/architecture.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.config import RunConfig, dump_config
from perpml.data.schema import interval_to_timedelta
from perpml.exceptions import InsufficientDataError, RunDirectoryError
from perpml.progress import PhaseProgress

__all__ = ["RunResult", "default_run_dir", "prepare_run_dir", "run_pipeline"]


@dataclass(frozen=True)
class RunResult:
    """Where a run landed and its headline numbers.

    ``summary`` has one row per model and baseline on the test split with columns
    model, kind, accuracy, directional_accuracy, r2, rmse, and ``oracle_ratio``.
    """

    run_dir: Path
    summary: pd.DataFrame
    oracle_accuracy: float | None
    feature_set_id: str
    timings: dict[str, float]


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _write_json(path: Path, payload: Any) -> None:
    _atomic_write_text(path, json.dumps(payload, indent=2, default=_json_default))


def _load_market(config: RunConfig) -> tuple[pd.DataFrame, RunConfig]:
    """Load the market and return it with the config's data section resolved.

    Unset symbol / interval / days take what the data says (files) or the
    simulator's defaults, so the run directory records what was actually used.
    """
    from perpml.data import load_market_data

    data = config.data
    common: dict[str, Any] = {
        "symbol": data.symbol,
        "days": data.days,
        "interval": data.interval,
        "start": data.start,
        "end": data.end,
    }
    if data.source == "synthetic":
        market = load_market_data(
            "synthetic",
            **{
                **common,
                "days": 60.0 if data.days is None and not data.end else data.days,
            },
            seed=data.seed,
        )
    elif data.source == "file":
        market = load_market_data(
            "file",
            **common,
            path=list(data.paths),
            funding_rate_scale=data.funding_rate_scale,
            drop_last_bar=data.drop_last_bar,
            gaps=data.gaps,
            max_gap=data.max_gap,
        )
    else:
        market = load_market_data(data.source, **common)
    bars = len(market)
    step = interval_to_timedelta(market.attrs["interval"])
    span_days = bars * step / pd.Timedelta(days=1)
    resolved = config.with_overrides(
        "data",
        symbol=market.attrs["symbol"],
        interval=market.attrs["interval"],
        days=data.days if data.days is not None else round(span_days, 6),
    )
    return market, resolved


def default_run_dir(config: RunConfig) -> Path:
    """``runs/SYMBOL_SOURCE_INTERVAL_DAYSd`` for a resolved config (always under runs/)."""
    from perpml.data.loading import check_symbol

    data = config.data
    symbol = check_symbol(data.symbol)
    days = f"{data.days:g}d" if data.days is not None else "all"
    return Path("runs") / f"{symbol}_{data.source}_{data.interval}_{days}"


def prepare_run_dir(run_dir: Path, *, overwrite: bool) -> Path:
    """Create ``run_dir``, refusing a non-empty one unless ``overwrite`` empties it.

    Runs never mix: files of an earlier run left beside a new one would be read by
    the report as if they were the new run's.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirectoryError(
            f"--out {str(run_dir)!r} is an existing file, not a directory. Pass a new "
            "or empty directory to --out."
        )
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunDirectoryError(
                f"Run directory {str(run_dir)!r} is not empty (an earlier run?). Pass "
                "--overwrite to replace it, or another --out."
            )
        if (
            not (run_dir / "run.json").exists()
            and not (run_dir / "config.toml").exists()
        ):
            raise RunDirectoryError(
                f"--overwrite refuses to empty {str(run_dir)!r}: it does not look like "
                "a perpml run directory (no run.json or config.toml). Pass another "
                "--out."
            )
        for child in run_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".perpml-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise RunDirectoryError(
            f"Cannot write the run directory {str(run_dir)!r}: {exc.strerror or exc}. "
            "Pass a writable --out."
        ) from None
    return run_dir


def _usable_rows(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    decide_on: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Drop features that are missing too often, then every row with a gap.

    Which features to keep is decided on the first ``decide_on`` share of the rows
    only (the training period), so later data availability does not shape the
    feature set; rows with a missing kept feature or no label are dropped in every
    period.

    * A feature with no value on the first 10 % of those rows (long warm-up, or an
      input feed that starts late) would cost every model those rows; it is dropped.
    * A feature that is NaN on more than 5 % of the rows after the first complete row
      would likewise delete those rows for every model; it is dropped.

    Returns
    -------
    (X, targets, dropped)
        Complete rows and the ``{feature: reason}`` of every dropped feature.
    """
    labelled = targets["target_class"].notna() & targets["label_end"].notna()
    head = features.iloc[: max(1, int(len(features) * decide_on))]
    n = len(head)
    dropped: dict[str, str] = {}
    valid = head.notna().to_numpy()
    first_valid = np.where(valid.any(axis=0), valid.argmax(axis=0), n)
    for name, first in zip(head.columns, first_valid, strict=True):
        if first > 0.1 * n:
            dropped[str(name)] = (
                f"no value in the first {first} of {n} training-period bars (warm-up, "
                "or input data that starts late): more than 10%"
            )
    head = head.drop(columns=list(dropped))
    complete = head.notna().all(axis=1)
    tail = head.loc[complete.idxmax() :] if complete.any() else head
    for name, share in tail.isna().mean().items():
        if share > 0.05:
            dropped[str(name)] = (
                f"NaN on {share:.0%} of training-period rows after warm-up"
            )
    kept = features.drop(columns=list(dropped))
    ok = kept.notna().all(axis=1) & labelled
    return kept.loc[ok], targets.loc[ok], dropped


def run_pipeline(
    config: RunConfig,
    out_dir: str | Path | None = None,
    *,
    quiet: bool | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Run data → features → models → report and write a run directory.

    Parameters
    ----------
    config : RunConfig
        Resolved configuration (written to ``out_dir/config.toml``).
    out_dir : path, optional
        Run directory; created if missing. ``None``: :func:`default_run_dir` (under
        ``runs/``). A non-empty directory is refused unless ``overwrite``.
    quiet : bool, optional
        Hide progress (default: bars on a terminal, one line per phase elsewhere).
    overwrite : bool, default False
        Empty a non-empty run directory first.

    Returns
    -------
    RunResult
    """
    from perpml.data import data_fingerprint, data_quality_report
    from perpml.evaluation.splits import chronological_split
    from perpml.features import build_features, feature_set_id
    from perpml.features.targets import make_targets
    from perpml.pipeline.artifacts import export_prepared_datasets, library_versions
    from perpml.tuning.params_file import read_params_file, record_tuned_params

    if out_dir is not None:
        # Checked before loading so a bad --out fails fast.
        candidate = Path(out_dir)
        if candidate.exists() and not candidate.is_dir():
            prepare_run_dir(candidate, overwrite=overwrite)
    if config.models.params_file:
        read_params_file(config.models.params_file)  # a bad file fails before Phase 1
    tcfg = config.targets
    horizon = tcfg.horizon
    embargo_bars = (
        config.split.embargo_bars if config.split.embargo_bars >= 0 else horizon
    )

    with PhaseProgress(quiet=quiet) as progress:
        # ---------------------------------------------------------------- Phase 1
        with progress.phase("Phase 1: market data", total=2):
            progress.stage(f"loading {config.data.source} data")
            market, config = _load_market(config)
            progress.info(
                f"Market: {config.data.symbol} {config.data.interval} from "
                f"{config.data.source}, {market.index[0].isoformat()} to "
                f"{market.index[-1].isoformat()}, {len(market):,} bars"
            )
            run_dir = prepare_run_dir(
                Path(out_dir) if out_dir is not None else default_run_dir(config),
                overwrite=overwrite,
            )
            _atomic_write_text(run_dir / "config.toml", dump_config(config))
            progress.advance("validated")
            quality = data_quality_report(market)
            fingerprint = data_fingerprint(market)
            progress.advance(f"{len(market):,} bars")
        interval = interval_to_timedelta(market.attrs["interval"])
        embargo = interval * embargo_bars

        # ---------------------------------------------------------------- Phase 2
        with progress.phase("Phase 2: features and targets", total=4):
            progress.stage("building features")
            features = build_features(
                market, categories=list(config.features.categories) or None
            )
            skipped = dict(features.attrs.get("skipped", {}))
            progress.advance(f"{features.shape[1]} features")
            targets = make_targets(
                market,
                horizon=horizon,
                threshold=tcfg.threshold,
                scale=tcfg.scale,
                vol_window=tcfg.vol_window,
                method=tcfg.method,
            )
            X_all, y_all, sparse = _usable_rows(
                features,
                targets,
                decide_on=1 - config.split.val_fraction - config.split.test_fraction,
            )
            skipped.update(sparse)
            if len(X_all) < 500:
                raise InsufficientDataError(
                    f"Only {len(X_all)} rows have complete features and labels; at "
                    "least 500 are needed. Use more --days, a finer --interval or a "
                    "shorter horizon."
                )
            progress.advance("targets")
            split = chronological_split(
                X_all,
                label_end=y_all["label_end"],
                val_fraction=config.split.val_fraction,
                test_fraction=config.split.test_fraction,
                embargo=embargo,
            )
            parts = {
                name: (X_all.iloc[idx], y_all.iloc[idx])
                for name, idx in (
                    ("train", split.train),
                    ("val", split.val),
                    ("test", split.test),
                )
            }
            progress.stage("selecting features on the training split")
            selected = _select(config, parts["train"])
            progress.advance(f"{len(selected)} selected")
            fs_id = feature_set_id(
                selected,
                data_fingerprint=fingerprint,
                params={
                    "targets": tcfg.__dict__,
                    "split": config.split.__dict__,
                    "selection": config.features.__dict__,
                },
            )
            parts = {name: (X[selected], y) for name, (X, y) in parts.items()}
            export_prepared_datasets(
                parts,
                feature_set_id=fs_id,
                root=run_dir / "data",
                extra={"data_fingerprint": fingerprint, "config": dump_config(config)},
            )
            progress.advance("datasets exported")

        # ---------------------------------------------------------------- Phase 3
        n_models = 8 - sum(
            [
                config.models.skip_lstm,
                config.models.skip_catboost,
                config.models.skip_nn,
            ]
        )
        walk_splits = config.split.walk_forward_splits
        with progress.phase("Phase 3: models", total=n_models + 2):
            results, pipeline = _train_zoo(config, parts, horizon, run_dir, progress)
            progress.stage("baselines and oracle")
            baselines = _baselines(market, parts, horizon)
            oracle = _oracle(market, y_all, parts["test"][1], horizon)
            progress.advance("baselines")
            walk = pd.DataFrame()
            if walk_splits > 0:
                progress.stage(f"walk-forward validation ({walk_splits} folds)")
                walk = _walk_forward(
                    config, X_all, y_all, horizon, embargo, _simulated(market)
                )
            progress.advance("walk-forward")

        summary = _summary_table(results, baselines, oracle)
        _write_outputs(
            run_dir,
            results=results,
            baselines=baselines,
            oracle=oracle,
            walk=walk,
            summary=summary,
        )
        run_info = {
            "symbol": config.data.symbol,
            "interval": config.data.interval,
            "source": config.data.source,
            "start": market.index[0],
            "end": market.index[-1],
            "n_bars": len(market),
            "data_fingerprint": fingerprint,
            "feature_set_id": fs_id,
            "features": selected,
            "n_features_built": int(features.shape[1]),
            "skipped_features": skipped,
            "data_quality": quality,
            "splits": {
                name: {
                    "start": X.index[0],
                    "end": X.index[-1],
                    "n": len(X),
                }
                for name, (X, _) in parts.items()
            },
            "horizon": horizon,
            "embargo": str(embargo),
            "versions": library_versions(),
            "oracle_accuracy": oracle,
            "timings": progress.timings,
            **record_tuned_params(config.models.params_file, run_dir),
        }
        _write_json(run_dir / "run.json", run_info)

        if config.report.enabled:
            from perpml.report import build_run_report

            with progress.phase("Report", total=1):
                build_run_report(run_dir, quiet=True, on_stage=progress.stage)
                progress.advance("model_report.html")
            run_info["timings"] = progress.timings
            _write_json(run_dir / "run.json", run_info)
    del pipeline
    return RunResult(
        run_dir=run_dir,
        summary=summary,
        oracle_accuracy=oracle,
        feature_set_id=fs_id,
        timings=dict(progress.timings),
    )


def _select(config: RunConfig, train: tuple[pd.DataFrame, pd.DataFrame]) -> list[str]:
    from perpml.evaluation.selection import select_features

    X_train, y_train = train
    n = min(config.features.n_features, X_train.shape[1])
    return list(
        select_features(
            X_train,
            y_train["target_class"].astype("int64"),
            n_features=n,
            method=config.features.selection,
            correlation_threshold=config.features.correlation_threshold,
            label_end=y_train["label_end"],
        )
    )


def _train_zoo(
    config: RunConfig,
    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    horizon: int,
    run_dir: Path,
    progress: PhaseProgress,
) -> tuple[dict[str, Any], Any]:
    from perpml.pipeline.training import MLTrainingPipeline

    def on_stage(text: str) -> None:
        progress.advance()
        progress.stage(text)

    pipeline = MLTrainingPipeline(
        random_state=config.models.random_state,
        n_jobs=config.models.n_jobs,
        output_dir=run_dir / "models",
        ensemble_splits=config.models.ensemble_splits,
        on_stage=on_stage,
        params_file=config.models.params_file,
    )
    (Xtr, ytr), (Xva, yva), (Xte, yte) = parts["train"], parts["val"], parts["test"]
    lstm_targets = None
    if "target_oi_change" in ytr and ytr["target_oi_change"].notna().all():
        cols = ["target_return", "target_oi_change"]
        lstm_targets = (ytr[cols], yva[cols], yte[cols])
    results = pipeline.run_full_pipeline(
        Xtr,
        ytr["target_class"].astype("int64"),
        ytr["target_return"],
        Xva,
        yva["target_class"].astype("int64"),
        yva["target_return"],
        Xte,
        yte["target_class"].astype("int64"),
        yte["target_return"],
        feature_set_id=None,
        scaler_type=config.models.scaler,
        apply_scaling=config.models.apply_scaling,
        skip_lstm=config.models.skip_lstm,
        skip_catboost=config.models.skip_catboost,
        skip_nn=config.models.skip_nn,
        label_end_train=ytr["label_end"],
        horizon=horizon,
        lstm_targets=lstm_targets,
    )
    return results, pipeline


def _baselines(
    market: pd.DataFrame,
    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    horizon: int,
) -> dict[str, dict[str, float]]:
    from perpml.evaluation.baselines import (
        classification_baselines,
        past_return_from_close,
        regression_baselines,
    )

    past = past_return_from_close(market["close"], horizon)
    _, ytr = parts["train"]
    _, yte = parts["test"]
    past_test = past.reindex(yte.index)
    out = dict(
        classification_baselines(
            ytr["target_class"].astype("int64"),
            yte["target_class"].astype("int64"),
            past_return=past_test,
            threshold=yte["threshold"],
        )
    )
    for name, scores in regression_baselines(
        yte["target_return"], past_return=past_test
    ).items():
        out[f"{name}_forecast"] = scores
    return out


def _simulated(market: pd.DataFrame) -> Any:
    """The simulated market behind a synthetic frame (for its truth), else None."""
    if market.attrs.get("source") != "synthetic":
        return None
    from perpml.data.sources.synthetic import market_from_attrs

    return market_from_attrs(market)


def _oracle(
    market: pd.DataFrame,
    targets: pd.DataFrame,
    test_targets: pd.DataFrame,
    horizon: int,
) -> float | None:
    """Accuracy of the simulator's true probabilities on the test rows (else None)."""
    sim = _simulated(market)
    return None if sim is None else float(sim.oracle_accuracy(test_targets))


def _walk_forward(
    config: RunConfig,
    X_all: pd.DataFrame,
    y_all: pd.DataFrame,
    horizon: int,
    embargo: pd.Timedelta,
    oracle_market: Any = None,
) -> pd.DataFrame:
    """Walk-forward XGBoost on every built feature (no selection to leak through).

    With ``oracle_market`` (a simulated market) each fold also gets the oracle
    accuracy on its test rows and the model/oracle ratio.
    """
    from perpml.evaluation.walk_forward import WalkForwardValidator
    from perpml.models import XGBoostEntryPredictor

    validator = WalkForwardValidator(
        n_splits=config.split.walk_forward_splits,
        horizon=horizon,
        embargo=embargo,
        window=config.split.window,
        scaler=config.models.scaler,
    )
    model = XGBoostEntryPredictor(
        random_state=config.models.random_state, n_jobs=config.models.n_jobs
    )
    folds = validator.validate(
        model,
        X_all,
        y_all["target_class"].astype("int64"),
        label_end=y_all["label_end"],
    )
    folds.insert(0, "model", "xgb_classifier")
    if oracle_market is not None:
        # The same test rows scored by the simulator's true probabilities.
        folds["oracle_accuracy"] = [
            float(
                oracle_market.oracle_accuracy(
                    y_all.loc[(y_all.index >= start) & (y_all.index <= end)]
                )
            )
            for start, end in zip(folds["test_start"], folds["test_end"], strict=True)
        ]
        folds["oracle_ratio"] = folds["accuracy"] / folds["oracle_accuracy"]
    return folds


def _summary_table(
    results: dict[str, Any],
    baselines: dict[str, dict[str, float]],
    oracle: float | None,
) -> pd.DataFrame:
    rows = []
    for name, result in results.items():
        test = result.test
        rows.append(
            {
                "model": name,
                "kind": result.task,
                "accuracy": test.get("accuracy"),
                "directional_accuracy": test.get("directional_accuracy"),
                "r2": test.get("r2"),
                "rmse": test.get("rmse"),
                "seconds": round(result.seconds, 2),
            }
        )
    for name, scores in baselines.items():
        rows.append(
            {
                "model": name,
                "kind": "baseline",
                "accuracy": scores.get("accuracy"),
                "directional_accuracy": scores.get("directional_accuracy"),
                "r2": scores.get("r2"),
                "rmse": scores.get("rmse"),
                "seconds": None,
            }
        )
    table = pd.DataFrame(rows)
    if oracle:
        table["oracle_ratio"] = table["accuracy"] / oracle
    else:
        table["oracle_ratio"] = np.nan
    return table


def _write_outputs(
    run_dir: Path,
    *,
    results: dict[str, Any],
    baselines: dict[str, dict[str, float]],
    oracle: float | None,
    walk: pd.DataFrame,
    summary: pd.DataFrame,
) -> None:
    metrics = {
        "models": {
            name: {"task": r.task, "test": r.test, "val": r.val, "seconds": r.seconds}
            for name, r in results.items()
        },
        "baselines": baselines,
        "oracle": {"accuracy": oracle} if oracle is not None else None,
    }
    _write_json(run_dir / "metrics.json", metrics)
    _atomic_write_text(run_dir / "metrics.csv", summary.to_csv(index=False))
    if not walk.empty:
        _atomic_write_text(run_dir / "walk_forward.csv", walk.to_csv(index=False))
    pred_dir = run_dir / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for name, result in results.items():
        result.predictions.to_parquet(pred_dir / f"{name}.parquet")
