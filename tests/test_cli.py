"""``solobot`` (``python -m cli``) against a running bot's control socket, and on its own.

The bot side is a real runtime (real module processes) with the log buffer and the control
server of ``host.operator_tools``; one test runs the whole bot (``running_solobot``) with
``attach_operator_tools``. The CLI always runs as a separate process, as an operator runs it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from cli.client import default_socket_path
from cli.main import main
from host.control import ControlServer, ControlSocketBusy, control_socket_path, describe_address, refuse_if_bot_running
from host.log_buffer import ModuleLogBuffer
from runtime import ModuleRuntime

from .conftest import PROJECT_ROOT, ModuleFolder, fresh_database, wait_until
from .installs import as_user_command
from .shared_zygote import ThreadedZygote

pytestmark = pytest.mark.anyio

CHATTY = """
from aiogram import Router
from hooks.hooks import register_hook
from logger import logger

router = Router()
logger.info("chatty loaded")

def greeting_hook(**kwargs):
    logger.warning("chatty greets %s", kwargs.get("who"))
    return "hi"

register_hook("greeting", greeting_hook)
"""


async def solobot(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``python -m cli ARGS`` (the ``solobot`` command); return (exit status, stdout, stderr)."""
    # A fixed terminal width: tables fit COLUMNS, which differs by runner (pytest-xdist's workers set 80).
    environment = {k: v for k, v in os.environ.items() if k != "SOLOBOT_CONTROL_SOCKET"} | {"COLUMNS": "100"} | (env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *args, cwd=PROJECT_ROOT, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


@asynccontextmanager
async def bot_with_control(modules: ModuleFolder, make_runtime, path: Path) -> AsyncIterator[ModuleRuntime]:
    """A runtime with the log buffer (attached before the modules start, so import-time lines count) and the control socket."""
    logs = ModuleLogBuffer()
    with logs.attached():
        async with make_runtime(modules) as rt, ControlServer(rt, logs, path):
            yield rt


def row(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(name + " "))


async def test_status_stop_start_and_logs_over_the_control_socket(modules: ModuleFolder, make_runtime, tmp_path: Path) -> None:
    modules.add("chatty", CHATTY, version="1.2.0")
    modules.add_button_module("quiet")
    path = tmp_path / "run" / "solobot.sock"
    async with bot_with_control(modules, make_runtime, path) as rt:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # we created the folder

        code, out, err = await solobot("modules", "status", "--socket", str(path))
        assert code == 0, err
        header = out.splitlines()[0]
        for column in ("MODULE", "STATE", "VERSION", "PID", "UPTIME", "USS MB", "RESTARTS", "P50/P99 ms", "LAST ERROR"):
            assert column in header
        assert "running" in row(out, "chatty") and "1.2.0" in row(out, "chatty")
        assert str(rt.module_status("chatty")["pid"]) in row(out, "chatty")
        assert "running" in row(out, "quiet")
        assert max(len(line) for line in out.splitlines()) <= 120

        code, out, err = await solobot("modules", "stop", "quiet", "--socket", str(path))
        assert (code, out.strip()) == (0, "quiet: stopped"), err
        assert "stopping quiet" in err  # the progress line
        code, out, _ = await solobot("modules", "status", "--socket", str(path))
        assert "stopped" in row(out, "quiet") and "running" in row(out, "chatty")
        code, out, _ = await solobot("modules", "list", "--socket", str(path))
        assert "stopped" in row(out, "quiet")

        code, out, err = await solobot("modules", "start", "quiet", "--socket", str(path))
        assert code == 0 and out.startswith("quiet: running, pid "), err
        assert rt.module_status("quiet")["state"] == "running"

        await rt.run_hooks("greeting", who="Alice")
        code, out, err = await solobot("modules", "logs", "chatty", "--socket", str(path))
        assert code == 0, err
        assert "INFO [module chatty] solobot: chatty loaded" in out
        assert "WARNING [module chatty] solobot: chatty greets Alice" in out
        assert "quiet" not in out
        code, out, _ = await solobot("modules", "logs", "chatty", "-n", "1", "--socket", str(path))
        assert out.splitlines()[-1].endswith("chatty greets Alice") and "chatty loaded" not in out
        code, out, _ = await solobot("modules", "logs", "quiet", "--socket", str(path))
        assert "chatty" not in out and "quiet: running -> stopped" in out  # the runtime's lines about it

        code, out, err = await solobot("modules", "stop", "nope", "--socket", str(path))
        assert code == 1 and "no module named 'nope'; known modules: chatty, quiet" in err

        (modules.root / "chatty" / "router.py").write_text("raise RuntimeError('broken on purpose')\n")
        serving = rt.module_status("chatty")["pid"]
        code, out, err = await solobot("modules", "reload", "chatty", "--socket", str(path))
        assert code == 1
        assert "the previous version keeps serving" in err and "solobot modules reload chatty" in err
        assert "RuntimeError: broken on purpose" in err  # the traceback follows
        assert rt.module_status("chatty")["pid"] == serving
        code, out, _ = await solobot("modules", "status", "chatty", "--socket", str(path))
        assert "RuntimeError: broken" in row(out, "chatty") and "Traceback" in out  # the full last error below the table
    assert not path.exists()  # removed on exit


async def test_logs_follow_streams_until_the_client_leaves(modules: ModuleFolder, make_runtime, tmp_path: Path) -> None:
    modules.add("chatty", CHATTY)
    path = tmp_path / "solobot.sock"
    logs = ModuleLogBuffer()
    with logs.attached():
        async with make_runtime(modules) as rt, ControlServer(rt, logs, path):
            follower = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cli", "modules", "logs", "chatty", "-f", "-n", "0", "--socket", str(path),
                cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                await wait_until(lambda: logs._followers.get("chatty"))  # connected and following
                for who in ("Bob", "Carol"):
                    await rt.run_hooks("greeting", who=who)
                    line = await asyncio.wait_for(follower.stdout.readline(), 10)
                    assert line.decode().rstrip().endswith(f"WARNING [module chatty] solobot: chatty greets {who}")
                follower.send_signal(signal.SIGINT)  # Ctrl-C ends following, quietly
                assert await asyncio.wait_for(follower.wait(), 10) == 0
                await wait_until(lambda: not logs._followers)  # the bot noticed and let go of it
            finally:
                if follower.returncode is None:
                    follower.kill()
                    await follower.wait()


async def test_no_running_bot_is_a_friendly_message_and_status_1(tmp_path: Path) -> None:
    missing = tmp_path / "none.sock"
    code, out, err = await solobot("modules", "status", "--socket", str(missing))
    assert code == 1 and out == ""
    assert err.strip() == f"solobot: no running bot at {missing}: start it with `solobot run` (or set SOLOBOT_CONTROL_SOCKET)"

    stale = tmp_path / "stale.sock"  # a bot that died: the file is there, nobody listens
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))
    code, _, err = await solobot("modules", "stop", "x", env={"SOLOBOT_CONTROL_SOCKET": str(stale)})
    assert code == 1 and f"no running bot at {stale}" in err


