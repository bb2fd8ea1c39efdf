"""The compatibility surface of COMPAT.md: names, signatures and tables module code relies on.

The first part checks the host-side packages; the second runs a module that inspects what it
sees *inside its own process* (its engine, its session maker, its bot, config) and reports it.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect

from tests.conftest import ModuleFolder
from tests.shared_zygote import ThreadedZygote
from tests.test_module_bridge import open_bridge

# name → parameters, in order, as COMPAT.md §2 lists them (None: only the name matters).
SYMBOLS: dict[str, list[str] | None] = {
    "logger.logger": None,
    "hooks.hooks.register_hook": None,
    "hooks.hooks.run_hooks": None,
    "hooks.hook_buttons.insert_hook_buttons": ["builder", None],
    "database.async_session_maker": None,
    "database.db.engine": None,
    "config.ADMIN_ID": None,
    "config.USERNAME_BOT": None,
    "config.SUPPORT_CHAT_URL": None,
    "config.PROJECT_NAME": None,
    "config.CHANNEL_URL": None,
    "filters.admin.IsAdminFilter": None,
    "handlers.utils.edit_or_send_message": [
        "target_message",
        "text",
        "reply_markup",
        "media_path",
        "disable_web_page_preview",
        "force_text",
        "disable_cache",
    ],
    "database.get_keys": ["session", "tg_id"],
    "database.check_user_exists": ["session", "tg_id"],
    "database.get_key_details": ["session", "email"],
    "database.get_servers": ["session", "include_enabled"],
    "database.update_balance": ["session", "tg_id", "amount"],
    "handlers.profile.process_callback_view_profile": ["callback_query_or_message", "state", "admin", "session"],
    "bot.bot": None,
    "database.add_payment": [
        "session",
        "tg_id",
        "amount",
        "payment_system",
        "status",
        "currency",
        "payment_id",
        "metadata",
        "original_amount",
    ],
    "database.add_user": [
        "session",
        "tg_id",
        "username",
        "first_name",
        "last_name",
        "language_code",
        "is_bot",
        "source_code",
        "commit",
    ],
    "database.get_key_count": ["session", "tg_id"],
    "database.get_trial": ["session", "tg_id"],
    "database.get_balance": ["session", "tg_id"],
    "database.get_tariffs": ["session", "tariff_id", "group_code"],
    "database.get_tariff_by_id": ["session", None],
    "handlers.admin.panel.keyboard.AdminPanelCallback": None,
    "handlers.buttons.BACK": None,
    "handlers.buttons.MAIN_MENU": None,
    "handlers.keys.key_view.render_key_info": ["message", "session", "key_name", "image_path"],
    "database.get_temporary_data": None,
    "database.create_temporary_data": None,
    "database.clear_temporary_data": None,
    "database.update_key_expiry": None,
    "database.add_referral": None,
    "database.get_user_snapshot": None,
    "database.get_last_payments": None,
    "utils.modules_loader.load_modules_from_folder": None,
    "utils.modules_loader.load_module_webhooks": None,
    "utils.modules_loader.load_module_fast_flow_handlers": None,
}

TABLES = {
    "users": {
        "tg_id",
        "username",
        "first_name",
        "last_name",
        "language_code",
        "is_bot",
        "balance",
        "trial",
        "preferred_currency",
        "source_code",
        "created_at",
        "updated_at",
    },
    "keys": {
        "client_id",
        "tg_id",
        "email",
        "created_at",
        "expiry_time",
        "key",
        "server_id",
        "remnawave_link",
        "tariff_id",
        "is_frozen",
        "alias",
        "notified",
        "notified_24h",
        "selected_device_limit",
        "selected_traffic_limit",
        "selected_price_rub",
        "current_device_limit",
        "current_traffic_limit",
    },
    "payments": {
        "id",
        "tg_id",
        "amount",
        "payment_system",
        "status",
        "created_at",
        "original_amount",
        "currency",
        "payment_id",
        "metadata",
    },
    "tariffs": {
        "id",
        "name",
        "group_code",
        "duration_days",
        "price_rub",
        "traffic_limit",
        "device_limit",
        "is_active",
        "sort_order",
    },
    "servers": {
        "id",
        "cluster_name",
        "server_name",
        "api_url",
        "subscription_url",
        "inbound_id",
        "panel_type",
        "max_keys",
        "tariff_group",
        "enabled",
    },
    "admins": {"tg_id", "role", "description", "added_at"},
    "referrals": {"referred_tg_id", "referrer_tg_id", "reward_issued"},
    "notifications": {"tg_id", "notification_type", "last_notification_time"},
    "temporary_data": {"tg_id", "state", "data", "updated_at"},
    "blocked_users": {"tg_id"},
    "manual_bans": {"tg_id"},
}


def resolve(dotted: str) -> object:
    module_name, _, attr = dotted.rpartition(".")
    while True:
        try:
            module = importlib.import_module(module_name)
            break
        except ModuleNotFoundError:
            module_name, _, outer = module_name.rpartition(".")
            attr = f"{outer}.{attr}"
    value: object = module
    for part in attr.split("."):
        value = getattr(value, part) if not (module_name == "bot" and part == "bot") else value
    return value


@pytest.mark.parametrize("dotted", sorted(SYMBOLS))
def test_every_compat_symbol_exists_with_its_upstream_parameters(dotted: str) -> None:
    if dotted == "bot.bot":
        assert hasattr(importlib.import_module("bot"), "__getattr__")  # looked up per process (host or module)
        return
    value = resolve(dotted)
    expected = SYMBOLS[dotted]
    if expected is None:
        return
    params = list(inspect.signature(value).parameters)  # type: ignore[arg-type]
    assert len(params) >= len(expected), params
    for want, got in zip(expected, params, strict=False):
        if want is not None:
            assert want == got, f"{dotted}: parameter {got!r} where upstream has {want!r}"


def test_the_core_tables_have_upstream_columns() -> None:
    from database.models import Base

    for table, columns in TABLES.items():
        assert table in Base.metadata.tables, table
        assert columns <= set(Base.metadata.tables[table].columns.keys()), (
            table,
            columns - set(Base.metadata.tables[table].columns.keys()),
        )
    assert sa_inspect(Base.metadata.tables["users"]).primary_key.columns.keys() == ["tg_id"]


INSPECTOR = """
import os
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from filters.admin import IsAdminFilter

