"""Module process lifecycle: load failures, crashes, quarantine, operations, persistence."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from runtime import ModuleLoadError, UnknownModuleError

from .conftest import ModuleFolder, pids, wait_until
from .shared_zygote import ThreadedZygote

pytestmark = pytest.mark.anyio


async def test_import_errors_fail_only_that_module(modules: ModuleFolder, make_runtime) -> None:
    modules.add("raises", "x = 1\nraise RuntimeError('config missing: PRICE')\n")
    modules.add("exits", "import sys\nsys.exit(3)\n")
    modules.add("os_exits", "import os\nos._exit(5)\n")
    modules.add_button_module("healthy")
    bad = modules.root / "bad-name"
    bad.mkdir()
    (bad / "__init__.py").write_text("")
    async with make_runtime(modules) as rt:
        status = {s["name"]: s for s in rt.status()}
        assert status["healthy"]["state"] == "running"
        assert status["raises"]["state"] == "failed"
        assert "RuntimeError: config missing: PRICE" in status["raises"]["last_error"]
        assert "router.py" in status["raises"]["last_error"]  # the child's traceback
        assert status["exits"]["state"] == "failed" and "SystemExit: 3" in status["exits"]["last_error"]
        assert status["os_exits"]["state"] == "failed" and "exited with code 5" in status["os_exits"]["last_error"]
        assert status["bad-name"]["state"] == "failed" and "not a valid module name" in status["bad-name"]["last_error"]
        assert list(await rt.run_hooks("profile_menu")) and status["raises"]["pid"] is None
        with pytest.raises(ModuleLoadError, match="config missing"):
            await rt.start("raises")
        with pytest.raises(UnknownModuleError):
            await rt.start("no_such_module")


async def test_status_reports_what_operators_need(modules: ModuleFolder, make_runtime) -> None:
    modules.add(
        "full",
        """
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()
        register_hook("profile_menu", lambda **kw: None)
        register_hook("start_menu", lambda **kw: None)

        async def handler(request):
            return None

        def get_webhook_data():
            return {"path": "/api/full", "handler": handler}

        def get_fast_flow_handler():
            return {"payment_key": "full_pay", "handler": handler}
        """,
        version="2.4.1",
    )
    async with make_runtime(modules) as rt:
        await rt.run_hooks("profile_menu")
        cheap = rt.module_status("full")  # for /healthz and `modules list`: no /proc reads
        assert cheap["state"] == "running" and cheap["rss"] is None and cheap["uss"] is None
        (status,) = await rt.status_with_usage("full")  # for status tables, the card, /metrics
        assert status["version"] == "2.4.1" and status["state"] == "running"
        assert status["hooks"] == ["profile_menu", "start_menu"]
        assert status["webhook_path"] == "/api/full" and status["fast_flow_key"] == "full_pay"
        assert status["has_router"] is True
        assert psutil.Process(status["pid"]).is_running()
        assert 0 < status["uss"] <= status["rss"]
        assert status["uptime"] >= 0 and status["cpu_percent"] is not None
        assert status["hook_calls"] == 1 and status["hook_p50"] is not None
        assert status["restarts"] == 0 and status["last_error"] is None


async def test_crash_loop_is_quarantined_until_started(modules: ModuleFolder, make_runtime, tmp_path: Path) -> None:
    flag = tmp_path / "crash"
    flag.write_text("1")
    modules.add(
        "crashy",
        f"""
        import os, pathlib, threading, time
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()
        register_hook("profile_menu", lambda **kw: "crashy")

        def _die_soon():
            time.sleep(0.05)
            os._exit(9)

        if pathlib.Path({str(flag)!r}).exists():
            threading.Thread(target=_die_soon, daemon=True).start()
        """,
    )
    modules.add_button_module("healthy")
    async with make_runtime(modules, crash_loop_max=3, crash_loop_window=30) as rt:
        healthy_pid = pids(rt)["healthy"]
        status = await wait_until(lambda: (s := rt.module_status("crashy"))["state"] == "quarantined" and s)
        assert status["restarts"] == 2 and "3 crashes" not in (status["last_error"] or "")
        assert "exited with code 9" in status["last_error"]
        assert pids(rt)["healthy"] == healthy_pid
        assert (await rt.run_hooks("profile_menu")).sources == ["healthy"]

        flag.unlink()
        await rt.start("crashy")
        assert rt.module_status("crashy")["state"] == "running"
        assert "crashy" in await rt.run_hooks("profile_menu")


async def test_operations_touch_only_their_module(modules: ModuleFolder, make_runtime) -> None:
    for name in ("alpha", "beta", "gamma"):
        modules.add_button_module(name)
    async with make_runtime(modules) as rt:
        original = pids(rt)
        others = {k: v for k, v in original.items() if k != "beta"}

        await rt.stop("beta")
        assert rt.module_status("beta")["state"] == "stopped" and pids(rt)["beta"] is None
        assert not psutil.pid_exists(original["beta"]) or psutil.Process(original["beta"]).status() == "zombie"
        assert (await rt.run_hooks("profile_menu")).sources == ["alpha", "gamma"]
        await rt.start("beta")
        after_start = pids(rt)["beta"]
        await rt.restart("beta")
        after_restart = pids(rt)["beta"]
        await rt.reload("beta")
        after_reload = pids(rt)["beta"]
        assert len({original["beta"], after_start, after_restart, after_reload}) == 4
        assert {k: v for k, v in pids(rt).items() if k != "beta"} == others
        assert (await rt.run_hooks("profile_menu")).sources == ["alpha", "beta", "gamma"]


async def test_reload_picks_up_new_code_and_keeps_the_old_on_failure(modules: ModuleFolder, make_runtime) -> None:
    source = """
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()
        register_hook("profile_menu", lambda **kw: "VERSION_TAG")
        """
    modules.add("dev", source.replace("VERSION_TAG", "v1"))
    modules.add_button_module("bystander")
    async with make_runtime(modules) as rt:
        bystander = pids(rt)["bystander"]
        assert "v1" in await rt.run_hooks("profile_menu")

        # Same length, same second: a stale bytecode cache would serve v1 again.
        modules.add("dev", source.replace("VERSION_TAG", "v2"))
        await rt.reload("dev")
        assert "v2" in await rt.run_hooks("profile_menu")
        good_pid = pids(rt)["dev"]

        modules.add("dev", source.replace("VERSION_TAG", "v3").rstrip() + "\n        import not_a_real_package\n")
        with pytest.raises(ModuleLoadError, match="not_a_real_package"):
            await rt.reload("dev")
        status = rt.module_status("dev")
        assert status["state"] == "running" and status["pid"] == good_pid
        assert "ModuleNotFoundError" in status["last_error"]
        assert "v2" in await rt.run_hooks("profile_menu")
        assert pids(rt)["bystander"] == bystander


async def test_stopped_state_survives_a_new_runtime(modules: ModuleFolder, make_runtime, tmp_path: Path) -> None:
    modules.add_button_module("keep")
    modules.add_button_module("parked")
    state_file = tmp_path / "state" / "modules_state.json"
    async with make_runtime(modules, state_file=state_file) as rt:
        await rt.stop("parked")
    assert '"parked"' in state_file.read_text()
    async with make_runtime(modules, state_file=state_file) as rt:
        assert {s["name"]: s["state"] for s in rt.status()} == {"keep": "running", "parked": "stopped"}
        assert (await rt.run_hooks("profile_menu")).sources == ["keep"]
        await rt.start("parked")
    async with make_runtime(modules, state_file=state_file) as rt:
        assert rt.module_status("parked")["state"] == "running"


async def test_unreadable_state_file_is_reported_and_kept(modules: ModuleFolder, make_runtime, tmp_path: Path, caplog) -> None:
    modules.add_button_module("one")
    state_file = tmp_path / "modules_state.json"
    state_file.write_text("{not json")
    async with make_runtime(modules, state_file=state_file) as rt:
        assert rt.module_status("one")["state"] == "running"
        assert any("cannot read" in r.getMessage() and str(state_file) in r.getMessage() for r in caplog.records)
        await rt.stop("one")
    kept = list(tmp_path.glob("modules_state.json.bad-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{not json"


async def test_a_module_process_that_died_reads_crashed_before_the_supervisor_reacts(modules: ModuleFolder, make_runtime) -> None:
    # Between a process's death and its supervisor's watch task running, status must not say
    # "running" with no pid (operators and the admin panel read it; tests had to work around it).
    modules.add_button_module("victim")
    async with make_runtime(modules) as rt:
        process = rt._supervisors["victim"].process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        await process.exited  # woken with the watch task's shield, before the watch task itself
        status = rt.module_status("victim")
        assert (status["state"], status["pid"]) == ("crashed", None), status
        assert "SIGKILL" in (status["last_error"] or ""), status
        await wait_until(lambda: rt.module_status("victim")["state"] == "running" and rt.module_status("victim")["pid"])


async def test_missed_heartbeat_is_a_crash(modules: ModuleFolder, make_runtime) -> None:
    modules.add(
        "blocker",
        """
        import time
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()

        @register_hook("profile_menu")
        def block(**kwargs):
            time.sleep(3600)  # blocks the module's event loop: it cannot even answer pings
        """,
    )
    async with make_runtime(modules, heartbeat_interval=0.1, heartbeat_timeout=0.3, hook_timeout=0.2) as rt:
        pid = pids(rt)["blocker"]
        await rt.run_hooks("profile_menu")
        status = await wait_until(lambda: (s := rt.module_status("blocker"))["pid"] not in (None, pid) and s)
        assert "missed heartbeat" in status["last_error"]
        assert not psutil.pid_exists(pid)


@pytest.mark.slow  # its own zygote, and the one replacing it
async def test_zygote_death_leaves_modules_running(modules: ModuleFolder, make_runtime) -> None:
    modules.add_button_module("one")
    modules.add_button_module("two")
    async with make_runtime(modules, own_zygote=True) as rt:  # the shared one is not ours to kill
        before = pids(rt)
        zygote = rt.zygote_pid
        os.kill(zygote, signal.SIGKILL)
        assert (await rt.run_hooks("profile_menu")).sources == ["one", "two"]
        assert pids(rt) == before
        # The runtime replaces it at once, without waiting for the next fork.
        new_zygote = await wait_until(lambda: rt.zygote_pid != zygote and rt.zygote_pid, timeout=60)
        await wait_until(lambda: psutil.Process(new_zygote).num_fds() > 0, timeout=5)
        assert not psutil.pid_exists(zygote) or psutil.Process(zygote).status() == psutil.STATUS_ZOMBIE
        await rt.restart("two")
        assert rt.zygote_pid == new_zygote and pids(rt)["one"] == before["one"]
        assert (await rt.run_hooks("profile_menu")).sources == ["one", "two"]


async def test_module_process_environment_is_scrubbed(modules: ModuleFolder, make_runtime, monkeypatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:SECRET-TOKEN")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://owner:pw@localhost/db")
    modules.add(
        "nosy",
        """
        import os
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()
        register_hook("profile_menu", lambda **kw: {"remove": sorted(os.environ)})
        """,
    )
    async with make_runtime(modules, own_zygote=True) as rt:  # a zygote started with the secrets in the environment
        (result,) = await rt.run_hooks("profile_menu")
        assert "BOT_TOKEN" not in result["remove"] and "DATABASE_URL" not in result["remove"]
        environ = Path(f"/proc/{pids(rt)['nosy']}/environ").read_bytes()
        assert b"SECRET-TOKEN" not in environ and b"owner:pw" not in environ


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (b"\x00\x00\x00\x03\xc1\xc1\xc1", "malformed msgpack"),
        (b"\xff\xff\xff\xff", "exceeds the"),
        (b"\x00\x00\x00\x02\x91\x09", "unknown message kind"),  # [9] is no message
        (b"\x00\x00\x00\x05\x93\x01\xcc\xc8\xc0", "never sent"),  # [RESPONSE, 200, nil]
    ],
)
async def test_protocol_violation_restarts_only_that_module(
    modules: ModuleFolder, make_runtime, garbage: bytes, reason: str
) -> None:
    modules.add(
        "forger",
        f"""
        import os
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()

        @register_hook("profile_menu")
        def forge(**kwargs):
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{{fd}}").startswith("socket:"):
                        os.write(int(fd), {garbage!r})
                except OSError:
                    pass
            return "forged"
        """,
    )
    modules.add_button_module("healthy")
    async with make_runtime(modules) as rt:
        before = pids(rt)
        results = await rt.run_hooks("profile_menu")
        assert "healthy" in results.sources and "forger" not in results.sources
        status = await wait_until(lambda: (s := rt.module_status("forger"))["pid"] not in (None, before["forger"]) and s)
        assert "protocol error" in status["last_error"] and reason in status["last_error"]
        assert pids(rt)["healthy"] == before["healthy"]
        assert (await rt.run_hooks("healthy_only_probe")) == []


async def test_a_stopped_or_crashed_sandboxed_module_is_no_longer_watched(tmp_path: Path, shared_zygote: ThreadedZygote) -> None:
    """The resource watchdog must not keep sampling (and maybe kill) a pid that is someone else's by now."""
    from runtime import ModuleRuntime
    from runtime.supervision.sandbox_setup import ModuleSandboxes
    from sandbox.bot_api_policy import BotApiPolicy
    from tests.solobot_harness import traversable_dir

    with traversable_dir("solobot-unwatch-") as root:
        folder = ModuleFolder(root / "modules")
        folder.add_button_module("watched")
        sandboxes = ModuleSandboxes(modules_dir=folder.root, data_dir=root / "storage", policy=BotApiPolicy())
        runtime = ModuleRuntime(folder.root, state_file=root / "state.json", sandboxes=sandboxes, zygote=shared_zygote)
        async with runtime as rt:
            assert sandboxes.watchdog.watched == ["watched"]
            os.kill(rt.module_status("watched")["pid"], signal.SIGKILL)  # crashes, is restarted, watched anew
            status = rt.module_status
            await wait_until(lambda: (status("watched")["state"], status("watched")["restarts"]) == ("running", 1))
            assert sandboxes.watchdog.watched == ["watched"]
            await rt.stop("watched")
            await wait_until(lambda: sandboxes.watchdog.watched == [])


