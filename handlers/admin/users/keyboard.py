"""The admin's user-editor keyboards and callback data (upstream names and packing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.admin.panel.keyboard import build_admin_back_btn
from handlers.buttons import BACK


class AdminUserEditorCallback(CallbackData, prefix="admin_users"):
    """An action on user ``tg_id`` (``users_editor`` opens the card; ``data`` is e.g. a key name)."""

    action: str
    tg_id: int
    data: str | int | None = None
    edit: bool = False


class AdminUserKeyEditorCallback(CallbackData, prefix="admin_users_key"):
    action: str
    tg_id: int
    data: str
    month: int | None = None


def build_editor_btn(text: str, tg_id: int, edit: bool = False) -> InlineKeyboardButton:
    """A button that opens user ``tg_id``'s card."""
    return InlineKeyboardButton(
        text=text, callback_data=AdminUserEditorCallback(action="users_editor", tg_id=tg_id, edit=edit).pack()
    )


def build_editor_back_btn(tg_id: int, edit: bool = False) -> InlineKeyboardButton:
    return build_editor_btn(BACK, tg_id, edit)


def build_editor_singleton_kb(text: str, tg_id: int, edit: bool = False) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[build_editor_btn(text, tg_id, edit)]])


def build_editor_kb(tg_id: int, edit: bool = False) -> InlineKeyboardMarkup:
    return build_editor_singleton_kb(BACK, tg_id, edit)


async def build_user_edit_kb(tg_id: int, key_records: list[Any], is_banned: bool = False) -> InlineKeyboardMarkup:
    """The card's keyboard: ban/unban and back to the panel (only actions this core handles;
    ``key_records`` are listed in the card's text, see :func:`key_lines`)."""
    builder = InlineKeyboardBuilder()
    action, label = ("users_unban", "✅ Разблокировать") if is_banned else ("users_ban", "🚫 Заблокировать")
    builder.row(InlineKeyboardButton(text=label, callback_data=AdminUserEditorCallback(action=action, tg_id=tg_id).pack()))
    builder.row(build_admin_back_btn())
    return builder.as_markup()


def key_lines(key_records: list[Any]) -> str:
    """``🔑 name — N дн.`` per key, for the card's text."""
    now = datetime.now(UTC)
    lines = []
    for record in key_records:
        days = (datetime.fromtimestamp((record.expiry_time or 0) / 1000, UTC) - now).days
        lines.append(f"🔑 {record.email} — {'<1' if days < 1 else days} дн.")
    return "\n".join(lines)
