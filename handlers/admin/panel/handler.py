"""The panel itself, the settings screen and the maintenance switch (admins only)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ParseMode
from aiogram.filters import Command, MagicData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from handlers import texts
from handlers.utils import answer_callback, edit_or_send_message
from middlewares.maintenance import MaintenanceMode

from .keyboard import AdminPanelCallback, build_panel_kb, build_settings_kb

router = Router(name="core_admin_panel")


@router.callback_query(F.data == "admin")
@router.callback_query(AdminPanelCallback.filter(F.action == "admin"))
async def admin_panel(callback: CallbackQuery, state: FSMContext, admin: bool = False, admin_role: str = "admin") -> None:
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return
    await state.clear()
    await answer_callback(callback)
    markup = await build_panel_kb(admin_role)
    await edit_or_send_message(callback.message, texts.ADMIN_PANEL.format(role=admin_role), reply_markup=markup, force_text=True)


@router.message(Command("admin"), MagicData(F.admin))  # for everyone else the fallback answers
async def admin_command(message: Message, state: FSMContext, admin_role: str = "admin") -> None:
    await state.clear()
    markup = await build_panel_kb(admin_role)
    await message.answer(texts.ADMIN_PANEL.format(role=admin_role), reply_markup=markup, parse_mode=ParseMode.HTML)


@router.callback_query(AdminPanelCallback.filter(F.action == "settings"))
async def settings(callback: CallbackQuery, maintenance: MaintenanceMode, admin: bool = False) -> None:
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return
    await answer_callback(callback)
    await show_settings(callback, maintenance)


@router.callback_query(AdminPanelCallback.filter(F.action == "maintenance"))
async def toggle_maintenance(callback: CallbackQuery, maintenance: MaintenanceMode, admin: bool = False) -> None:
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return
    await answer_callback(callback, texts.MAINTENANCE_ON if await maintenance.toggle() else texts.MAINTENANCE_OFF)
    await show_settings(callback, maintenance)


async def show_settings(callback: CallbackQuery, maintenance: MaintenanceMode) -> None:
    enabled = await maintenance.is_on()
    state = "включён" if enabled else "выключен"
    await edit_or_send_message(
        callback.message, texts.ADMIN_MAINTENANCE.format(state=state), reply_markup=build_settings_kb(enabled)
    )
