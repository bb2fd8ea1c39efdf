"""What a module process writes to stdout/stderr reaches the host's log, tagged and rate limited."""

from __future__ import annotations

import logging

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

register_hook("profile_menu", profile_menu)
register_hook("flood", flood)
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
        await wait_until(lambda: any("log lines dropped" in line for line in lines()) or len(lines()) >= 200)
        assert len([line for line in lines() if "spam" in line]) <= 250  # rate limited: burst 200 (+ refill)
        assert rt.module_status("noisy")["state"] == "running"
