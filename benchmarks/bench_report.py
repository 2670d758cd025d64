"""Benchmark ``build_run_report`` on a run directory of realistic size.

Usage::

    python benchmarks/bench_report.py            # 3,000 test rows, 50 features
    python benchmarks/bench_report.py --write    # also update BENCHMARKS.md "Report"

The run directory is built with real (small) models — XGBoost, LightGBM and CatBoost
classifiers, XGBoost and MLP regressors, 200 trees each — on random features, so only
the report's cost is measured: 5 models' plots, feature importance from the saved
models, SHAP on ≤ 2,000 test rows of the best tree classifier, HTML with every PNG
embedded. Target from the issue: ≤ 10 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine, write_section  # noqa: E402
from tests.report._fake_run import build_fake_run  # noqa: E402


def _recorder(marks: list[tuple[str, float]]):  # type: ignore[no-untyped-def]
    def record(stage: str) -> None:
        marks.append((stage, time.perf_counter()))

    return record


def bench(n_test: int, n_features: int, repeats: int) -> dict[str, float]:
    from perpml.report import build_run_report

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        start = time.perf_counter()
        build_fake_run(
            run_dir,
            n=int(n_test / 0.25),  # the fake run keeps the last 25 % as test rows
            n_features=n_features,
            n_estimators=200,
            classifiers=("xgb_classifier", "lgb_classifier", "cat_classifier"),
            regressors=("xgb_regressor", "nn_regressor"),
        )
        setup = time.perf_counter() - start
        stages: dict[str, float] = {}
        times = []
        for _ in range(repeats):
            marks: list[tuple[str, float]] = []
            start = time.perf_counter()
            path = build_run_report(run_dir, on_stage=_recorder(marks))
            end = time.perf_counter()
            times.append(end - start)
            for (name, t0), (_, t1) in zip(
                marks, [*marks[1:], ("end", end)], strict=True
            ):
                stages[name] = t1 - t0
        size = path.stat().st_size
        pngs = len(list((run_dir / "report").glob("*.png")))
        problems = "What could not be produced" in path.read_text()
    return {
        "setup_s": setup,
        "first_s": times[0],
        "best_s": min(times),
        "html_mb": size / 2**20,
        "pngs": pngs,
        "problems": float(problems),
        **{f"stage: {k}": v for k, v in stages.items()},
    }


def render(result: dict[str, float], n_test: int, n_features: int) -> str:
    stage_lines = "\n".join(
        f"| {k.removeprefix('stage: ')} | {v:.2f} |"
        for k, v in result.items()
        if k.startswith("stage: ")
    )
    return f"""## Report

`python benchmarks/bench_report.py --write` — `build_run_report` on a run directory with
{n_test:,} test rows, {n_features} features, 3 classifiers (XGBoost, LightGBM, CatBoost)
+ 2 regressors (XGBoost, MLP), 200 trees each; SHAP (native TreeSHAP) on ≤ 2,000 test
rows of the best tree classifier. Target ≤ 10 s.

| measure | value |
|---|---|
| first build (s) | {result["first_s"]:.2f} |
| best rebuild (s) | {result["best_s"]:.2f} |
| PNGs written | {int(result["pngs"])} |
| model_report.html (MiB, images embedded) | {result["html_mb"]:.2f} |
| parts that could not be produced | {"yes, see report" if result["problems"] else "none"} |

Last build by stage (s):

| stage | seconds |
|---|---|
{stage_lines}

Machine: {machine()}. Date: {datetime.now(UTC):%Y-%m-%d}. Load average while measuring:
{os.getloadavg()[0]:.1f} on 2 cores (other load on the machine slows every stage; a run at
load 4 took up to 7.7 s).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-rows", type=int, default=3000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    result = bench(args.test_rows, args.features, args.repeats)
    text = render(result, args.test_rows, args.features)
    print(text)
    print(f"(building the fake run directory took {result['setup_s']:.1f} s)")
    if args.write:
        write_section("Report", text)


if __name__ == "__main__":
    main()
