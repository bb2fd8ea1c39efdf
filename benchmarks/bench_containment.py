"""What a module's own cgroup costs its start and its stop (issue 10 item 6).

Run from the project root, as root (cgroups):  PYTHONPATH=$PWD python benchmarks/bench_containment.py

Two sandboxed runtimes in one process share one zygote, each with the same trivial module: ``with``
gets the machine's cgroup backend (``sandbox/containment/choose.py``; cgroup v1 on the project's
VM), ``without`` the no-cgroup backend. Interleaved, one of each per round:

* start  ``await rt.stop(name)`` (not timed), then time ``await rt.start(name)``: the sandbox's
         preparation (role, spec, and with a cgroup: its folders and limits written), the fork, the
         module process joining the cgroup and confining itself, the import and the handshake;
* stop   time ``await rt.stop(name)``: shutdown request, exit, and with a cgroup: everything in it
         killed and the folders removed before ``stop`` returns.

Median and p90 in milliseconds, side by side, and their ratio. Then the cgroup's own work alone,
without a process: ``create`` (folders in every hierarchy, limits written) and ``kill_and_remove``
of the empty cgroup, CGROUP_ROUNDS times each.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results
from _modules import write_modules

from runtime import ModuleRuntime
from runtime.supervision.sandbox_setup import ModuleSandboxes
from runtime.supervision.zygote_client import Zygote
from sandbox.bot_api_policy import BotApiPolicy
from sandbox.containment.cgroup import CgroupLimits, kill_and_remove
from sandbox.containment.choose import choose_backend
from sandbox.containment.no_cgroup import NoCgroup

ROUNDS = 30
CGROUP_ROUNDS = 200
SETTLE = 0.2


def sandboxed(root: Path, zygote: Zygote, with_cgroup: bool) -> ModuleRuntime:
    modules = root / "modules"
    write_modules(modules, 1)
    modules.chmod(0o755)
    cgroups = choose_backend() if with_cgroup else NoCgroup("benchmark: without")
    sandboxes = ModuleSandboxes(modules_dir=modules, data_dir=root / "storage", policy=BotApiPolicy(), cgroups=cgroups)
    return ModuleRuntime(modules, state_file=root / "state.json", sandboxes=sandboxes, zygote=zygote)


async def timed(operation: Any) -> float:
    await asyncio.sleep(SETTLE)
    started = time.perf_counter()
    await operation
    return time.perf_counter() - started


async def run() -> dict[str, Any]:
    log_counter = quiet_runtime_logs()
    samples: dict[str, list[float]] = {"start without": [], "start with": [], "stop without": [], "stop with": []}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        root.chmod(0o755)
        zygote = Zygote()
        await zygote.start()
        try:
            (root / "a").mkdir(mode=0o755)
            (root / "b").mkdir(mode=0o755)
            async with sandboxed(root / "a", zygote, True) as with_, sandboxed(root / "b", zygote, False) as without:
                backend = with_.sandboxes.cgroups.name if with_.sandboxes else "?"
                name = with_.module_names[0]
                layer = next(line for line in with_.module_status(name)["sandbox"] if line.startswith("cgroup"))
                for runtime in (with_, without):  # warm-up, untimed
                    await runtime.stop(name)
                    await runtime.start(name)
                for _ in range(ROUNDS):
                    for label, runtime in (("with", with_), ("without", without)):
                        samples[f"stop {label}"].append(await timed(runtime.stop(name)))
                        samples[f"start {label}"].append(await timed(runtime.start(name)))
        finally:
            await zygote.aclose()
    samples.update(cgroup_alone())
    stats = {key: summarize(values, 1e3) for key, values in samples.items()}
    return {"backend": backend, "layer": layer, "stats_ms": stats, "warnings": log_counter.first}


def cgroup_alone() -> dict[str, list[float]]:
    backend = choose_backend()
    created: list[float] = []
    removed: list[float] = []
    try:
        for _ in range(CGROUP_ROUNDS):
            started = time.perf_counter()
            cgroup = backend.create("bench", CgroupLimits(256, 64, 1.0))
            created.append(time.perf_counter() - started)
            assert cgroup is not None
            started = time.perf_counter()
            kill_and_remove(cgroup)
            removed.append(time.perf_counter() - started)
    finally:
        backend.close()
    return {"cgroup create": created, "cgroup kill_and_remove (empty)": removed}


def main() -> None:
    info = machine_info()
    print_header("a module's own cgroup: start and stop, with and without", info)
    result = asyncio.run(run())
    stats = result["stats_ms"]
    rows = []
    for operation in ("start", "stop"):
        without, with_ = stats[f"{operation} without"], stats[f"{operation} with"]
        rows.append(
            [
                operation,
                with_["n"],
                without["p50"],
                with_["p50"],
                with_["p50"] - without["p50"],
                with_["p50"] / without["p50"],
                without["p90"],
                with_["p90"],
            ]
        )
    for operation in ("cgroup create", "cgroup kill_and_remove (empty)"):
        alone = stats[operation]
        rows.append([operation, alone["n"], "-", alone["p50"], alone["p50"], "-", "-", alone["p90"]])
    print(f"   backend: {result['backend']}: {result['layer']}")
    print_table(["operation (ms)", "n", "without p50", "with p50", "added p50", "ratio", "without p90", "with p90"], rows)
    write_results("bench_containment", {"machine": info, **result})


if __name__ == "__main__":
    main()
