"""Benchmark Optuna tuning: 100 trials per model, and 1 vs 2 workers on PostgreSQL.

Usage::

    python benchmarks/bench_tuning.py                    # 100 trials x 5 models
    python benchmarks/bench_tuning.py --trials 10        # fewer, extrapolated to 100
    python benchmarks/bench_tuning.py --postgres URL     # else a private server

Part 1 builds the seed command's data (``--mock --days 60 --features 50``, split as
``perpml run`` splits it) and tunes each of the five models for ``--trials`` trials in
memory, timing each. With fewer than 100 trials the 100-trial time is extrapolated
linearly from the measured mean per trial (and says so).

Part 2 exports the same splits as a prepared-dataset directory (what workers on
shared storage read with ``perpml tune --datasets``) and runs ``perpml tune`` workers
against one PostgreSQL study: first one worker, then two at once, each for the same
wall-time budget; trials per minute = scored trials / minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import ROOT, machine, write_section

MODELS = (
    "xgb_classifier",
    "lgb_classifier",
    "cat_classifier",
    "xgb_regressor",
    "nn_regressor",
)


def prepare(days: float, features: int):  # type: ignore[no-untyped-def]
    from perpml.config import RunConfig
    from perpml.tuning.data import tuning_data_from_config

    cfg = RunConfig().with_overrides("data", source="synthetic", days=days)
    cfg = cfg.with_overrides("features", n_features=features)
    return tuning_data_from_config(cfg)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_models(data, trials: int, cv: str) -> list[dict]:  # type: ignore[no-untyped-def]
    import optuna

    from perpml.tuning import MODEL_SPECS, TuningOptions, tune_model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for name in MODELS:
        spec = MODEL_SPECS[name]
        column = "target_class" if spec.task == "classification" else "target_return"
        start, cpu0 = time.perf_counter(), _cpu_seconds()
        result = tune_model(
            name,
            data.X_train,
            data.y_train[column],
            data.X_val,
            data.y_val[column],
            n_trials=trials,
            label_end=data.label_end,
            options=TuningOptions(
                cv=cv,  # type: ignore[arg-type]
                horizon=data.horizon,
                embargo=data.embargo,
                scaler=data.scaler,
            ),
            test_start=data.test_start,
        )
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu0
        rows.append(
            {
                "model": name,
                "trials": trials,
                "complete": result.n_complete,
                "pruned": result.n_pruned,
                "failed": result.n_failed,
                "seconds": seconds,
                "per_100": seconds / trials * 100,
                "cpu": cpu,
                "cpu_per_100": cpu / trials * 100,
                "best": result.best_score,
            }
        )
        print(rows[-1], flush=True)
    return rows


def export_run_dir(data, root: Path) -> Path:  # type: ignore[no-untyped-def]
    import pandas as pd

    from perpml.pipeline.artifacts import export_prepared_datasets

    # Only the test start matters to the tuner: a 2-row stub a day after validation.
    X_test, y_test = data.X_val.iloc[-2:].copy(), data.y_val.iloc[-2:].copy()
    X_test.index = y_test.index = X_test.index + pd.Timedelta(days=1)
    parts = {
        "train": (data.X_train, data.y_train),
        "val": (data.X_val, data.y_val),
        "test": (X_test, y_test),
    }
    export_prepared_datasets(parts, feature_set_id="bench", root=root / "data")
    (root / "run.json").write_text(
        json.dumps({"horizon": data.horizon, "embargo": str(data.embargo)})
    )
    return root


def _worker(run_dir: Path, url: str, study: str, seconds: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    code = "import sys; from perpml.cli import app; sys.argv[0] = 'perpml'; app()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "tune", "--datasets", str(run_dir)]
        + ["--model", "xgb_classifier", "--n-trials", "100000", "--storage", url]
        + ["--study-name", study, "--timeout", str(seconds), "--n-jobs", "1"]
        + ["--out", str(run_dir / f"{study}.json"), "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


notes: dict[int, str] = {}


def bench_workers(run_dir: Path, url: str, seconds: float) -> dict[int, float]:
    import optuna

    from perpml.tuning.storage import close_storage, open_storage

    rates = {}
    for n_workers in (1, 2):
        study = f"bench-{n_workers}w-{int(time.time())}"
        procs = [_worker(run_dir, url, study, seconds) for _ in range(n_workers)]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(err[-2000:])
        storage = open_storage(url)
        loaded = optuna.load_study(study_name=study, storage=storage)
        trials = [t for t in loaded.trials if t.state.name in ("COMPLETE", "PRUNED")]
        first = min(t.datetime_start for t in trials)
        last = max(t.datetime_complete for t in trials)
        minutes = (last - first).total_seconds() / 60
        close_storage(storage)
        rates[n_workers] = len(trials) / minutes
        pruned = sum(t.state.name == "PRUNED" for t in trials)
        workers = len({t.user_attrs.get("worker") for t in trials})
        print(n_workers, "workers:", len(trials), "trials in", minutes, "min")
        notes[n_workers] = f"{len(trials)} trials, {pruned} pruned, {workers} workers"
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--days", type=float, default=60)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--cv", default="walk_forward")
    parser.add_argument("--postgres", default=None, help="URL (else a private server)")
    parser.add_argument("--worker-seconds", type=float, default=90)
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    start = time.perf_counter()
    data = prepare(args.days, args.features)
    prep = time.perf_counter() - start
    print(f"data prepared in {prep:.1f}s: {len(data.X_train)} train rows")
    rows = [] if args.skip_models else bench_models(data, args.trials, args.cv)

    rates: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = export_run_dir(data, Path(tmp))
        if args.postgres:
            rates = bench_workers(run_dir, args.postgres, args.worker_seconds)
        else:
            sys.path.insert(0, str(ROOT / "tests"))
            from servers import postgres_server

            with postgres_server() as url:
                if url is None:
                    print("PostgreSQL not installed: worker benchmark skipped")
                else:
                    rates = bench_workers(run_dir, url, args.worker_seconds)

    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}. The machine "
        "is shared with other engineers' jobs and was loaded while this ran, so the "
        "times are upper bounds.",
        "",
        f"Data: the seed command's (`--mock --days {args.days:g} --features "
        f"{args.features}`), split as `perpml run` splits it: {len(data.X_train):,} "
        f"training + {len(data.X_val):,} validation rows (prepared in {prep:.0f} s). "
        f"Objective: `--cv {args.cv}`, early stopping 30 rounds, median pruner, TPE "
        "seed 42, 2 threads per model.",
        "",
    ]
    if rows:
        total = sum(r["per_100"] for r in rows)
        measured = "measured" if args.trials >= 100 else "extrapolated"
        lines += [
            "| model | trials run | complete | pruned | wall s | CPU s | 100 trials: "
            "wall s | 100 trials: CPU s | best score |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['model']} | {r['trials']} | {r['complete']} | {r['pruned']} | "
            f"{r['seconds']:.0f} | {r['cpu']:.0f} | {r['per_100']:.0f} | "
            f"{r['cpu_per_100']:.0f} | {r['best']:.4f} |"
            for r in rows
        ]
        cpu_total = sum(r["cpu_per_100"] for r in rows)
        lines += [
            "",
            f"100 trials of all five models: **{total / 60:.1f} min** ({measured}"
            + (
                f" linearly from {args.trials} trials per model: later TPE trials "
                "and pruning change the cost per trial, so read it as an estimate"
                if args.trials < 100
                else ""
            )
            + "); target ≤ 10 min. CPU time for the same work: "
            f"{cpu_total / 60:.1f} CPU-min, i.e. about {cpu_total / 120:.1f} min of "
            "wall time on an idle 2-core machine (2 threads per model). The load "
            f"average was {os.getloadavg()[0]:.1f} on 2 cores at the end of the run.",
            "",
        ]
    if rates:
        lines += [
            f"PostgreSQL study, `perpml tune --datasets` workers (xgb_classifier, 1 "
            f"thread each, {args.worker_seconds:g} s each): **1 worker "
            f"{rates[1]:.1f} trials/min, 2 workers {rates[2]:.1f} trials/min** "
            f"(×{rates[2] / rates[1]:.2f}) on 2 shared cores ({notes[1]}; "
            f"{notes[2]}). Most trials after the 5 start-up trials are pruned after "
            "the first (smallest) fold, which is why a long study runs far more trials "
            "per minute than its first 10. Other jobs share these 2 cores, so the ratio "
            "moves with their load; on separate machines each worker adds its own.",
        ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("Hyper-parameter tuning (Optuna)", text)


if __name__ == "__main__":
    main()