async def test_a_second_bot_is_refused_and_a_stale_socket_replaced(
    modules: ModuleFolder, make_runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOLOBOT_CONTROL_SOCKET", raising=False)
    settings = SimpleNamespace(data_dir=str(tmp_path))
    modules.add_button_module("quiet")
    address = control_socket_path(settings)  # the default: abstract, no file a module could reach
    async with make_runtime(modules) as rt:
        logs = ModuleLogBuffer()
        refuse_if_bot_running(settings)
        async with ControlServer(rt, logs, address):
            with pytest.raises(ControlSocketBusy, match="another bot is already running"):
                refuse_if_bot_running(settings)  # what SolobotHost checks before it starts anything
            with pytest.raises(ControlSocketBusy, match="another bot is already running"):
                async with ControlServer(rt, logs, address):
                    pass
            code, out, _ = await solobot("modules", "list", "--socket", describe_address(address))
            assert code == 0 and "quiet" in out  # the refused one did not take the live bot's socket away
        refuse_if_bot_running(settings)  # gone with the bot

        path = tmp_path / "solobot.sock"  # SOLOBOT_CONTROL_SOCKET: a path-named socket, as before
        monkeypatch.setenv("SOLOBOT_CONTROL_SOCKET", str(path))
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))  # left behind by a bot that died
        refuse_if_bot_running(settings)  # a stale socket is no running bot
        async with ControlServer(rt, logs, path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            with pytest.raises(ControlSocketBusy, match="another bot is already running"):
                refuse_if_bot_running(settings)
            with pytest.raises(ControlSocketBusy, match="another bot is already running"):
                async with ControlServer(rt, logs, path):
                    pass
            assert path.exists()  # the refused one did not remove the live bot's socket
            code, out, _ = await solobot("modules", "list", "--socket", str(path))
            assert code == 0 and "quiet" in out
        assert not path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="connects as another uid: needs root")
