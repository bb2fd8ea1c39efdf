"""Admin panel keyboards; ``AdminPanelCallback`` is the upstream name modules build buttons with."""

from __future__ import annotations

from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.admin.modules_texts import BTN_MODULES
from handlers.buttons import BACK, MAIN_MENU
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks


class AdminPanelCallback(CallbackData, prefix="admin_panel"):
    action: str
    page: int = 1

    def __init__(self, /, **data: Any) -> None:
        # Upstream callers pass page=None for "first page".
        if data.get("page") is None:
            data["page"] = 1
        super().__init__(**data)


async def build_panel_kb(admin_role: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(
        build_admin_btn("👤 Поиск пользователя", "search_user"),
        build_admin_btn("📊 Статистика", "stats"),
    )
    builder.row(build_admin_btn(BTN_MODULES, "modules"))  # handlers.admin.modules
    builder = insert_hook_buttons(builder, await run_hooks("admin_panel", admin_role=admin_role))
    builder.row(build_admin_btn("⚙️ Настройки", "settings"))
    builder.row(InlineKeyboardButton(text=MAIN_MENU, callback_data="profile"))
    return builder.as_markup()


def build_settings_kb(maintenance: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    label = "🟢 Выключить обслуживание" if maintenance else "🛠 Включить обслуживание"
    builder.row(build_admin_btn(label, "maintenance"))
    builder.row(build_admin_back_btn())
    return builder.as_markup()


def build_admin_back_kb(action: str = "admin") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[build_admin_back_btn(action)]])


def build_admin_back_btn(action: str = "admin") -> InlineKeyboardButton:
    return build_admin_btn(BACK, action)


def build_admin_btn(text: str, action: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=AdminPanelCallback(action=action).pack())
