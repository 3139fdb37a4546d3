"""Shared by the benchmark scripts: where results go, and the machine facts every result file
records (CPU/GPU name, cores, git commit, file-name slug). Importing it also makes
``phnet_cuda`` importable from a source checkout when the package is not installed."""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"

if importlib.util.find_spec("phnet_cuda") is None:  # running from a source checkout
    sys.path.insert(0, str(REPO_ROOT))


def cpus() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_name() -> str:
    """'model name' of /proc/cpuinfo (or platform's guess) with the core count."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model} ({cpus()} cores)"


def device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_name()


def git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None


def slug(text: str) -> str:
    """File-name form of a device name: 'AMD EPYC (2 cores)' -> 'amd-epyc-2-cores'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def format_table(rows, columns, left) -> str:
    """Aligned plain-text table of ``rows``: ``columns`` is a sequence of (header, getter) pairs,
    columns whose header is in ``left`` are left-aligned, the others (numbers) right-aligned."""
    cells = [[h for h, _ in columns]] + [[get(r) for _, get in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for line in cells:
        parts = [c.ljust(w) if h in left else c.rjust(w) for c, w, (h, _) in zip(line, widths, columns)]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def fmt(value, spec: str) -> str:
    """A table cell: ``format(value, spec)``, or "-" for a missing value."""
    return "-" if value is None else format(value, spec)


def sync(device: str) -> None:
    """Wait for queued GPU work, so that a timer read after it measures the work."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def describe(exc: BaseException) -> str:
    """One line for a result row: exception type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


def environment(load_average: float, **extra) -> dict:
    """The software/machine record every timing file starts with, plus ``extra`` fields."""
    import phnet_cuda  # here: importing this module first puts a source checkout on sys.path

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load_average,
        "library": phnet_cuda.load_library(),
        "has_cuda_kernels": phnet_cuda.has_cuda_kernels(),
        **extra,
        "argv": sys.argv[1:],
    }
