"""Module lifecycle: start, SIGKILL-to-serving, reload, vs spawning a fresh interpreter.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_lifecycle.py

One runtime ``rt`` (3 trivial modules, ``RuntimeConfig(crash_loop_max=1000)``) and, for the
kill measurement only, a second runtime ``rt0`` with ``backoff_initial=0`` as well. The
measurements are interleaved, one of each per iteration:

* start     ``await rt.stop("m000")`` (not timed), then time ``await rt.start("m000")``: request
            to handshake done (fork from the zygote + import of the module + manifest);
* kill      ``os.kill(pid, SIGKILL)`` on the process of ``m001``, then a tight loop of
            ``await rt.run_hooks(...)`` + ``await asyncio.sleep(0.001)`` until the result of
            ``m001`` is back; the pid is then checked to have changed. ``crash_loop_max=1000``
            keeps the supervisor from quarantining the module (default: 5 crashes in 60 s).
            The supervisor's backoff doubles with every crash within ``crash_loop_window``
            (0.05 s, 0.1 s, 0.2 s, ... up to 10 s), so before each kill the crash history is
            cleared with ``await rt.restart("m001")`` (not timed): every kill is measured as an
            isolated first crash, which waits the default ``backoff_initial`` of 50 ms;
* kill, no backoff  the same on ``rt0`` (``backoff_initial=0``): detection + fork + handshake;
* reload    time ``await rt.reload("m002")``: fork + import + handshake of the new process,
            then the old one is asked to shut down and reaped;
* spawn     for comparison, a fresh interpreter:
            ``python -c "import aiogram, aiogram.types, sqlalchemy, sqlalchemy.ext.asyncio, asyncpg, msgpack"``
            run to exit with ``asyncio.create_subprocess_exec``.

Targets (not assertions): start <= 50 ms, kill-to-serving <= 150 ms, reload <= 100 ms.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results
from _modules import write_modules

from runtime import ModuleRuntime, RuntimeConfig

START_RUNS = 30
KILL_RUNS = 20
RELOAD_RUNS = 30
SPAWN_RUNS = 5
SETTLE = 0.2  # seconds of idle between operations
KILL_DEADLINE = 15.0
SPAWN_CODE = "import aiogram, aiogram.types, sqlalchemy, sqlalchemy.ext.asyncio, asyncpg, msgpack"
TARGETS_MS = {"start": 50.0, "kill -> serving": 150.0, "reload": 100.0}
KWARGS = {"chat_id": 1, "admin": False}


class TransitionClock(logging.Handler):
    """perf_counter() of the supervisor's state transitions, to split a kill into its phases."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((time.perf_counter(), record.getMessage()))

    def first(self, name: str, transition: str, after: float) -> float | None:
        prefix = f"[modules] {name}: {transition}"
        return next((t for t, message in self.events if t >= after and message.startswith(prefix)), None)


CLOCK = TransitionClock()
PHASES: dict[str, list[float]] = {"SIGKILL -> crash noticed": [], "crash noticed -> relaunch begins": [], "relaunch": []}


async def time_start(rt: ModuleRuntime, name: str) -> float:
    await rt.stop(name)
    await asyncio.sleep(SETTLE)
    t0 = time.perf_counter()
    await rt.start(name)
    elapsed = time.perf_counter() - t0
    assert rt.module_status(name)["state"] == "running"
    return elapsed


async def time_kill(rt: ModuleRuntime, name: str, *, clear_history: bool, record_phases: bool = False) -> float:
    if clear_history:
        await rt.restart(name)  # clears the crash history: this kill is an isolated first crash
    await asyncio.sleep(SETTLE)
    CLOCK.events.clear()
    old_pid = rt.module_status(name)["pid"]
    assert old_pid is not None
    t0 = time.perf_counter()
    os.kill(old_pid, signal.SIGKILL)
    while True:
        results = await rt.run_hooks("profile_menu", **KWARGS)
        if name in results.sources:
            elapsed = time.perf_counter() - t0
            break
        if time.perf_counter() - t0 > KILL_DEADLINE:
            raise SystemExit(f"{name} not serving {KILL_DEADLINE} s after SIGKILL: {rt.module_status(name)}")
        await asyncio.sleep(0.001)
    new_pid = rt.module_status(name)["pid"]
    if new_pid in (None, old_pid):
        raise SystemExit(f"{name} answered but its pid did not change ({old_pid} -> {new_pid})")
    if record_phases:
        crashed = CLOCK.first(name, "running -> crashed", t0)
        starting = CLOCK.first(name, "crashed -> starting", t0)
        running = CLOCK.first(name, "starting -> running", t0)
        if crashed and starting and running:
            PHASES["SIGKILL -> crash noticed"].append(crashed - t0)
            PHASES["crash noticed -> relaunch begins"].append(starting - crashed)
            PHASES["relaunch"].append(running - starting)
    CLOCK.events.clear()
    return elapsed


async def time_reload(rt: ModuleRuntime, name: str) -> float:
    await asyncio.sleep(SETTLE)
    old_pid = rt.module_status(name)["pid"]
    t0 = time.perf_counter()
    await rt.reload(name)
    elapsed = time.perf_counter() - t0
    status = rt.module_status(name)
    assert status["state"] == "running" and status["pid"] != old_pid
    return elapsed


