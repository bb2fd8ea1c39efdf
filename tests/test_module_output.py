"""What a module process writes to stdout/stderr reaches the host's log, tagged and rate limited."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from .conftest import ModuleFolder

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

NOISY = """
import os, sys
from aiogram import Router
from hooks.hooks import register_hook

router = Router()
print("imported noisy")

async def profile_menu(**kwargs):
    print("hook says hi")
    sys.stderr.write("to stderr\\n")
    sys.stderr.flush()
    os.write(2, b"raw fd write\\n")
    return None

async def flood(**kwargs):
    for i in range(5000):
        print(f"spam {i}")
    sys.stdout.flush()
    return "done"

def big(**kwargs):
    for i in range(10_000):  # 500 KB without yielding: far more than the pipe behind fds 1 and 2 holds
        print(f"big {i:05d} " + "x" * 39)
    sys.stdout.flush()
    return "done"

register_hook("profile_menu", profile_menu)
register_hook("flood", flood)
register_hook("big", big)
"""


async def test_prints_and_raw_writes_become_tagged_log_lines(modules: ModuleFolder, make_runtime, caplog) -> None:
    from tests.conftest import wait_until

    modules.add("noisy", NOISY)
    caplog.set_level(logging.INFO, logger="solobot.module.noisy")
    async with make_runtime(modules) as rt:
        await rt.run_hooks("profile_menu")

        def lines() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.name == "solobot.module.noisy"]

        await wait_until(lambda: any("raw fd write" in line for line in lines()))
        for text in ("imported noisy", "hook says hi", "to stderr", "raw fd write"):
            assert any(line.startswith("[module noisy] stdout: ") and text in line for line in lines()), (text, lines())

        caplog.clear()
        assert list(await rt.run_hooks("flood")) == ["done"]
        # The loop was busy printing: the output thread kept 1000 lines and dropped (and reported) the rest,
        # and the host's rate limit lets through about its burst (200) of those.
        await wait_until(lambda: len([line for line in lines() if "spam" in line]) >= 150)
        await asyncio.sleep(0.5)
        assert any(re.search(r"stdout: \d+ lines of output dropped", line) for line in lines()), lines()[:3]
        assert len([line for line in lines() if "spam" in line]) <= 250  # rate limited: burst 200 (+ refill)
        assert rt.module_status("noisy")["state"] == "running"


async def test_a_synchronous_500_kb_print_does_not_hang_the_module(modules: ModuleFolder, make_runtime, caplog) -> None:
    from tests.conftest import wait_until

    modules.add("noisy", NOISY)
    caplog.set_level(logging.INFO, logger="solobot.module.noisy")
    async with make_runtime(modules) as rt:
        pid = rt.module_status("noisy")["pid"]
        assert list(await rt.run_hooks("big")) == ["done"]

        def lines() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.name == "solobot.module.noisy"]

        await wait_until(lambda: any("lines of output dropped" in line for line in lines()))
        # The notice is logged first and the lines kept follow it (log_forwarding): wait for the first of them.
        await wait_until(lambda: any(line.startswith("[module noisy] stdout: big 00000 ") for line in lines()))
        status = rt.module_status("noisy")
        assert status["state"] == "running" and status["pid"] == pid and status["restarts"] == 0
        assert list(await rt.run_hooks("big")) == ["done"]  # and again: nothing is left blocked
