"""The admin's "🧩 Модули" screens, end to end through the whole bot.

Real aiogram polling the local Bot API server, each module in its own process, real
PostgreSQL. The admin drives the list and the card; the runtime's own status is the referee.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from handlers.admin import modules_texts as t
from handlers.admin.modules import PAGE_SIZE, AdminModuleCallback, module_card, module_list, trim
from local_bot_api import SimulatedUser
from tests.conftest import fresh_database
from tests.core_fixtures import callbacks, press, press_forged, reply_with, send, shown
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import ADMIN_ID, Solobot, copy_modules, running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

MODULES = ["hello_world", "top_referrers"]
BROKEN_ROUTER = "from aiogram import Router\nrouter = Router(\n"  # a SyntaxError at import


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def solobot(pg_url: str, anyio_backend: str, shared_zygote: ThreadedZygote) -> AsyncIterator[Solobot]:
    with traversable_dir() as root:  # module processes run as their own uids: pytest's tmp dirs are 0700
        async with (
            fresh_database(pg_url) as url,
            running_solobot(url, copy_modules(MODULES, root / "modules"), root, zygote=shared_zygote) as bot,
        ):
            yield bot


async def press_and_answer(user: SimulatedUser, button: str) -> dict:
    """Press ``button``; the callback answer (toast or alert) it produced."""
    query_id = await user.press(button)
    return await user.wait_until(lambda u: u.world.callback_queries[query_id].answer, timeout=30)


def card_pid(text: str) -> int | None:
    match = re.search(r"PID: <code>(\d+)</code>", text)
    return int(match.group(1)) if match else None


async def open_card(admin: SimulatedUser, name: str) -> str:
    await send(admin, "/admin", "Панель администратора")
    listing = await press(admin, t.BTN_MODULES, "Модули")
    await press(admin, AdminModuleCallback(action="card", name=name, page=1).pack(), f"Модуль {name}")
    return shown(listing)


async def profile_buttons(user: SimulatedUser) -> list[str | None]:
    await send(user, "/start", "Добро пожаловать")
    return callbacks(await press(user, "profile", "Профиль"))


async def test_the_list_shows_every_module_with_its_state_and_the_card_its_numbers(solobot: Solobot) -> None:
    admin = solobot.user(ADMIN_ID)
    panel = await send(admin, "/admin", "Панель администратора")
    assert t.BTN_MODULES in panel.buttons
    listing = await press(admin, t.BTN_MODULES, "Модули")
    assert "🟢 hello_world 1.0.0" in listing.buttons
    assert any(b.startswith("🟢 top_referrers") for b in listing.buttons)
    assert "работают: <b>2</b>" in shown(listing)

    status = solobot.host.runtime.module_status("hello_world")
    card = await press(admin, "🟢 hello_world 1.0.0", "Модуль hello_world")
    text = shown(card)
    assert card_pid(text) == status["pid"]
    assert "Версия: <b>1.0.0</b>" in text and "(работает)" in text
    assert re.search(r"RSS \d+\.\d МБ", text)
    assert "Хуки: вызовов" in text and "Задержка хуков: p50" in text
    for button in (t.BTN_STOP, t.BTN_RESTART, t.BTN_RELOAD, t.BTN_TO_LIST):
        assert button in card.buttons
    assert t.BTN_START not in card.buttons  # it is running already
    assert all(len(data.encode()) <= 64 for data in callbacks(card) if data)

    back = await press(admin, t.BTN_TO_LIST, "Модули")
    assert "🟢 hello_world 1.0.0" in back.buttons


async def test_stop_then_start_from_the_card(solobot: Solobot) -> None:
    runtime = solobot.host.runtime
    admin, user = solobot.user(ADMIN_ID), solobot.user(3001)
    assert "hello|open" in await profile_buttons(user)
    await open_card(admin, "hello_world")

    answer = await press_and_answer(admin, t.BTN_STOP)
    assert answer["text"] == t.DONE["stop"] and not answer["show_alert"]
    card = await reply_with(admin, "остановлен")
    assert card_pid(shown(card)) is None and t.BTN_START in card.buttons and t.BTN_STOP not in card.buttons
    assert runtime.module_status("hello_world")["state"] == "stopped"
    assert "hello|open" not in await profile_buttons(user)

    answer = await press_and_answer(admin, t.BTN_START)
    assert answer["text"] == t.DONE["start"]
    card = await reply_with(admin, "(работает)")
    assert card_pid(shown(card)) == runtime.module_status("hello_world")["pid"] is not None
    assert "hello|open" in await profile_buttons(user)


async def test_restart_gives_a_new_process(solobot: Solobot) -> None:
    runtime = solobot.host.runtime
    admin = solobot.user(ADMIN_ID)
    before = runtime.module_status("top_referrers")
    await open_card(admin, "top_referrers")
    answer = await press_and_answer(admin, t.BTN_RESTART)
    assert answer["text"] == t.DONE["restart"]
    card = await reply_with(admin, "(работает)")
    after = runtime.module_status("top_referrers")
    assert after["pid"] != before["pid"] and card_pid(shown(card)) == after["pid"]
    assert after["restarts"] == before["restarts"] + 1
    assert f"Перезапусков: <b>{after['restarts']}</b>" in shown(card)


async def test_a_reload_of_broken_code_shows_the_error_and_the_old_process_keeps_serving(solobot: Solobot) -> None:
    runtime = solobot.host.runtime
    admin, user = solobot.user(ADMIN_ID), solobot.user(3002)
    router_file = solobot.modules_dir / "hello_world" / "router.py"
    good = router_file.read_text()
    old_pid = runtime.module_status("hello_world")["pid"]
    await open_card(admin, "hello_world")
    router_file.write_text(BROKEN_ROUTER)
    try:
        answer = await press_and_answer(admin, t.BTN_RELOAD)
        card = await reply_with(admin, "Последняя ошибка")
    finally:
        router_file.write_text(good)
    assert answer["show_alert"] and answer["text"].startswith("❌ Новый код не загрузился, работает прежняя версия")
    assert len(answer["text"]) <= 200
    assert "SyntaxError" in shown(card) and card_pid(shown(card)) == old_pid
    status = runtime.module_status("hello_world")
    assert status["state"] == "running" and status["pid"] == old_pid
    assert "hello|open" in await profile_buttons(user)
    await press(user, "hello|open", "Привет из модуля!")  # answered by the old process

    # The code is good again: the reload goes through and a new process serves.
    answer = await press_and_answer(admin, t.BTN_RELOAD)
    assert answer["text"] == t.DONE["reload"]
    await reply_with(admin, "(работает)")
    assert runtime.module_status("hello_world")["pid"] not in (None, old_pid)


async def test_a_non_admin_cannot_use_the_module_screens(solobot: Solobot) -> None:
    runtime = solobot.host.runtime
    user = solobot.user(3003)
    await send(user, "/start", "Добро пожаловать")
    pid = runtime.module_status("hello_world")["pid"]
    for data in ("admin_panel:modules:1", AdminModuleCallback(action="stop", name="hello_world").pack(), "admin_mod:list::1"):
        answer = await press_forged(user, data)
        assert answer["text"] == "Недостаточно прав." and answer["show_alert"], data
    assert not any("Модул" in shown(m) for m in user.chat)
    status = runtime.module_status("hello_world")
    assert status["state"] == "running" and status["pid"] == pid


async def test_forged_names_and_actions_are_refused(solobot: Solobot) -> None:
    admin = solobot.user(ADMIN_ID)
    await send(admin, "/admin", "Панель администратора")
    for data in ("admin_mod:stop:no_such_module:1", "admin_mod:stop:../etc:1", "admin_mod:explode:hello_world:1"):
        answer = await press_forged(admin, data)
        assert answer["text"] == t.NOT_FOUND, data
    assert solobot.host.runtime.module_status("hello_world")["state"] == "running"


# --- the screens alone: paging, odd names, long errors ----------------------------------------


def _status(name: str, state: str = "running", **extra: object) -> dict:
    return {"name": name, "version": "2.0", "state": state, "pid": 42, "restarts": 0, "last_error": None, **extra}


def test_the_list_pages_by_eight() -> None:
    statuses = [_status(f"mod_{i:02}", state) for i, state in enumerate(["running", "stopped", "failed", "crashed"] * 5)]
    text, markup = module_list(statuses, 1)
    rows = [[b.text for b in row] for row in markup.inline_keyboard]
    assert len(rows) == PAGE_SIZE + 2 and rows[0] == ["🟢 mod_00 2.0"] and rows[1] == ["⚪ mod_01 2.0"]
    assert rows[2] == ["🔴 mod_02 2.0"] and rows[3] == ["🟡 mod_03 2.0"]
    assert rows[PAGE_SIZE] == [t.BTN_NEXT] and "Страница 1 из 3" in text
    text, markup = module_list(statuses, 3)
    rows = [[b.text for b in row] for row in markup.inline_keyboard]
    assert len(rows) == 4 + 2 and rows[-2] == [t.BTN_PREV] and "Страница 3 из 3" in text
    _, markup = module_list(statuses, 99)  # clamped to the last page
    assert markup.inline_keyboard[0][0].text == "🟢 mod_16 2.0"
    assert module_list([], 1)[0] == t.LIST_EMPTY


def test_names_that_cannot_be_callback_data_are_listed_without_a_button() -> None:
    long_name = "m" * 60
    text, markup = module_list([_status("ok"), _status(long_name), _status("bad-name", "failed")], 1)
    buttons = [b.text for row in markup.inline_keyboard for b in row]
    assert "🟢 ok 2.0" in buttons and not any(long_name in b or "bad-name" in b for b in buttons)
    assert long_name in text and "bad-name" in text


def test_the_card_escapes_and_trims_the_last_error_and_shows_the_sandbox() -> None:
    error = "import failed <script>\n" + "x" * 2000 + "\nValueError: the end"
    text, _ = module_card(_status("m", "failed", last_error=error, sandbox=["seccomp", "landlock <fs>"]), 1)
    assert "&lt;script&gt;" in text and "ValueError: the end" in text and "<script>" not in text
    assert len(text) < 1200
    assert "Песочница: seccomp; landlock &lt;fs&gt;" in text
    assert len(trim(error, 500)) <= 500


def test_the_card_names_the_hooks_resting_after_a_timeout() -> None:
    text, _ = module_card(_status("m", "running", hooks_resting=["profile_menu", "start_menu"]), 1)
    assert "Не вызываются после тайм-аута (пауза): profile_menu, start_menu" in text
    assert "пауза" not in module_card(_status("m", "running"), 1)[0]


async def test_without_catalog_settings_the_catalog_is_hidden(solobot: Solobot, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from cli.main import main
    from handlers.admin import catalog_texts as ct
    from host.control import control_socket_path, describe_address

    assert solobot.host.catalog is None
    admin = solobot.user(ADMIN_ID)
    await send(admin, "/admin", "Панель администратора")
    listing = await press(admin, t.BTN_MODULES, "Модули")
    assert ct.BTN_CATALOG not in listing.buttons
    answer = await press_forged(admin, "admin_cat:list:::")  # a button this bot never showed
    assert answer["text"] == ct.NO_CATALOG
    socket = describe_address(control_socket_path(solobot.host.settings))
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["catalog", "list", "--socket", socket]) == 2
    assert "has no catalog: set CATALOG_URL and CATALOG_PUBLIC_KEY" in capsys.readouterr().err
