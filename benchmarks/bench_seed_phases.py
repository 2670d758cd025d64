"""Time the seed command phase by phase, cold (fresh clone) and warm.

Usage::

    python benchmarks/bench_seed_phases.py            # warm run in this checkout
    python benchmarks/bench_seed_phases.py --cold     # + a fresh `git clone` first
    python benchmarks/bench_seed_phases.py --write    # also rewrite its BENCHMARKS.md section

Each run is ``run_full_pipeline.py --symbol BTCUSDT --days 60 --features 50 --mock``
in a child process. "Cold" clones this repository into a temporary folder first, so
nothing is cached: no ``__pycache__`` byte code and, above all, no numba kernel cache
(``cache=True`` kernels of the simulator and the feature engine are compiled on the
first run and stored next to the sources). The per-phase wall times come from the
run's ``run.json`` (``timings`` and ``stage_seconds``); the 1-minute load average is
read before and after, because the machine is shared and every figure grows with load.
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

SEED = ["--symbol", "BTCUSDT", "--days", "60", "--features", "50", "--mock"]


def _run(checkout: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, str(checkout / "run_full_pipeline.py"), *SEED, "--quiet",
         "--out", str(out)],
        check=True, stdout=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime)
        + (after.ru_stime - before.ru_stime),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "phases": info.get("timings", {}),
        "stages": info.get("stage_seconds", {}),
    }


def _table(label: str, result: dict) -> str:
    lines = [
        f"**{label}**: {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, "
        f"load {result['load_before']:.1f} → {result['load_after']:.1f}.",
        "",
        "| phase / stage | wall (s) |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in result["phases"].items()]
    lines += [f"| · {k} | {v:.1f} |" for k, v in result["stages"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="Also time a fresh clone.")
    parser.add_argument("--write", action="store_true", help="Update BENCHMARKS.md.")
    args = parser.parse_args()
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.cold:
            clone = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            parts.append(_table("cold (fresh clone)", _run(clone, Path(tmp) / "c1")))
            parts.append(
                _table("warm (same clone again)", _run(clone, Path(tmp) / "c2"))
            )
        else:
            parts.append(_table("warm", _run(ROOT, Path(tmp) / "w1")))
    text = (
        f"`python benchmarks/bench_seed_phases.py{' --cold' if args.cold else ''}` on "
        f"{machine()}, {datetime.now(UTC):%Y-%m-%dT%H:%M} UTC.\n\n" + "\n\n".join(parts)
    )
    print(text)
    if args.write:
        write_section("Seed command phase by phase", text)


if __name__ == "__main__":
    main()
