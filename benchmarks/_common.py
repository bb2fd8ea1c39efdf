"""Shared helpers of the benchmark scripts: machine description, percentiles, output."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, Any]:
    cpu_model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        uname = " ".join(platform.uname())
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            loadavg = f.read().split()[:3]
    except OSError:
        loadavg = []
    git = _git_state()
    pythonpath = os.environ.get("PYTHONPATH")
    command = ("PYTHONPATH=" + pythonpath + " " if pythonpath else "") + "python " + " ".join(sys.argv)
    return {
        "command": command,
        "cwd": os.getcwd(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "uname": uname,
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "loadavg_at_start": loadavg,
        **git,
    }


def _git_state() -> dict[str, Any]:
    """The commit measured and the files that differed from it (the code under test may be uncommitted)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "runtime", "ipc", "hooks", "logger.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None, "git_uncommitted_code_changes": None}
    return {"git_commit": commit, "git_uncommitted_code_changes": [line.strip() for line in changed]}


def percentile(ordered: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in 0..100)."""
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(samples: list[float], scale: float = 1.0) -> dict[str, float]:
    """n, p50, p90, p99, mean, min, max of ``samples`` multiplied by ``scale``."""
    ordered = sorted(x * scale for x in samples)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "mean": sum(ordered) / len(ordered) if ordered else float("nan"),
        "min": ordered[0] if ordered else float("nan"),
        "max": ordered[-1] if ordered else float("nan"),
    }


def print_header(title: str, info: dict[str, Any]) -> None:
    print(f"== {title}")
    for key in ("command", "date", "uname", "cpu_model", "cores", "cpu_affinity", "python", "loadavg_at_start", "git_commit"):
        print(f"   {key:<17} {info[key]}")
    if info.get("git_uncommitted_code_changes"):
        print(f"   uncommitted code changes: {', '.join(info['git_uncommitted_code_changes'])}")


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def write_results(script: str, data: dict[str, Any], tag: str | None = None) -> Path:
    """Write ``results/<script>.json`` (``results/<script>.<tag>.json`` for a tagged variant run)."""
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            data["machine"]["loadavg_at_end"] = f.read().split()[:3]
    except (OSError, KeyError, TypeError):
        pass
    print(f"   loadavg at end: {data.get('machine', {}).get('loadavg_at_end')}")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / (f"{script}.{tag}.json" if tag else f"{script}.json")
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(f"results written to {path}")
    return path


class CountingHandler(logging.Handler):
    """Counts the runtime's WARNING+ records (kept quiet) and keeps the first few for the report."""

    def __init__(self, keep: int = 5) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}
        self.first: list[str] = []
        self.keep = keep

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1
        if len(self.first) < self.keep:
            self.first.append(f"{record.levelname} {record.name}: {record.getMessage()[:300]}")


def quiet_runtime_logs() -> CountingHandler:
    """Route the runtime's log records to a counter instead of the terminal."""
    handler = CountingHandler()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    return handler
