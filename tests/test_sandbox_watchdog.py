"""The resource watchdog against real processes: one that allocates (in a grandchild), one that spins."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from sandbox.watchdog import ResourceWatchdog
from tests.conftest import wait_until

pytestmark = pytest.mark.anyio

IDLE = "import time; time.sleep(60)"
SPIN = "while True: pass"
# The allocation happens in a child of the watched process: the watchdog sums the whole tree.
ALLOCATE_IN_CHILD = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; data = b'x' * (120 * 2**20); time.sleep(60)"])
    time.sleep(60)
    """
)


@pytest.fixture
def spawn() -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def run(code: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        started.append(process)
        return process

    yield run
    import os
    import signal

    for process in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


async def test_memory_over_the_limit_is_reported_once(spawn) -> None:  # type: ignore[no-untyped-def]
    process = spawn(ALLOCATE_IN_CHILD)
    reasons: list[str] = []
    watchdog = ResourceWatchdog(interval=0.05)
    watchdog.watch("hog", process.pid, memory_mb=64, cpu_seconds=30, on_violation=reasons.append)
    task = asyncio.create_task(watchdog.run())
    try:
        await wait_until(lambda: reasons, timeout=20)
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
    assert len(reasons) == 1
    assert reasons[0].startswith("memory ") and reasons[0].endswith(" MB over the 64 MB limit")
    assert int(reasons[0].split()[1]) > 64


async def test_pinned_cpu_is_reported_after_the_allowance(spawn) -> None:  # type: ignore[no-untyped-def]
    spinner, idler = spawn(SPIN), spawn(IDLE)
    reasons: dict[str, list[str]] = {"spin": [], "idle": []}
    watchdog = ResourceWatchdog(interval=0.1)
    watchdog.watch("spin", spinner.pid, memory_mb=512, cpu_seconds=1, on_violation=reasons["spin"].append)
    watchdog.watch("idle", idler.pid, memory_mb=512, cpu_seconds=1, on_violation=reasons["idle"].append)
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(watchdog.run())
    try:
        await wait_until(lambda: reasons["spin"], timeout=20)
        elapsed = loop.time() - started
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
    assert elapsed >= 1.0
    assert len(reasons["spin"]) == 1
    reason = reasons["spin"][0]
    assert reason.startswith("CPU pinned for ") and reason.endswith(" s (allowance 1 s)")
    assert float(reason.split()[3]) >= 1.0
    assert reasons["idle"] == []
    assert watchdog.usage["idle"].cpu_share < 0.5 and watchdog.usage["idle"].pinned_for == 0


async def test_unwatch_rewatch_and_exited_processes(spawn) -> None:  # type: ignore[no-untyped-def]
    spinner = spawn(SPIN)
    reasons: list[str] = []
    watchdog = ResourceWatchdog(interval=0.05)
    watchdog.watch("m", spinner.pid, memory_mb=512, cpu_seconds=0.5, on_violation=reasons.append)
    watchdog.unwatch("m")
    assert watchdog.watched == []
    watchdog.watch("m", spinner.pid, memory_mb=512, cpu_seconds=0.5, on_violation=reasons.append)
    task = asyncio.create_task(watchdog.run())
    try:
        await wait_until(lambda: reasons, timeout=20)
        # after a violation the same watch stays quiet; a new watch (the restarted module) is fresh
        watchdog.watch("m", spinner.pid, memory_mb=512, cpu_seconds=0.5, on_violation=reasons.append)
        await wait_until(lambda: len(reasons) == 2, timeout=20)
        spinner.kill()
        spinner.wait()
        await asyncio.sleep(0.2)  # a vanished process is skipped, not an error
    finally:
        task.cancel()
    assert len(reasons) == 2
