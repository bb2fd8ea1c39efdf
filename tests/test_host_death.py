"""A host killed with SIGKILL leaves no module process (and no zygote) behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from .conftest import PROJECT_ROOT, ModuleFolder

HOST = """
import asyncio, json, sys
from runtime import ModuleRuntime

async def main():
    async with ModuleRuntime(sys.argv[1], state_file=sys.argv[2], sandbox=False) as rt:
        print(json.dumps({"zygote": rt.zygote_pid, "modules": [s["pid"] for s in rt.status()]}), flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def gone(pid: int) -> bool:
    """Dead, or a zombie waiting for a subreaper that is not us to collect it."""
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    try:
        os.waitpid(pid, os.WNOHANG)  # if the zombie is ours (pytest may be a subreaper), reap it
    except ChildProcessError:
        pass
    return True


@pytest.mark.slow
def test_sigkill_of_the_host_leaves_no_module_process(modules: ModuleFolder, tmp_path: Path) -> None:
    for name in ("one", "two", "three"):
        modules.add_button_module(name)
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, str(modules.root), str(tmp_path / "state.json")],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = host.stdout.readline()
        started = json.loads(line)
        children = [started["zygote"], *started["modules"]]
        assert len(children) == 4 and all(psutil.pid_exists(pid) for pid in children)
        assert all(psutil.Process(pid).ppid() == host.pid for pid in children)  # adopted by the host
        host.send_signal(signal.SIGKILL)
        host.wait(5)
        deadline = time.monotonic() + 5
        while not all(gone(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [pid for pid in children if not gone(pid)] == []
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
