"""Scaffold → check → load → the button shows up: a new module works in the real bot, sandboxed."""

from __future__ import annotations

import pytest

from modcheck import check_module, create_module
from tests.conftest import fresh_database
from tests.core_fixtures import callbacks, press, send
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.mark.parametrize("with_db", [False, True], ids=["plain", "with-db"])
async def test_a_scaffolded_module_passes_the_checker_and_its_button_works(
    pg_url: str, with_db: bool, shared_zygote: ThreadedZygote, monkeypatch: pytest.MonkeyPatch
) -> None:
    with traversable_dir() as root:
        modules_dir = root / "modules"
        module = create_module("fresh_start", modules_dir, with_db=with_db)
        assert check_module(module) == []
        # The operator grants what the module asks for (--with-db: a foreign key to users).
        config = root / "modules.toml"
        config.write_text("[modules.fresh_start]\n" + ("references_users = true\n" if with_db else ""), encoding="utf-8")
        monkeypatch.setenv("MODULES_CONFIG", str(config))
        async with fresh_database(pg_url) as url, running_solobot(url, modules_dir, root, zygote=shared_zygote) as bot:
            status = bot.host.runtime.module_status("fresh_start")
            assert status["state"] == "running", status["last_error"]
            user = bot.user(3001)
            await send(user, "/start", "Добро пожаловать")
            profile = await press(user, "profile", "Профиль")
            rows = [[data for _, data in row] for row in profile.keyboard]
            row_of = {data: i for i, row in enumerate(rows) for data in row}
            assert row_of["balance"] < row_of["fresh_start|open"] < row_of["instructions"]
            screen = await press(user, "fresh_start|open", "Новый раздел")
            if with_db:
                assert "Вы впервые открыли этот раздел" in (screen.text or screen.caption or "")
            assert callbacks(screen) == ["profile"]
            back = await press(user, "profile", "Профиль")
            assert "fresh_start|open" in callbacks(back)
