"""``perpml tune``: one Optuna worker per call; start it on N machines to scale out."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from perpml.cli._app import app, console, err_console, escape, fail
from perpml.cli._data_options import (
    ConfigOpt,
    DaysOpt,
    DropLastBarOpt,
    EndOpt,
    FundingScaleOpt,
    GapsOpt,
    IntervalOpt,
    MaxGapOpt,
    MockOpt,
    PathOpt,
    SeedOpt,
    SourceOpt,
    StartOpt,
    SymbolOpt,
    apply_data_options,
)
from perpml.exceptions import ConfigError, PerpmlError


def _progress(model: str, quiet: bool) -> Any:
    """Optuna callback printing one line per finished trial with the best so far."""
    from optuna.trial import TrialState

    last = [time.perf_counter()]

    def callback(study: Any, trial: Any) -> None:
        now = time.perf_counter()
        seconds, last[0] = now - last[0], now
        if quiet:
            return
        try:
            best = f"best {study.best_value:.4f} (#{study.best_trial.number})"
        except ValueError:
            best = "best -"
        if trial.state == TrialState.COMPLETE:
            what = f"score {trial.value:.4f}"
        elif trial.state == TrialState.PRUNED:
            step = trial.last_step
            what = f"pruned after fold {step + 1 if step is not None else 0}"
        else:
            what = trial.state.name.lower()
        err_console.print(
            f"{escape(model)} trial {trial.number:>4}  {what:<24} {best}  "
            f"{seconds:5.1f}s",
            highlight=False,
        )

    return callback


def _summary(results: list[Any], out: Path) -> None:
    table = Table(title="Tuning summary (whole study)", box=box.SIMPLE_HEAD)
    for column in ("model", "complete", "pruned", "failed", "run here", "best score"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        table.add_row(
            r.model,
            str(r.n_complete),
            str(r.n_pruned),
            str(r.n_failed),
            str(r.n_run_here),
            f"{r.best_score:.4f}",
        )
    console.print(table)
    for r in results:
        console.print(
            f"[bold]{escape(r.model)}[/] best params: "
            f"{escape(json.dumps(r.best_params, default=str))}",
            highlight=False,
        )
    console.print(f"Params file: {escape(str(out))} (use: perpml run --params FILE)")


@app.command()
def tune(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help=(
                "Model to tune (repeatable): xgb_classifier, lgb_classifier, "
                "cat_classifier, xgb_regressor, nn_regressor (aliases "
                "lgbm_classifier, neural_network...), or all (default)."
            ),
        ),
    ] = None,
    n_trials: Annotated[
        int,
        typer.Option(
            "--n-trials",
            help="Scored trials the study should hold, all workers together.",
        ),
    ] = 100,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help=(
                "Where the study lives: a journal file path (resumable, one machine) "
                "or a SQLAlchemy URL such as postgresql://user:pw@host/db (many "
                "workers). Default: in memory."
            ),
        ),
    ] = None,
    study_name: Annotated[
        str | None,
        typer.Option(
            "--study-name",
            help="Study to create or join (default perpml-MODEL; NAME-MODEL when "
            "several models are tuned).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", help="Seconds per model after which no trial starts."
        ),
    ] = None,
    datasets: Annotated[
        Path | None,
        typer.Option(
            "--datasets",
            help="Tune on the prepared datasets of an earlier run (RUN_DIR) instead "
            "of loading data.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Params file to write/update (default RUN_DIR/tuned_params.json "
            "with --datasets, else tuned_params.json).",
        ),
    ] = None,
    cv: Annotated[
        str,
        typer.Option(
            "--cv",
            help="walk_forward: purged walk-forward folds of the training + "
            "validation periods; holdout: the purged validation period.",
        ),
    ] = "walk_forward",
    folds: Annotated[
        int, typer.Option("--folds", help="Walk-forward folds (default 3).")
    ] = 3,
    score: Annotated[
        str,
        typer.Option(
            "--score",
            help="combined (default), accuracy, directional, neg_log_loss "
            "(classifiers) / combined, directional, ic, neg_rmse (regressors).",
        ),
    ] = "combined",
    accuracy_weight: Annotated[
        float,
        typer.Option(
            "--accuracy-weight", help="Accuracy weight in the combined score (0.7)."
        ),
    ] = 0.7,
    pruner: Annotated[
        str, typer.Option("--pruner", help="median (default), halving or none.")
    ] = "median",
    sampler_seed: Annotated[
        int, typer.Option("--sampler-seed", help="TPE seed (default 42).")
    ] = 42,
    n_jobs: Annotated[
        int | None,
        typer.Option("--n-jobs", help="Threads per model (default [models] n_jobs)."),
    ] = None,
    heartbeat: Annotated[
        int,
        typer.Option(
            "--heartbeat",
            help="Database storages: seconds between trial heartbeats (60).",
        ),
    ] = 60,
    grace: Annotated[
        int | None,
        typer.Option(
            "--grace",
            help="Seconds without heartbeat before a running trial is failed "
            "(default 2 x --heartbeat).",
        ),
    ] = None,
    symbol: SymbolOpt = None,
    days: DaysOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    source: SourceOpt = None,
    mock: MockOpt = False,
    path: PathOpt = None,
    interval: IntervalOpt = None,
    gaps: GapsOpt = None,
    max_gap: MaxGapOpt = None,
    funding_rate_scale: FundingScaleOpt = None,
    drop_last_bar: DropLastBarOpt = None,
    horizon: Annotated[
        int | None, typer.Option(help="Label horizon in bars (default 12).")
    ] = None,
    features: Annotated[
        int | None,
        typer.Option("--features", help="Number of features to keep (default 50)."),
    ] = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No per-trial lines.")
    ] = False,
) -> None:
    """Tune model hyper-parameters with Optuna on purged folds (never the test period).

    Takes data like `perpml run` (same options, --mock, --config) or --datasets
    RUN_DIR, splits it the same way, and tunes on the training + validation periods.
    One call is one worker: start it on several machines with the same --storage URL
    and --study-name to share the study. Writes the best params for
    `perpml run --params FILE`.
    """
    import optuna

    from perpml.config import load_config
    from perpml.tuning.api import TuningOptions, build_objective
    from perpml.tuning.data import tuning_data_from_config, tuning_data_from_run
    from perpml.tuning.params_file import write_params_file
    from perpml.tuning.spaces import MODEL_SPECS, get_spec
    from perpml.tuning.storage import redact_url
    from perpml.tuning.study import run_study

    try:
        if n_trials < 1:
            raise ConfigError(f"--n-trials must be a positive integer, got {n_trials}.")
        names = model or ["all"]
        specs = (
            list(MODEL_SPECS.values())
            if "all" in names
            else [get_spec(name) for name in dict.fromkeys(names)]
        )
        cfg = load_config(config)
        if datasets is not None:
            given = [
                flag
                for flag, value in (
                    ("--symbol", symbol),
                    ("--days", days),
                    ("--start", start),
                    ("--end", end),
                    ("--source", source),
                    ("--mock", mock or None),
                    ("--path", path),
                    ("--interval", interval),
                    ("--horizon", horizon),
                    ("--features", features),
                )
                if value
            ]
            if given:
                raise ConfigError(
                    f"--datasets reuses an earlier run's data, but {given} were also "
                    "given: pass one or the other."
                )
            data = tuning_data_from_run(datasets)
        else:
            cfg = apply_data_options(
                cfg,
                symbol=symbol,
                days=days,
                start=start,
                end=end,
                source=source,
                mock=mock,
                path=path,
                interval=interval,
                gaps=gaps,
                max_gap=max_gap,
                seed=seed,
                funding_rate_scale=funding_rate_scale,
                drop_last_bar=drop_last_bar,
            )
            cfg = cfg.with_overrides("features", n_features=features)
            cfg = cfg.with_overrides("targets", horizon=horizon)
            if not quiet:
                err_console.print("Preparing data and splits as `perpml run` does...")
            data = tuning_data_from_config(cfg)
        target = out or (
            datasets / "tuned_params.json" if datasets else Path("tuned_params.json")
        )
        options = TuningOptions(
            cv=cv,  # type: ignore[arg-type]
            n_splits=folds,
            score=score,
            accuracy_weight=accuracy_weight,
            scaler=data.scaler,
            horizon=data.horizon,
            embargo=data.embargo,
            seed=sampler_seed,
            pruner=pruner,
            random_state=cfg.models.random_state,
            n_jobs=n_jobs if n_jobs is not None else cfg.models.n_jobs,
            heartbeat_interval=heartbeat,
            grace_period=grace,
        )
        if not quiet:
            err_console.print(
                f"Tuning on {escape(data.source)}: {len(data.X_train):,} training + "
                f"{len(data.X_val):,} validation rows, {data.X_train.shape[1]} "
                f"features, embargo {data.embargo}; test period (from "
                f"{data.test_start}) untouched. Storage: "
                f"{escape(redact_url(storage))}.",
                highlight=False,
            )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        results = []
        for spec in specs:
            column = (
                "target_class" if spec.task == "classification" else "target_return"
            )
            y_train = data.y_train[column]
            y_val = data.y_val[column]
            if spec.task == "classification":
                y_train, y_val = y_train.astype("int64"), y_val.astype("int64")
            objective = build_objective(
                spec.name,
                data.X_train,
                y_train,
                data.X_val,
                y_val,
                label_end=data.label_end,
                options=options,
                test_start=data.test_start,
            )
            name = (
                f"{study_name}-{spec.name}"
                if study_name and len(specs) > 1
                else study_name
            )
            result = run_study(
                objective,
                spec,
                n_trials=n_trials,
                storage=storage,
                study_name=name,
                timeout=timeout,
                seed=sampler_seed,
                pruner=pruner,
                heartbeat_interval=heartbeat,
                grace_period=grace,
                callbacks=[_progress(spec.name, quiet)],
            )
            results.append(result)
            write_params_file(
                target,
                {
                    result.model: {
                        "params": result.best_params,
                        "best_score": result.best_score,
                        "n_trials": result.n_trials,
                        "n_complete": result.n_complete,
                        "n_pruned": result.n_pruned,
                        "n_failed": result.n_failed,
                        "score": score,
                        "cv": cv,
                        "study_name": result.study.study_name,
                        "storage": redact_url(storage),
                    }
                },
            )
    except PerpmlError as exc:
        fail(exc)
        return
    _summary(results, target)
