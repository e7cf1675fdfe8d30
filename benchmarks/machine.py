"""Where and with what a benchmark ran: machine, software versions, threads, load, git commit."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = [
    "REPO",
    "command_line",
    "git_state",
    "load_average",
    "machine",
    "software",
    "utc_now",
]

REPO = Path(__file__).resolve().parents[1]

# Packages whose versions every results file records, when they are installed.
_PACKAGES = (
    "torch",
    "numpy",
    "course_lib",
    "nflows",
    "pyro-ppl",
    "zuko",
    "normflows",
    "jupyter-book",
    "myst-nb",
    "nbgrader",
)


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second, e.g. ``2026-01-31T12:00:00Z``."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the platform has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return round(pages * size / 2**30, 1)


def machine() -> dict:
    """CPU count (and how many this process may use), CPU model, memory and platform."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
    }


def software() -> dict:
    """Python's version and those of the packages that matter here (absent ones left out)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_state() -> dict:
    """The commit checked out and whether the working tree had uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def command_line() -> str:
    """How this process was started, as a reader would retype it from the repository root."""
    script, *arguments = sys.argv
    if Path(script).resolve() == REPO / "benchmarks" / "run.py":
        script = "-m benchmarks.run"
    return " ".join(["python", script, *arguments])
