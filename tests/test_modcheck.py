"""modcheck: the static module checker and the scaffold (no bot, no database: sources only)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modcheck import RULES, Finding, ScaffoldError, UsageError, check_module, check_paths, create_module
from modcheck.scaffold import render

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = PROJECT_ROOT / "modules"
CASES = Path(__file__).resolve().parent / "modcheck_cases"

BASE = {
    "__init__.py": '__all__ = ("router",)\nfrom .router import router\n',
    "router.py": "from aiogram import Router\n\nrouter = Router()\n",
    "texts.py": "",
    "settings.py": "",
}


def write_module(root: Path, name: str = "bad", **files: str | None) -> Path:
    """A module in the seed's layout; keyword ``router__py="..."`` overrides a file, ``None`` deletes it."""
    folder = root / name
    folder.mkdir(parents=True)
    contents: dict[str, str | None] = dict(BASE)
    contents.update({key if "." in key else key.replace("__", "."): value for key, value in files.items()})
    for filename, text in contents.items():
        if text is not None:
            (folder / filename).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def line_of(folder: Path, filename: str, needle: str) -> int:
    for number, line in enumerate((folder / filename).read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {filename}")


def located(findings: list[Finding]) -> list[tuple[str, int, str]]:
    return [(Path(f.file).name, f.line, f.rule) for f in findings]


def run_cli(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
    )


# --- clean modules ------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", sorted(p for p in EXAMPLES.iterdir() if (p / "__init__.py").is_file()), ids=lambda p: p.name)
def test_example_modules_are_clean(folder: Path) -> None:
    assert check_module(folder) == []


def test_seed_snippets_are_clean() -> None:
    assert check_module(CASES / "seed_snippets") == []


def test_seed_hello_world_verbatim_only_breaks_the_texts_rule() -> None:
    # The guide's minimal example keeps its texts in router.py, which its own checklist forbids.
    folder = CASES / "seed_hello_world"
    findings = check_module(folder)
    assert located(findings) == [
        ("router.py", line_of(folder, "router.py", '"👋 Привет"'), "SB002"),
        ("router.py", line_of(folder, "router.py", '"⬅️ Назад"'), "SB002"),
        ("router.py", line_of(folder, "router.py", '"Привет из модуля!"'), "SB002"),
    ]


def test_finding_format_and_order(tmp_path: Path) -> None:
    folder = write_module(tmp_path, router__py="def broken(:\n")
    (finding,) = check_module(folder)
    assert str(finding) == f"{folder / 'router.py'}:1:12: SB000 {finding.message}"
    assert "syntax error" in finding.message
    assert set(RULES) >= {f"SB{n:03d}" for n in range(17)}


# --- one bad module per rule --------------------------------------------------------------------


def test_syntax_error_is_a_finding_at_its_line(tmp_path: Path) -> None:
    folder = write_module(tmp_path, texts__py='OK = "Готово"\nBROKEN = (\n')
    findings = check_module(folder)
    assert [(Path(f.file).name, f.rule) for f in findings] == [("texts.py", "SB000")]
    assert findings[0].line in (2, 3)


def test_router_not_exported(tmp_path: Path) -> None:
    folder = write_module(tmp_path, **{"__init__.py": "# nothing here\n"})
    assert located(check_module(folder)) == [("__init__.py", 1, "SB001")]


def test_router_assignment_in_init_counts_as_export(tmp_path: Path) -> None:
    folder = write_module(tmp_path, **{"__init__.py": "from . import router as _r\nrouter = _r.router\n"})
    assert check_module(folder) == []


def test_router_py_missing_or_without_router(tmp_path: Path) -> None:
    assert located(check_module(write_module(tmp_path, "a", router__py=None))) == [("router.py", 1, "SB001")]
    assert located(check_module(write_module(tmp_path, "b", router__py="x = 1\n"))) == [("router.py", 1, "SB001")]


def test_user_facing_literals_in_router(tmp_path: Path) -> None:
    router = """\
        from aiogram import F, Router
        from aiogram.types import CallbackQuery, InlineKeyboardButton
        from logger import logger

        from . import texts

        router = Router()


        @router.callback_query(F.data == "bad|open")
        async def open_screen(callback: CallbackQuery, bot):
            logger.info("opening the screen for %s", callback.from_user.id)
            button = InlineKeyboardButton(text="Назад", callback_data="profile")
            await callback.message.edit_text(f"Баланс: {callback.from_user.id}", reply_markup=None)
            text = "Привет"
            await bot.send_message(callback.from_user.id, text)
            await callback.message.answer(texts.OK.format(x=1) + f"{button.text} ₽")
            await callback.answer("Готово", show_alert=True)
    """
    folder = write_module(tmp_path, router__py=router, texts__py='OK = "ок {x}"\n')
    assert located(check_module(folder)) == [
        ("router.py", line_of(folder, "router.py", 'text="Назад"'), "SB002"),
        ("router.py", line_of(folder, "router.py", 'f"Баланс'), "SB002"),
        ("router.py", line_of(folder, "router.py", 'text = "Привет"'), "SB002"),
        ("router.py", line_of(folder, "router.py", '"Готово"'), "SB002"),
    ]


def test_text_returned_from_a_text_hook(tmp_path: Path) -> None:
    router = """\
        from aiogram import Router
        from hooks.hooks import register_hook

        router = Router()


        async def profile_text_hook(username=None, **kwargs):
            return f"Привет, {username}!"


        register_hook("profile_text", profile_text_hook)
    """
    folder = write_module(tmp_path, router__py=router)
    assert located(check_module(folder)) == [("router.py", line_of(folder, "router.py", 'return f"Привет'), "SB002")]


def test_settings_and_text_constants_in_router(tmp_path: Path) -> None:
    router = """\
        from aiogram import Router

        router = Router()
        TOP_N = 5
        CHANNEL_URL = "https://t.me/news"
        GREETING = "Добро пожаловать"
        CALLBACK_OPEN = "bad|open"
        STATUSES = ("member", "administrator")
        _MS_PER_SECOND = 1000
    """
    folder = write_module(tmp_path, router__py=router)
    assert located(check_module(folder)) == [
        ("router.py", 4, "SB003"),
        ("router.py", 5, "SB003"),
        ("router.py", 6, "SB002"),
    ]


def test_hook_without_kwargs_call_and_decorator_forms(tmp_path: Path) -> None:
    router = """\
        from aiogram import Router
        from hooks.hooks import register_hook

        router = Router()


        async def profile_menu_hook(chat_id, session):
            return None


        register_hook("profile_menu", profile_menu_hook)


        @register_hook("start_menu")
        def start_hook(chat_id=None):
            return None
    """
    folder = write_module(tmp_path, router__py=router)
    assert located(check_module(folder)) == [
        ("router.py", line_of(folder, "router.py", "async def profile_menu_hook"), "SB004"),
        ("router.py", line_of(folder, "router.py", "def start_hook"), "SB004"),
    ]


def test_hook_registration_mistakes(tmp_path: Path) -> None:
    router = """\
        from aiogram import Router
        from hooks.hooks import _hooks, register_hook

        router = Router()


        async def view_key_menu_hook(key_name, **kwargs):
            return None


        async def admin_panel_hook(**kwargs):
            return None


        async def shown(**kwargs):
            return None


        register_hook("start_menu")
        register_hook("profile_menus", shown)
        _hooks.setdefault("start_menu", []).append(shown)
    """
    folder = write_module(tmp_path, router__py=router)
    assert located(check_module(folder)) == [
        ("router.py", 2, "SB005"),  # the private registry
        ("router.py", line_of(folder, "router.py", "async def view_key_menu_hook"), "SB005"),  # never registered
        ("router.py", line_of(folder, "router.py", "async def admin_panel_hook"), "SB005"),
        ("router.py", line_of(folder, "router.py", 'register_hook("start_menu")'), "SB005"),  # registers nothing
        ("router.py", line_of(folder, "router.py", '"profile_menus"'), "SB005"),  # typo
    ]
    assert "did you mean 'profile_menu'" in check_module(folder)[-1].message


def test_hook_parameter_the_core_never_passes(tmp_path: Path) -> None:
    router = """\
        from aiogram import Router
        from hooks.hooks import register_hook

        router = Router()


        async def profile_menu_hook(user, chat_id, admin=False, **kwargs):
            return None


        async def view_key_menu_hook(key_name: str, **kwargs):
            return None


        register_hook("profile_menu", profile_menu_hook)
        register_hook("view_key_menu", view_key_menu_hook)
    """
    folder = write_module(tmp_path, router__py=router)
    findings = check_module(folder)
    assert located(findings) == [("router.py", line_of(folder, "router.py", "async def profile_menu_hook"), "SB006")]
    assert "'user'" in findings[0].message


FSM_ROUTER = """\
    from aiogram import F, Router
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.state import State, StatesGroup
    from aiogram.types import CallbackQuery

    router = Router()


    class Flow(StatesGroup):
        waiting = State()


    @router.callback_query(F.data == "bad|start")
    async def start(callback: CallbackQuery, state: FSMContext):
        await state.set_state(Flow.waiting)
"""


def test_set_state_without_any_clear(tmp_path: Path) -> None:
    folder = write_module(tmp_path, router__py=FSM_ROUTER)
    assert located(check_module(folder)) == [("router.py", line_of(folder, "router.py", "set_state(Flow.waiting)"), "SB007")]


def test_set_state_with_a_cancel_handler_is_clean(tmp_path: Path) -> None:
    cancel = """

    @router.callback_query(F.data == "bad|cancel")
    async def cancel(callback: CallbackQuery, state: FSMContext):
        await state.clear()
    """
    folder = write_module(tmp_path, router__py=textwrap.dedent(FSM_ROUTER) + textwrap.dedent(cancel))
    assert check_module(folder) == []


def test_monkey_patching_the_core(tmp_path: Path) -> None:
    router = """\
        import handlers.start
        import sys

        from aiogram import Router

        from bot import bot
        from handlers import profile as core_profile
        from middlewares.ban import BanMiddleware

        from . import settings

        router = Router()


        async def my_start_menu(*args, **kwargs):
            return None


        handlers.start.show_start_menu = my_start_menu
        setattr(core_profile, "build_keyboard", my_start_menu)
        BanMiddleware.__call__ = my_start_menu
        sys.modules["handlers.pay"].show_pay_menu = my_start_menu
        settings.ENABLED = False


        async def periodic_notify(bot, session, keys, **kwargs):
            bot.note = "a local parameter, not the imported bot"
    """
    folder = write_module(tmp_path, router__py=router)
    findings = check_module(folder)
    assert located(findings) == [
        ("router.py", line_of(folder, "router.py", "handlers.start.show_start_menu ="), "SB008"),
        ("router.py", line_of(folder, "router.py", "setattr(core_profile"), "SB008"),
        ("router.py", line_of(folder, "router.py", "BanMiddleware.__call__ ="), "SB008"),
        ("router.py", line_of(folder, "router.py", 'sys.modules["handlers.pay"]'), "SB008"),
    ]
    assert "handlers.start.show_start_menu" in findings[0].message


def test_core_keyboards_outside_the_operation_protocol(tmp_path: Path) -> None:
    router = """\
        from aiogram import F, Router
        from aiogram.types import CallbackQuery, InlineKeyboardButton
        from hooks.hooks import register_hook

        from . import texts

        router = Router()


        async def profile_menu_hook(**kwargs):
            button = InlineKeyboardButton(text=texts.BTN, callback_data="bad|open")
            return [{"after": "balance", "btn": button}, {"remove": "legacy"}]


        register_hook("profile_menu", profile_menu_hook)


        @router.callback_query(F.data == "profile")
        async def patch_profile(callback: CallbackQuery):
            markup = callback.message.reply_markup
            markup.inline_keyboard.append([InlineKeyboardButton(text=texts.BTN, callback_data="bad|open")])
            del callback.message.reply_markup.inline_keyboard[0]
    """
    folder = write_module(tmp_path, router__py=router, texts__py='BTN = "Кнопка"\n')
    line = line_of(folder, "router.py", '"btn": button')
    assert located(check_module(folder)) == [
        ("router.py", line, "SB009"),  # unknown key "btn"
        ("router.py", line, "SB009"),  # "after" without "button"
        ("router.py", line_of(folder, "router.py", "markup.inline_keyboard.append"), "SB009"),
        ("router.py", line_of(folder, "router.py", "del callback.message"), "SB009"),
    ]


def test_network_calls_without_timeout(tmp_path: Path) -> None:
    router = """\
        import aiohttp
        import httpx
        from aiogram import Router

        from . import settings

        router = Router()


        async def fetch(session, url):
            row = await session.get(object, 1)  # an SQLAlchemy AsyncSession: not a network call
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as resp:
                    data = await resp.json()
                async with http.post(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    pass
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.TIMEOUT)) as http:
                await http.get(url)
            await httpx.AsyncClient().get(url)
            await httpx.get(url, timeout=None)
            return row, data


        class Client:
            def __init__(self):
                self.http = aiohttp.ClientSession()

            async def ping(self):
                return await self.http.get("https://example.org")
    """
    # httpx is not one of the bot's own packages: the module declares it (else SB031).
    folder = write_module(tmp_path, router__py=router, settings__py="TIMEOUT = 15\n", requirements__txt="httpx>=0.27\n")
    assert located(check_module(folder)) == [
        ("router.py", line_of(folder, "router.py", "async with http.get(url)"), "SB010"),
        ("router.py", line_of(folder, "router.py", "httpx.AsyncClient()"), "SB010"),
        ("router.py", line_of(folder, "router.py", "httpx.get(url, timeout=None)"), "SB010"),
        ("router.py", line_of(folder, "router.py", "self.http.get"), "SB010"),
    ]


def test_timezone_aware_and_local_timestamps(tmp_path: Path) -> None:
    models = """\
        from datetime import datetime

        from sqlalchemy import BigInteger, Column, DateTime, ForeignKey

        from database.models import Base


        class Claim(Base):
            __tablename__ = "bad_claims"

            tg_id = Column(BigInteger, ForeignKey("users.tg_id"), primary_key=True)
            created_at = Column(DateTime(timezone=True))
            seen_at = Column(DateTime, default=datetime.now)
            updated_at = Column(DateTime, onupdate=lambda: datetime.now())
    """
    db = """\
        from datetime import datetime, timezone

        from sqlalchemy import select, update
        from sqlalchemy.dialects.postgresql import insert

        from .models import Claim


        async def add(session, tg_id):
            now = datetime.now(timezone.utc)
            await session.execute(insert(Claim).values(tg_id=tg_id, created_at=now))
            naive = datetime.now(timezone.utc).replace(tzinfo=None)
            await session.execute(update(Claim).values(seen_at=naive))
            session.add(Claim(tg_id=tg_id, seen_at=datetime.utcnow()))
            return await session.execute(select(Claim).where(Claim.created_at < datetime.now(tz=timezone.utc)))


        def local_today():
            return datetime.today()
    """
    init = BASE["__init__.py"] + "from . import models  # noqa: F401\n"
    folder = write_module(tmp_path, models__py=models, db__py=db, **{"__init__.py": init})
    assert located(check_module(folder)) == [
        ("db.py", line_of(folder, "db.py", "created_at=now"), "SB011"),
        ("db.py", line_of(folder, "db.py", "Claim.created_at <"), "SB011"),
        ("db.py", line_of(folder, "db.py", "datetime.today()"), "SB012"),
        ("models.py", line_of(folder, "models.py", "DateTime(timezone=True)"), "SB011"),
        ("models.py", line_of(folder, "models.py", "default=datetime.now"), "SB012"),
        ("models.py", line_of(folder, "models.py", "onupdate=lambda"), "SB012"),
    ]


def test_models_not_imported_and_wrong_users_key(tmp_path: Path) -> None:
    models = """\
        from sqlalchemy import BigInteger, Column, ForeignKey

        from database.models import Base


        class Claim(Base):
            __tablename__ = "bad_claims"

            tg_id = Column(BigInteger, ForeignKey("users.id"), primary_key=True)
    """
    folder = write_module(tmp_path, models__py=models)
    assert located(check_module(folder)) == [
        ("__init__.py", 1, "SB013"),
        ("models.py", line_of(folder, "models.py", 'ForeignKey("users.id")'), "SB014"),
    ]


def test_secrets(tmp_path: Path) -> None:
    router = """\
        import os

        from aiogram import Router
        from dotenv import load_dotenv

        import config
        from config import ADMIN_ID, BOT_TOKEN

        router = Router()
        ADMINS = ADMIN_ID


        def secrets(bot):
            url = f"https://api.telegram.org/file/bot{bot.token}/x"
            return os.getenv("BOT_TOKEN"), os.environ["DATABASE_URL"], config.API_TOKEN, open(".env").read(), url
    """
    folder = write_module(tmp_path, router__py=router)
    assert located(check_module(folder)) == [
        ("router.py", line_of(folder, "router.py", "from dotenv"), "SB015"),
        ("router.py", line_of(folder, "router.py", "from config import"), "SB015"),
        ("router.py", line_of(folder, "router.py", "bot.token"), "SB015"),
        *[("router.py", line_of(folder, "router.py", "os.getenv"), "SB015")] * 4,
    ]


def test_layout_files_and_version(tmp_path: Path) -> None:
    folder = write_module(tmp_path, texts__py=None)
    (folder / "VERSION").write_text("first release\n")
    assert located(check_module(folder)) == [("VERSION", 1, "SB016"), ("texts.py", 1, "SB016")]


def test_noqa_and_ignore(tmp_path: Path) -> None:
    router = """\
        from aiogram import Router

        router = Router()
        TOP_N = 5  # noqa: SB003
        PAGE = 10  # noqa: F401
        LIMIT = 3  # noqa
    """
    folder = write_module(tmp_path, router__py=router)
    assert located(check_module(folder)) == [("router.py", 5, "SB003")]
    assert check_module(folder, ignore=["sb003"]) == []


# --- paths and the command line -----------------------------------------------------------------


def test_check_paths_folder_of_modules_and_bad_paths(tmp_path: Path) -> None:
    write_module(tmp_path / "mods", "good")
    write_module(tmp_path / "mods", "bad", router__py="x = (\n")
    (tmp_path / "mods" / "__pycache__").mkdir()
    assert [(Path(f.file).parent.name, f.rule) for f in check_paths([tmp_path / "mods"])] == [("bad", "SB000")]
    with pytest.raises(UsageError, match="no such directory"):
        check_paths([tmp_path / "missing"])
    with pytest.raises(UsageError, match="not a directory"):
        check_paths([tmp_path / "mods" / "good" / "router.py"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no modules"):
        check_paths([tmp_path / "empty"])


def test_cli_exit_codes(tmp_path: Path) -> None:
    clean = run_cli("check", "modules")
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stderr

    folder = write_module(tmp_path, router__py="from aiogram import Router\n\nrouter = Router()\nTOP_N = 5\n")
    dirty = run_cli("check", str(folder))
    assert dirty.returncode == 1
    assert dirty.stdout == f"{folder / 'router.py'}:4:1: SB003 {check_module(folder)[0].message}\n"

    assert run_cli("check", str(tmp_path / "missing")).returncode == 2
    assert run_cli("check").returncode == 2
    helped = run_cli("check", "--help")
    assert helped.returncode == 0 and "SB010" in helped.stdout


# --- scaffold -----------------------------------------------------------------------------------


@pytest.mark.parametrize("with_db", [False, True], ids=["plain", "with_db"])
def test_scaffold_passes_the_checker(tmp_path: Path, with_db: bool) -> None:
    folder = create_module("my_module", tmp_path / "modules", with_db=with_db)
    assert folder == tmp_path / "modules" / "my_module"
    with_db_files = {"models.py", "db.py", "module.toml"} if with_db else set()
    expected = {"__init__.py", "router.py", "texts.py", "settings.py", "VERSION"} | with_db_files
    assert {p.name for p in folder.iterdir()} == expected
    assert (folder / "VERSION").read_text().strip() == "0.1.0"
    router = (folder / "router.py").read_text()
    assert '{"after": "balance"' in router and 'register_hook("profile_menu", profile_menu_hook)' in router
    assert 'callback_data="profile"' in router
    assert "Назад" in (folder / "texts.py").read_text()
    if with_db:
        assert 'ForeignKey("users.tg_id"' in (folder / "models.py").read_text()
        assert "on_conflict_do_nothing" in (folder / "db.py").read_text()
        assert "from . import models" in (folder / "__init__.py").read_text()
        assert "references_users = true" in (folder / "module.toml").read_text()  # its foreign key needs the grant
    assert check_module(folder) == []
    for name, text in render("my_module", with_db).items():
        if name.endswith(".py"):
            compile(text, name, "exec")


def test_scaffold_rejects_bad_and_taken_names(tmp_path: Path) -> None:
    for bad in ("1abc", "my-module", "my.module", "class", "_private", "", "модуль"):
        with pytest.raises(ScaffoldError):
            create_module(bad, tmp_path)
    create_module("taken", tmp_path)
    with pytest.raises(ScaffoldError, match="already exists"):
        create_module("taken", tmp_path)


def test_cli_new_creates_and_refuses_an_existing_name(tmp_path: Path) -> None:
    created = run_cli("new", "shop", "--dir", str(tmp_path), "--with-db")
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "shop" / "models.py").is_file()
    assert run_cli("check", str(tmp_path / "shop")).returncode == 0
    again = run_cli("new", "shop", "--dir", str(tmp_path))
    assert again.returncode == 2
    assert "already exists" in again.stderr
