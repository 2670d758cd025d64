"""Run every benchmark and update BENCHMARKS.md (``make bench``).

Run on an otherwise idle machine: wall times grow with other load, and each section
records the load average it was measured under.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

COMMANDS = [
    ["bench_features.py", "--bars", "1000000"],
    ["bench_report.py", "--write"],
    ["bench_pipeline.py", "--write"],
    ["oracle_ceiling.py", "--write"],
]


def main() -> None:
    for script, *args in COMMANDS:
        print(f"== {script} {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *args], check=True)


if __name__ == "__main__":
    main()