async def time_spawn() -> float:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SPAWN_CODE)
    code = await proc.wait()
    elapsed = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"fresh interpreter exited with {code}")
    return elapsed


async def run() -> dict[str, Any]:
    log_counter = quiet_runtime_logs()
    runtime_log = logging.getLogger("solobot.runtime")
    runtime_log.addHandler(CLOCK)
    runtime_log.setLevel(logging.INFO)  # the root handler still only counts WARNING and worse
    samples: dict[str, list[float]] = {"start": [], "kill -> serving": [], "kill -> serving, no backoff": [], "reload": []}
    samples["fresh interpreter spawn"] = []
    config = RuntimeConfig(crash_loop_max=1000)
    config_no_backoff = RuntimeConfig(crash_loop_max=1000, backoff_initial=0.0)
    with tempfile.TemporaryDirectory(prefix="bench_lifecycle_") as tmp:
        write_modules(Path(tmp, "a"), 3)
        write_modules(Path(tmp, "b"), 1)
        t0 = time.perf_counter()
        async with ModuleRuntime(Path(tmp, "a"), state_file=Path(tmp, "a.json"), config=config, sandbox=False) as rt:
            startup = time.perf_counter() - t0
            async with ModuleRuntime(
                Path(tmp, "b"), state_file=Path(tmp, "b.json"), config=config_no_backoff, sandbox=False
            ) as rt0:
                # warm-up: one of each, not recorded
                await time_start(rt, "m000")
                await time_kill(rt, "m001", clear_history=True)
                await time_kill(rt0, "m000", clear_history=False)
                await time_reload(rt, "m002")
                for i in range(max(START_RUNS, KILL_RUNS, RELOAD_RUNS, SPAWN_RUNS)):
                    if i < START_RUNS:
                        samples["start"].append(await time_start(rt, "m000"))
                    if i < KILL_RUNS:
                        samples["kill -> serving"].append(await time_kill(rt, "m001", clear_history=True, record_phases=True))
                        samples["kill -> serving, no backoff"].append(await time_kill(rt0, "m000", clear_history=False))
                    if i < RELOAD_RUNS:
                        samples["reload"].append(await time_reload(rt, "m002"))
                    if i < SPAWN_RUNS:
                        await asyncio.sleep(SETTLE)
                        samples["fresh interpreter spawn"].append(await time_spawn())
                final = {s["name"]: {k: s[k] for k in ("state", "restarts")} for s in rt.status() + rt0.status()}
                zygote_ready = rt._zygote.ready_seconds  # informative only

    stats = {name: summarize(values, 1e3) for name, values in samples.items()}  # milliseconds
    targets = {
        name: {"target_p50_ms": target, "p50_ms": stats[name]["p50"], "met": stats[name]["p50"] <= target}
        for name, target in TARGETS_MS.items()
    }
    spawn = stats["fresh interpreter spawn"]["p50"]
    return {
        "unit": "milliseconds",
        "config": {"rt": "RuntimeConfig(crash_loop_max=1000)", "rt0": "RuntimeConfig(crash_loop_max=1000, backoff_initial=0.0)"},
        "runtime_startup_seconds": startup,
        "zygote_ready_seconds": zygote_ready,
        "stats": stats,
        "kill_phases_ms_from_supervisor_log": {name: summarize(values, 1e3) for name, values in PHASES.items()},
        "ratios": {
            "fresh spawn / start (p50)": spawn / stats["start"]["p50"],
            "fresh spawn / reload (p50)": spawn / stats["reload"]["p50"],
        },
        "targets": targets,
        "final_module_states": final,
        "runtime_log_records_warning_or_worse": log_counter.counts,
        "runtime_log_first_records": log_counter.first,
    }


def main() -> None:
    info = machine_info()
    result = asyncio.run(run())
    print_header("bench_lifecycle: module start / SIGKILL -> serving / reload", info)
    rows = []
    for name, s in result["stats"].items():
        target = TARGETS_MS.get(name)
        verdict = "-" if target is None else f"<= {target:g} {'met' if s['p50'] <= target else 'MISSED'}"
        rows.append([name, s["n"], s["p50"], s["p90"], s["p99"], s["min"], s["max"], verdict])
    print_table(["operation (ms)", "n", "p50", "p90", "p99", "min", "max", "target p50"], rows)
    phases = result["kill_phases_ms_from_supervisor_log"]
    print(
        "   kill -> serving split (p50, from the supervisor's transition log): "
        + ", ".join(f"{name} {s['p50']:.1f} ms" for name, s in phases.items())
    )
    for name, ratio in result["ratios"].items():
        print(f"   {name:<27} {ratio:.0f}x")
    print(
        f"   runtime startup (zygote + 3 modules): {result['runtime_startup_seconds']:.2f} s "
        f"(zygote ready after {result['zygote_ready_seconds']:.2f} s); config: {result['config']['rt']}"
    )
    print(f"   runtime warnings/errors (the kills log errors on purpose): {result['runtime_log_records_warning_or_worse']}")
    write_results("bench_lifecycle", {"machine": info, **result})


if __name__ == "__main__":
    sys.exit(main())
