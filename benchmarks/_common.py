"""Shared by the benchmark scripts: machine description and BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"


def machine() -> str:
    """CPU model, cores, RAM and platform of this machine, in one line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.platform()}"


def write_section(title: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace the ``## {title}`` section of BENCHMARKS.md (or append it)."""
    section = text.strip("\n")
    if not section.startswith(f"## {title}"):
        section = f"## {title}\n\n{section}"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        current = pattern.sub(lambda _: section + "\n\n", current, count=1)
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(current.rstrip("\n") + "\n", encoding="utf-8")
