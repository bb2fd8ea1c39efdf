"""Hot reload (``host.reloader.ModuleReloader``): real runtime, real file watching, real processes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from host.reloader import ModuleReloader

from .conftest import ModuleFolder, pids, wait_until

pytestmark = pytest.mark.anyio

GREETER = """
from aiogram import Router
from hooks.hooks import register_hook

router = Router()

def greeting_hook(**kwargs):
    return {text!r}

register_hook("greeting", greeting_hook)
"""


def write_router(modules: ModuleFolder, name: str, source: str) -> None:
    (modules.root / name / "router.py").write_text(source)


async def greetings(rt) -> list[str]:
    return list(await rt.run_hooks("greeting"))


async def settle(reloader: ModuleReloader, modules: ModuleFolder, name: str) -> None:
    """Return once the reloader has handled every change written before the call.

    A test that checks nothing happened has no event to wait for, so it makes one: ``name`` is
    edited twice. Batches are handled one at a time, and the second edit is written only after the
    first was handled, so it is in a later batch than anything written before the call.
    """
    for edit in (1, 2):
        handled = reloader.reloads + 1
        write_router(modules, name, GREETER.format(text=f"{name} settled {edit}"))
        await wait_until(lambda handled=handled: reloader.reloads >= handled)


async def test_an_edit_reloads_only_that_module_a_broken_one_keeps_the_old_version(
    modules: ModuleFolder, make_runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="solobot")
    modules.add("alpha", GREETER.format(text="alpha v1"))
    modules.add("beta", GREETER.format(text="beta v1"))
    async with make_runtime(modules) as rt, ModuleReloader(rt, modules.root, debounce=0.1) as reloader:
        await reloader.wait_ready()
        original = pids(rt)
        assert await greetings(rt) == ["alpha v1", "beta v1"]

        write_router(modules, "alpha", GREETER.format(text="alpha v2"))
        await wait_until(lambda: pids(rt)["alpha"] != original["alpha"])
        assert await greetings(rt) == ["alpha v2", "beta v1"]
        assert pids(rt)["beta"] == original["beta"]
        serving = pids(rt)["alpha"]

        write_router(modules, "alpha", "raise RuntimeError('broken on purpose')\n")
        await wait_until(lambda: "broken on purpose" in (rt.module_status("alpha")["last_error"] or ""))
        status = rt.module_status("alpha")
        assert status["state"] == "running" and status["pid"] == serving  # the previous version keeps serving
        assert "Traceback" in status["last_error"] and "router.py" in status["last_error"]
        assert pids(rt) == {"alpha": serving, "beta": original["beta"]}
        assert await greetings(rt) == ["alpha v2", "beta v1"]
        # On the terminal (via logging): the traceback, and what to do next.
        await wait_until(lambda: "fix the error and save again" in caplog.text)
        assert "RuntimeError: broken on purpose" in caplog.text
        assert "the previous version keeps serving" in caplog.text

        write_router(modules, "alpha", GREETER.format(text="alpha v3"))
        await wait_until(lambda: pids(rt)["alpha"] != serving)
        assert await greetings(rt) == ["alpha v3", "beta v1"]
        assert rt.module_status("alpha")["state"] == "running"
        assert pids(rt)["beta"] == original["beta"]


async def test_caches_and_editor_temp_files_do_not_reload(modules: ModuleFolder, make_runtime) -> None:
    modules.add("alpha", GREETER.format(text="alpha v1"))
    modules.add("sentinel", GREETER.format(text="sentinel v1"))
    async with make_runtime(modules) as rt, ModuleReloader(rt, modules.root, debounce=0.05) as reloader:
        await reloader.wait_ready()
        original = pids(rt)
        folder = modules.root / "alpha"
        (folder / "__pycache__").mkdir(exist_ok=True)
        (folder / "__pycache__" / "router.cpython-311.pyc").write_bytes(b"\0")
        (folder / "router.pyc").write_bytes(b"\0")
        (folder / ".router.py.swp").write_text("vim")
        (folder / "router.py~").write_text("backup")
        (folder / "#router.py#").write_text("emacs")
        (folder / "4913").write_text("")
        (modules.root / "notes.txt").write_text("a file in the modules folder itself")
        await settle(reloader, modules, "sentinel")
        assert pids(rt)["alpha"] == original["alpha"] and reloader.reloads == 2  # the sentinel's two edits only


async def test_a_new_module_folder_starts_and_a_stopped_module_stays_stopped(modules: ModuleFolder, make_runtime) -> None:
    modules.add("alpha", GREETER.format(text="alpha v1"))
    modules.add("beta", GREETER.format(text="beta v1"))
    async with make_runtime(modules) as rt, ModuleReloader(rt, modules.root, debounce=0.1) as reloader:
        await reloader.wait_ready()
        await rt.stop("beta")
        alpha = pids(rt)["alpha"]

        modules.add("gamma", GREETER.format(text="gamma v1"))
        await wait_until(lambda: "gamma" in rt.module_names and rt.module_status("gamma")["state"] == "running")
        await wait_until(lambda: reloader.reloads == 1)  # gamma's start, counted
        assert await greetings(rt) == ["alpha v1", "gamma v1"]

        write_router(modules, "beta", GREETER.format(text="beta v2"))
        await settle(reloader, modules, "gamma")
        assert rt.module_status("beta")["state"] == "stopped"
        assert pids(rt)["alpha"] == alpha


SLOW_GREETER = """
import asyncio

from aiogram import Router
from hooks.hooks import register_hook

router = Router()

async def greeting_hook(**kwargs):
    await asyncio.sleep(1.0)
    return {text!r}

register_hook("greeting", greeting_hook)
"""


async def test_a_call_in_flight_when_a_reload_switches_finishes_in_the_old_process(modules: ModuleFolder, make_runtime) -> None:
    modules.add("slow", SLOW_GREETER.format(text="slow v1"))
    async with make_runtime(modules) as rt:
        old = pids(rt)["slow"]
        in_flight = asyncio.ensure_future(greetings(rt))
        await asyncio.sleep(0.3)  # handed to the old process, which is still working on it
        write_router(modules, "slow", SLOW_GREETER.format(text="slow v2"))
        await rt.reload("slow")
        assert pids(rt)["slow"] != old
        assert await in_flight == ["slow v1"]  # not cut off by the switch
        assert await greetings(rt) == ["slow v2"]


async def test_the_version_shown_is_the_serving_codes_read_at_launch_not_at_each_status(
    modules: ModuleFolder, make_runtime
) -> None:
    modules.add("alpha", GREETER.format(text="alpha v1"), version="1.0")
    version_file = modules.root / "alpha" / "VERSION"
    async with make_runtime(modules) as rt:
        assert rt.module_status("alpha")["version"] == "1.0"
        version_file.write_text("2.0\n")  # installed on disk, not yet serving
        assert rt.module_status("alpha")["version"] == "1.0"
        await rt.reload("alpha")
        assert rt.module_status("alpha")["version"] == "2.0"
        version_file.write_text("3.0\n")
        write_router(modules, "alpha", "raise RuntimeError('broken on purpose')\n")
        with pytest.raises(Exception, match="broken on purpose"):
            await rt.reload("alpha")
        assert rt.module_status("alpha")["version"] == "2.0"  # the previous version keeps serving
        await rt.stop("alpha")
        with pytest.raises(Exception, match="broken on purpose"):
            await rt.start("alpha")
        assert rt.module_status("alpha")["version"] == "3.0"  # nothing else serves: what failed to start