@pytest.mark.slow  # its own zygote, on this test's loop, so the cancellation lands between request and answer
async def test_a_process_forked_for_a_request_whose_caller_gave_up_is_killed_and_reaped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A runtime closing while a module restarts cancels the fork it waits for; the zygote forks all
    # the same. That process must not wait forever for an init nobody sends, nor linger as a zombie.
    import asyncio
    import logging
    import re
    import socket

    from runtime.supervision.zygote_client import Zygote
    from sandbox import process_flags

    caplog.set_level(logging.INFO, logger="solobot")
    process_flags.set_child_subreaper()  # as a runtime does: the forked process becomes ours to reap
    zygote = Zygote()
    await zygote.start()
    host_end, child_end = socket.socketpair()  # our end stays open: left alone, the process would wait for init
    try:
        fork = asyncio.create_task(zygote.fork("abandoned", str(tmp_path), child_end, None))
        await asyncio.sleep(0)  # one turn: the fork's first step writes the request (its answer takes a fork)
        fork.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fork
        # The process was killed and reaped before the cancellation reached us.
        killed = re.search(r"killing pid (\d+): it was forked for a request whose caller gave up", caplog.text)
        assert killed, "the process forked for the abandoned request was left running"
        assert not psutil.pid_exists(int(killed.group(1)))
        assert "could not reap" not in caplog.text
    finally:
        host_end.close()
        child_end.close()
        await zygote.aclose()
