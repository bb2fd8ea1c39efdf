"""Router lifecycle: a module's ``@router.startup()`` / ``@router.shutdown()`` observers run in its
process on start, stop, restart and reload, with aiogram's keyword arguments; a failing startup is
a failed start with the traceback. Driven through the whole bot and the local Bot API."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from database import add_user
from database.init_db import init_db
from runtime import ModuleLoadError
from tests.conftest import ModuleFolder, fresh_database
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import ADMIN_ID, running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

MODULE = "panels_lifecycle"
SOURCE = Path(__file__).resolve().parent / "compat_modules" / MODULE
EXPECTED_KWARGS = "bot,bots,dispatcher,router"


def lifecycle_lines(user) -> list[tuple[str, int, str]]:
    """(event, pid, rest) of every lifecycle message the module sent the admin, oldest first."""
    found = []
    for message in user.chat:
        match = re.fullmatch(r"lifecycle: (started|stopped) pid=(\d+) ?(.*)", message.text or "")
        if match:
            found.append((match[1], int(match[2]), match[3]))
    return found


async def admin_is_a_user_of_the_bot(url: str) -> None:
    """The admin started the bot long ago: a user of it, whom its modules may message (sandbox/bot_api_scope.py)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await init_db(engine)
        async with AsyncSession(engine) as session:
            await add_user(session, ADMIN_ID, first_name="Админ")
            await session.commit()
    finally:
        await engine.dispose()


async def test_startup_and_shutdown_observers_follow_every_operation(pg_url: str, shared_zygote: ThreadedZygote) -> None:
    with traversable_dir() as root:
        modules_dir = root / "modules"
        shutil.copytree(SOURCE, modules_dir / MODULE)
        async with fresh_database(pg_url) as url:
            await admin_is_a_user_of_the_bot(url)  # the module's startup observer messages the admin
            async with running_solobot(url, modules_dir, root, zygote=shared_zygote) as bot:
                admin = bot.user(ADMIN_ID)
                rt = bot.host.runtime
                first = rt.module_status(MODULE)["pid"]

                async def events(count: int) -> list[tuple[str, int, str]]:
                    return await admin.wait_until(lambda u: len(lifecycle_lines(u)) >= count and lifecycle_lines(u), 10)

                assert await events(1) == [("started", first, f"kwargs={EXPECTED_KWARGS} same_bot=True")]

                await rt.restart(MODULE)
                second = rt.module_status(MODULE)["pid"]
                assert second != first
                assert (await events(3))[1:] == [
                    ("stopped", first, "ticked=True"),
                    ("started", second, f"kwargs={EXPECTED_KWARGS} same_bot=True"),
                ]

                # A reload starts the new code first (its startup runs), then retires the old process.
                await rt.reload(MODULE)
                third = rt.module_status(MODULE)["pid"]
                assert (await events(5))[3:] == [
                    ("started", third, f"kwargs={EXPECTED_KWARGS} same_bot=True"),
                    ("stopped", second, "ticked=True"),
                ]

                await rt.stop(MODULE)
                assert (await events(6))[5:] == [("stopped", third, "ticked=True")]
                assert rt.module_status(MODULE)["state"] == "stopped"

                # Broken configuration: the startup raises, so the start fails with the module's traceback,
                # and no shutdown observer runs for a start that never happened.
                (modules_dir / MODULE / "FAIL_STARTUP").write_text("")
                with pytest.raises(ModuleLoadError, match="startup handler of the module's router failed"):
                    await rt.start(MODULE)
                status = rt.module_status(MODULE)
                assert status["state"] == "failed"
                assert "RuntimeError: PANEL_URL is not configured" in status["last_error"]
                assert "router.py" in status["last_error"] and "on_startup" in status["last_error"]
                assert len(lifecycle_lines(admin)) == 6

                # Fixed: it starts again and its startup runs.
                (modules_dir / MODULE / "FAIL_STARTUP").unlink()
                await rt.start(MODULE)
                fourth = rt.module_status(MODULE)["pid"]
                assert (await events(7))[6:] == [("started", fourth, f"kwargs={EXPECTED_KWARGS} same_bot=True")]


async def test_folders_that_cannot_be_modules_are_reported_by_name(modules: ModuleFolder, make_runtime) -> None:
    modules.add_button_module("healthy")
    no_init = modules.root / "no_init"
    no_init.mkdir()
    (no_init / "router.py").write_text("from aiogram import Router\nrouter = Router()\n")
    (modules.root / "single_file.py").write_text("from aiogram import Router\nrouter = Router()\n")
    empty = modules.root / "does_nothing"
    empty.mkdir()
    (empty / "__init__.py").write_text("X = 1\n")
    (modules.root / "assets").mkdir()  # no code at all: not a module, not reported
    (modules.root / "assets" / "logo.png").write_bytes(b"\x89PNG")
    async with make_runtime(modules) as rt:
        status = {s["name"]: s for s in rt.status()}
        assert set(status) == {"healthy", "no_init", "single_file", "does_nothing"}
        assert status["healthy"]["state"] == "running"
        assert status["no_init"]["state"] == "failed"
        assert "has no __init__.py" in status["no_init"]["last_error"]
        assert "from .router import router" in status["no_init"]["last_error"]
        assert status["single_file"]["state"] == "failed"
        assert "move it to single_file/router.py" in status["single_file"]["last_error"]
        # Importable but registering nothing: it runs, and the operator is told it does nothing.
        assert status["does_nothing"]["state"] == "running"
        assert any("registers nothing" in w for w in status["does_nothing"]["warnings"])
