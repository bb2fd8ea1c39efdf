"""Memory of idle module processes: USS per module with 1 and 50 modules, and the totals.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_memory.py

For 1 and then 50 trivial modules: start a runtime, call ``run_hooks("profile_menu")`` a few
times (so every module has served a call), stay idle for IDLE seconds, then read
``psutil.Process(pid).memory_full_info()`` of every module process, of the zygote
(``rt.zygote_pid``) and of this host process.

* USS (unique set size): memory only that process holds; what stopping it would free.
* PSS (proportional set size): shared pages divided among their users; sums to the real total.
* RSS: counts every shared page once per process, so its sum overstates the total; reference only.

Targets (not assertions): <= 15 MB USS per idle module; 50 modules: host + zygote + modules
<= 1 GB USS in total.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results
from _modules import write_modules

from runtime import ModuleRuntime, RuntimeConfig

COUNTS = (1, 50)
IDLE = 5.0  # seconds
WARM_CALLS = 5
MB = 1024 * 1024
TARGET_USS_PER_MODULE_MB = 15.0
TARGET_TOTAL_USS_50_MB = 1024.0
KWARGS = {"chat_id": 1, "admin": False}


def memory(pid: int) -> dict[str, float]:
    info = psutil.Process(pid).memory_full_info()
    return {"uss": info.uss / MB, "pss": info.pss / MB, "rss": info.rss / MB}


async def measure(count: int, tmp: str) -> dict[str, Any]:
    folder = Path(tmp, f"mods{count}")
    names = write_modules(folder, count)
    t0 = time.perf_counter()
    async with ModuleRuntime(folder, state_file=Path(tmp, f"state{count}.json"), config=RuntimeConfig(), sandbox=False) as rt:
        startup = time.perf_counter() - t0
        states = [s["state"] for s in rt.status()]
        if states != ["running"] * count:
            raise SystemExit(f"not every module is running: {states}")
        for _ in range(WARM_CALLS):
            results = await rt.run_hooks("profile_menu", **KWARGS)
            if len(results) != count:
                raise SystemExit(f"expected {count} hook results, got {len(results)}")
        await asyncio.sleep(IDLE)
        pids = [rt.module_status(name)["pid"] for name in names]
        modules = [memory(pid) for pid in pids]
        assert rt.zygote_pid is not None
        zygote = memory(rt.zygote_pid)
        host = memory(os.getpid())
    per_module = {key: summarize([m[key] for m in modules]) for key in ("uss", "pss", "rss")}
    totals = {key: host[key] + zygote[key] + sum(m[key] for m in modules) for key in ("uss", "pss", "rss")}
    return {
        "modules": count,
        "startup_seconds": startup,
        "idle_seconds": IDLE,
        "per_module_mb": per_module,
        "zygote_mb": zygote,
        "host_mb": host,
        "modules_sum_mb": {key: sum(m[key] for m in modules) for key in ("uss", "pss", "rss")},
        "total_host_zygote_modules_mb": totals,
    }


async def run() -> dict[str, Any]:
    log_counter = quiet_runtime_logs()
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        for count in COUNTS:
            runs[str(count)] = await measure(count, tmp)
    worst = max(r["per_module_mb"]["uss"]["max"] for r in runs.values())
    median_50 = runs["50"]["per_module_mb"]["uss"]["p50"]
    total_50 = runs["50"]["total_host_zygote_modules_mb"]["uss"]
    return {
        "unit": "MiB (1024*1024 bytes)",
        "runs": runs,
        "targets": {
            "uss_per_idle_module_mb": {
                "target": TARGET_USS_PER_MODULE_MB,
                "p50_with_50_modules": median_50,
                "worst_module": worst,
                "met": worst <= TARGET_USS_PER_MODULE_MB,
            },
            "total_uss_50_modules_mb": {
                "target": TARGET_TOTAL_USS_50_MB,
                "measured": total_50,
                "met": total_50 <= TARGET_TOTAL_USS_50_MB,
            },
        },
        "runtime_log_records_warning_or_worse": log_counter.counts,
        "runtime_log_first_records": log_counter.first,
    }


def main() -> None:
    info = machine_info()
    result = asyncio.run(run())
    print_header("bench_memory: idle module processes", info)
    rows = []
    for count, r in result["runs"].items():
        pm = r["per_module_mb"]
        rows.append(
            [
                f"{count} module(s), per module",
                pm["uss"]["p50"],
                pm["uss"]["min"],
                pm["uss"]["max"],
                pm["pss"]["p50"],
                pm["rss"]["p50"],
            ]
        )
        rows.append([f"{count} module(s), zygote", r["zygote_mb"]["uss"], "", "", r["zygote_mb"]["pss"], r["zygote_mb"]["rss"]])
        rows.append(
            [f"{count} module(s), host (this process)", r["host_mb"]["uss"], "", "", r["host_mb"]["pss"], r["host_mb"]["rss"]]
        )
        t = r["total_host_zygote_modules_mb"]
        rows.append([f"{count} module(s), TOTAL host+zygote+modules", t["uss"], "", "", t["pss"], t["rss"]])
    print_table(["MiB", "USS p50", "USS min", "USS max", "PSS p50", "RSS p50"], rows)
    t = result["targets"]
    per, total = t["uss_per_idle_module_mb"], t["total_uss_50_modules_mb"]
    print(
        f"   target USS per idle module <= {per['target']:g} MiB: worst {per['worst_module']:.2f} -> "
        f"{'met' if per['met'] else 'MISSED'}"
    )
    print(
        f"   target 50 modules total USS <= {total['target']:g} MiB: {total['measured']:.1f} -> "
        f"{'met' if total['met'] else 'MISSED'}"
    )
    for count, r in result["runs"].items():
        print(f"   {count} module(s): runtime start {r['startup_seconds']:.2f} s, then {r['idle_seconds']:g} s idle first")
    write_results("bench_memory", {"machine": info, **result})


if __name__ == "__main__":
    sys.exit(main())
