"""Benchmark the seed command end to end, and the walk-forward ensemble vs the oracle.

Usage::

    python benchmarks/bench_pipeline.py                 # seed command: 60 days, 50 features
    python benchmarks/bench_pipeline.py --days 30 --skip-ensemble-wf

Part 1 runs ``run_full_pipeline.py --symbol BTCUSDT --days 60 --features 50 --mock`` in a
child process (so its peak RSS is measured alone, via ``getrusage(RUSAGE_CHILDREN)``)
and reads the per-phase wall times from the run's ``run.json``. What a user would do
instead — run the seed's script as written — cannot be run (it needs the exchange and
its own code), so the comparison point is the target from the issue (≤ 60 s, ≤ 3 GB).

Part 2 measures walk-forward accuracy of the stacking ensemble on the simulator against
the oracle (the simulator's true probabilities), per fold, with selection and scaling
fitted inside each fold's training rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import ROOT, machine, write_section


def bench_seed_command(days: float, features: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "run_full_pipeline.py"),
                "--symbol",
                "BTCUSDT",
                "--days",
                str(days),
                "--features",
                str(features),
                "--mock",
                "--quiet",
                "--out",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        info = json.loads((out / "run.json").read_text())
        metrics = json.loads((out / "metrics.json").read_text())
    return {
        "wall_s": wall,
        "peak_rss_gib": peak_kib / 2**20,
        "phases": info["timings"],
        "oracle": info.get("oracle_accuracy"),
        "models": {
            name: m["test"].get("accuracy") for name, m in metrics["models"].items()
        },
        "baselines": {
            name: m.get("accuracy") for name, m in metrics["baselines"].items()
        },
    }


def bench_walk_forward_ensemble(days: float, features: int, folds: int) -> dict:
    """Walk-forward ensemble accuracy vs the oracle on the same test folds."""
    import numpy as np

    from perpml.data import load_market_data
    from perpml.data.sources.synthetic import market_from_attrs
    from perpml.evaluation.preprocessing import FeatureScaler
    from perpml.evaluation.selection import select_features
    from perpml.evaluation.splits import PurgedWalkForward
    from perpml.features import build_features
    from perpml.features.targets import make_targets
    from perpml.models.ensemble import EnsembleModel
    from perpml.pipeline.run import _usable_rows

    market = load_market_data("synthetic", symbol="BTCUSDT", days=days, interval="5m")
    X_all, y_all, _ = _usable_rows(build_features(market), make_targets(market))
    sim = market_from_attrs(market)
    splitter = PurgedWalkForward(
        n_splits=folds,
        label_end=y_all["label_end"],
        embargo=market.index[1] - market.index[0],
    )
    rows = []
    for fold, (train, test) in enumerate(splitter.split(X_all)):
        Xtr, ytr = X_all.iloc[train], y_all.iloc[train]
        Xte, yte = X_all.iloc[test], y_all.iloc[test]
        chosen = select_features(
            Xtr,
            ytr["target_class"].astype("int64"),
            n_features=features,
            label_end=ytr["label_end"],
        )
        scaler = FeatureScaler("standard").fit(Xtr[chosen])
        ensemble = EnsembleModel(label_end=ytr["label_end"])
        start = time.perf_counter()
        ensemble.train_classifier(
            scaler.transform(Xtr[chosen]), ytr["target_class"].astype("int64")
        )
        seconds = time.perf_counter() - start
        pred = np.asarray(ensemble.predict_proba(scaler.transform(Xte[chosen]))).argmax(
            axis=1
        )
        accuracy = float((pred == yte["target_class"].to_numpy()).mean())
        oracle = float(sim.oracle_accuracy(yte))
        majority = float(
            (yte["target_class"] == ytr["target_class"].mode().iloc[0]).mean()
        )
        rows.append(
            {
                "fold": fold,
                "n_train": len(train),
                "n_test": len(test),
                "ensemble": accuracy,
                "oracle": oracle,
                "majority": majority,
                "ratio": accuracy / oracle,
                "train_s": seconds,
            }
        )
    ens = float(np.mean([r["ensemble"] for r in rows]))
    orc = float(np.mean([r["oracle"] for r in rows]))
    return {"folds": rows, "ensemble": ens, "oracle": orc, "ratio": ens / orc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=60)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-ensemble-wf", action="store_true")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    results: dict = {"machine": machine(), "date": datetime.now(UTC).isoformat()}
    seed = results["seed_command"] = bench_seed_command(args.days, args.features)
    lines = [
        "`python benchmarks/bench_pipeline.py` runs `python run_full_pipeline.py "
        f"--symbol BTCUSDT --days {args.days:g} --features {args.features} --mock` in a "
        f"child process. Machine: {results['machine']}. Date: {results['date'][:16]} "
        f"UTC. Load average before the run: {LOAD_BEFORE:.1f}.",
        "",
        "| phase | wall (s) |",
        "|---|---:|",
        *(f"| {phase} | {sec:.1f} |" for phase, sec in seed["phases"].items()),
        f"| **whole process (incl. imports)** | **{seed['wall_s']:.1f}** |",
        "",
        f"Peak RSS: **{seed['peak_rss_gib']:.2f} GiB** (target ≤ 3 GB; wall target "
        "≤ 60 s).",
        "",
        "Test-period accuracy of that run: "
        + ", ".join(
            f"{name} {acc:.3f}"
            for name, acc in seed["models"].items()
            if acc is not None
        )
        + f"; oracle {seed['oracle']:.3f}; majority "
        f"{seed['baselines']['majority_class']:.3f}.",
    ]
    if not args.skip_ensemble_wf:
        wf = results["walk_forward_ensemble"] = bench_walk_forward_ensemble(
            args.days, args.features, args.folds
        )
        lines += [
            "",
            f"Walk-forward stacking ensemble ({args.folds} expanding folds, purged; "
            "selection, scaling and stacking fitted inside each fold's training rows) "
            "against the oracle on the same test rows:",
            "",
            "| fold | n_train | n_test | ensemble | oracle | majority | ratio | train (s) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {r['fold']} | {r['n_train']} | {r['n_test']} | {r['ensemble']:.3f} "
                f"| {r['oracle']:.3f} | {r['majority']:.3f} | {r['ratio']:.1%} "
                f"| {r['train_s']:.1f} |"
                for r in wf["folds"]
            ),
            "",
            f"Mean walk-forward ensemble accuracy **{wf['ensemble']:.3f}** vs oracle "
            f"**{wf['oracle']:.3f}**: **{wf['ratio']:.1%} of the oracle** (target ≥ 95 %).",
        ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("Seed command (end to end)", text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


LOAD_BEFORE = __import__("os").getloadavg()[0]

if __name__ == "__main__":
    main()