async def test_the_default_socket_serves_only_the_bots_user(modules: ModuleFolder, make_runtime, tmp_path: Path) -> None:
    """An abstract socket has no file mode: SO_PEERCRED is what keeps other users out."""
    modules.add_button_module("quiet")
    address = control_socket_path(SimpleNamespace(data_dir=str(tmp_path)))
    assert isinstance(address, str) and address.startswith("\0solobot-control-")
    # "read-first" reads the refusal before sending its request: the server must still be reading
    # then (a server that closed at once made that send fail with EPIPE, and a racing "send-first"
    # client fail at random).
    client = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect('\\0' + sys.argv[1])\n"
        "f = s.makefile()\n"
        "answer = f.readline() if sys.argv[2] == 'read-first' else ''\n"
        's.sendall(b\'{"cmd": "list"}\\n\')\n'
        "print(answer or f.readline())\n"
    )
    refused = "uid 65534 may not control this bot"
    cases = [(65534, "read-first", refused), (65534, "send-first", refused), (0, "send-first", '"quiet"')]
    async with bot_with_control(modules, make_runtime, address):
        for uid, order, expected in cases:
            command = [sys.executable, "-I", "-c", client, address[1:], order]
            process = await asyncio.create_subprocess_exec(
                *(as_user_command(uid, uid, command) if uid else command), cwd="/",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 30)
            assert expected in out.decode() and process.returncode == 0, (uid, order, out, err)


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    actions = ["list", "status", "start", "stop", "restart", "reload", "logs", "check", "new", "permissions"]
    for command in [[], ["run"], ["demo"], ["modules"], *(["modules", action] for action in actions)]:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0, command
        assert capsys.readouterr().out.startswith("usage: solobot"), command


async def test_help_as_a_process_and_usage_errors() -> None:
    code, out, _ = await solobot("--help")
    assert code == 0 and "modules" in out and "run" in out
    code, _, err = await solobot()
    assert code == 2 and "solobot --help" in err
    code, _, err = await solobot("modules", "logs")
    assert code == 2 and "NAME" in err


async def test_check_new_and_permissions_need_no_bot(tmp_path: Path) -> None:
    code, out, err = await solobot("modules", "new", "my_module", "--dir", str(tmp_path))
    assert code == 0 and "created" in out, err
    code, out, err = await solobot("modules", "check", str(tmp_path / "my_module"))
    assert code == 0, out + err
    config = tmp_path / "modules.toml"
    config.write_text("[modules.my_module]\nnetwork = true\n")
    (tmp_path / "my_module" / "module.toml").write_text('[request]\ndb_read = ["payments"]\nreason.db_read = "counts payments"\n')
    code, out, err = await solobot("modules", "permissions", "--dir", str(tmp_path), "--config", str(config))
    assert code == 0, err
    assert "my_module: sandboxed: network = true" in out
    assert "pending: module my_module requests SELECT on payments: counts payments" in out


def test_the_cli_finds_the_socket_where_the_bot_puts_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from config import load_settings

    monkeypatch.delenv("SOLOBOT_CONTROL_SOCKET", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    address = default_socket_path()
    assert address == control_socket_path(load_settings(require_token=False))
    assert isinstance(address, str) and address.startswith("\0solobot-control-") and len(address) == 1 + 16 + 16  # abstract
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", "data")  # the resolved folder names the socket
    assert default_socket_path() == control_socket_path(load_settings(require_token=False)) == address
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "other"))
    assert default_socket_path() != address
    monkeypatch.setenv("SOLOBOT_CONTROL_SOCKET", str(tmp_path / "x.sock"))
    assert default_socket_path() == control_socket_path(load_settings(require_token=False)) == tmp_path / "x.sock"


async def test_the_whole_bot_with_operator_tools(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, shared_zygote: ThreadedZygote
) -> None:
    from tests.solobot_harness import copy_modules, running_solobot, traversable_dir

    monkeypatch.delenv("SOLOBOT_CONTROL_SOCKET", raising=False)
    with traversable_dir() as root:
        modules_dir = copy_modules(["hello_world"], root / "modules")
        async with (
            fresh_database(pg_url) as url,
            running_solobot(url, modules_dir, root, reload=True, zygote=shared_zygote) as bot,
        ):
            address = control_socket_path(bot.host.settings)  # abstract, named after <DATA_DIR>
            assert address == control_socket_path(SimpleNamespace(data_dir=str(root / "storage")))
            path = describe_address(address)  # @solobot-control-…
            code, out, err = await solobot("modules", "status", "--socket", path)
            assert code == 0 and "running" in row(out, "hello_world"), err
            runtime = bot.host.runtime
            before = runtime.module_status("hello_world")["pid"]
            router = modules_dir / "hello_world" / "router.py"
            router.write_text(router.read_text() + "\n# edited\n")  # hot reload
            after = await wait_until(lambda: (pid := runtime.module_status("hello_world")["pid"]) != before and pid, 30)
            code, out, err = await solobot("modules", "logs", "hello_world", "--socket", path)
            assert code == 0, err
            assert "[modules] hello_world: hello_world/router.py changed: reloading" in out
            assert f"[modules] hello_world: reloaded, pid {after}" in out