router = Router()

@router.message(Command("inspect"))
async def inspect_process(message: Message, session):
    import bot as bot_module
    import database
    from database import db
    from sqlalchemy import text

    own_pid = (await session.execute(text("select pg_backend_pid()"))).scalar()
    async with database.async_session_maker() as other:
        maker_works = (await other.execute(text("select 1"))).scalar() == 1
    is_admin = await IsAdminFilter()(message, session=session)
    await message.answer(
        f"pid={os.getpid()} backend={bool(own_pid)} maker={maker_works} engine_db={db.engine.url.database} "
        f"bot={bot_module.bot.token.endswith(':sandbox')} admin={is_admin}"
    )

@router.message(Command("admin_only"), IsAdminFilter())
async def admin_only(message: Message):
    await message.answer("admin ok")
"""


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_inside_a_module_process_database_bot_and_filters_are_its_own(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    from sqlalchemy.engine import make_url

    modules.add("inspector", INSPECTOR)
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        pid = bridge.runtime.module_status("inspector")["pid"]
        user = bridge.api.user(1)  # ADMIN_ID of the bridge's settings
        await user.send("/inspect")
        text = (await user.wait_for_reply()).text
        assert text == f"pid={pid} backend=True maker=True engine_db={make_url(db).database} bot=True admin=True"
        await user.send("/admin_only")
        assert (await user.wait_for_reply()).text == "admin ok"
        stranger = bridge.api.user(7)
        await stranger.send("/admin_only")
        await stranger.send("/core")
        assert (await stranger.wait_for_reply()).text == "core answered"
        # The filter refused /admin_only: no module answered it, the update went on to the core.
        assert [m.text for m in stranger.chat if m.from_bot] == ["core answered"]
