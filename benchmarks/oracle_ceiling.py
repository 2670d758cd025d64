"""How close can any model get to the oracle? Train on the simulator's latent state.

The oracle scores the simulator's true probabilities, which condition on its full
latent state (regime, crowd positioning, drift already in flight, ...). A model sees
only observable features — a noisy coarsening of that state. This script separates the
two sources of the gap between our models and the oracle:

* **information**: LightGBM trained on the *latent* state (perfect features) vs oracle;
* **features/data**: the pipeline's models on observable features vs the same oracle.

Usage::

    python benchmarks/oracle_ceiling.py [--seeds 42 1 2] [--write]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pandas as pd
from _common import machine, write_section

from perpml.data.sources.synthetic import simulate_market
from perpml.evaluation.splits import chronological_split
from perpml.features.targets import make_targets
from perpml.models import LightGBMEntryPredictor


def latent_features(market) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The simulator's latent state at each bar close, plus the drift in flight."""
    latent = market.latent.copy()
    emitted = latent["signal"] * latent["volatility"]
    # Each bar's signal is delivered over the next 12 bars: the part of the last 11
    # bars' signals still ahead of t is known at t.
    latent["pending"] = sum(emitted.shift(j) * (11 - j) / 12 for j in range(11))
    return latent.astype(float)


def one_seed(seed: int, days: float) -> dict[str, float]:
    market = simulate_market(days=days, seed=seed)
    targets = make_targets(market.frame)
    X = latent_features(market)
    X["threshold"] = targets["threshold"]
    ok = targets["target_class"].notna() & X.notna().all(axis=1)
    X, targets = X[ok], targets[ok]
    split = chronological_split(
        X,
        label_end=targets["label_end"],
        val_fraction=0.15,
        test_fraction=0.2,
        embargo=pd.Timedelta("1h"),
    )
    y = targets["target_class"].astype("int64")
    model = LightGBMEntryPredictor(n_jobs=2).train(
        X.iloc[split.train], y.iloc[split.train], X.iloc[split.val], y.iloc[split.val]
    )
    test_y = y.iloc[split.test].to_numpy()
    accuracy = float((model.predict(X.iloc[split.test]) == test_y).mean())
    oracle = float(market.oracle_accuracy(targets.iloc[split.test]))
    majority = float((test_y == y.iloc[split.train].mode().iloc[0]).mean())
    return {"seed": seed, "latent": accuracy, "oracle": oracle, "majority": majority}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--days", type=float, default=60)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    rows = [one_seed(seed, args.days) for seed in args.seeds]
    lines = [
        "`python benchmarks/oracle_ceiling.py` — LightGBM trained on the simulator's "
        f"**latent state** ({args.days:g} days, 5m, same purged split as the pipeline) "
        f"vs the oracle on the same test rows. {machine()}, "
        f"{datetime.now(UTC):%Y-%m-%d}.",
        "",
        "| seed | latent-state LightGBM | oracle | majority | ratio to oracle |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {r['seed']} | {r['latent']:.3f} | {r['oracle']:.3f} | "
            f"{r['majority']:.3f} | {r['latent'] / r['oracle']:.1%} |"
            for r in rows
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("Oracle ceiling", text)


if __name__ == "__main__":
    main()
