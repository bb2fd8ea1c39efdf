"""The admin's user card: find a user by id, ban or unban them (``admin_user_edit`` adds buttons).

``process_user_search`` and ``AdminUserEditorCallback(action="users_editor", tg_id=...)`` open a
user's card as upstream's do; modules use them to link to the card.
"""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.enums import ParseMode
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import ban_user, get_keys, is_user_banned, unban_user
from handlers import texts
from handlers.admin.panel.keyboard import AdminPanelCallback, build_admin_back_kb
from handlers.queries import get_user
from handlers.utils import answer_callback, edit_or_send_message
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks

from .keyboard import AdminUserEditorCallback, build_user_edit_kb, key_lines

router = Router(name="core_admin_users")


class UserSearch(StatesGroup):
    waiting_for_id = State()


@router.callback_query(AdminPanelCallback.filter(F.action == "search_user"))
async def search_user(callback: CallbackQuery, state: FSMContext, admin: bool = False) -> None:
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return
    await answer_callback(callback)
    await state.set_state(UserSearch.waiting_for_id)
    await edit_or_send_message(callback.message, texts.ADMIN_SEARCH_USER, reply_markup=build_admin_back_kb(), force_text=True)


@router.message(UserSearch.waiting_for_id, F.text)
async def user_id_entered(message: Message, state: FSMContext, session: AsyncSession, admin: bool = False) -> None:
    if not admin:
        await state.clear()
        return
    raw = (message.text or "").strip()
    if not raw.lstrip("-").isdigit():
        await message.answer(texts.ADMIN_SEARCH_USER, reply_markup=build_admin_back_kb(), parse_mode=ParseMode.HTML)
        return
    await process_user_search(message, state, session, int(raw))


async def process_user_search(message: Message, state: FSMContext, session: AsyncSession, tg_id: int, edit: bool = False) -> None:
    """Show user ``tg_id``'s card: in place of ``message`` when ``edit``, else as a new message."""
    await state.clear()
    text, markup = await user_card(session, tg_id)
    if edit:
        await edit_or_send_message(message, text, reply_markup=markup, force_text=True)
    else:
        await message.answer(text, reply_markup=markup, parse_mode=ParseMode.HTML)


_BAN_ACTIONS = {"users_ban", "users_unban", "users_editor"}


@router.callback_query(AdminUserEditorCallback.filter(F.action.in_(_BAN_ACTIONS)))
async def user_action(
    callback: CallbackQuery, callback_data: AdminUserEditorCallback, session: AsyncSession, admin: bool = False
) -> None:
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return
    if callback_data.action == "users_ban":
        await ban_user(session, callback_data.tg_id, banned_by=callback.from_user.id)
    elif callback_data.action == "users_unban":
        await unban_user(session, callback_data.tg_id)
    await answer_callback(callback)
    text, markup = await user_card(session, callback_data.tg_id)
    await edit_or_send_message(callback.message, text, reply_markup=markup, force_text=True)


async def user_card(session: AsyncSession, tg_id: int) -> tuple[str, InlineKeyboardMarkup]:
    user = await get_user(session, tg_id)
    if user is None:
        return texts.ADMIN_USER_NOT_FOUND, build_admin_back_kb()
    banned = await is_user_banned(session, tg_id)
    keys = await get_keys(session, tg_id)
    name = " ".join(filter(None, [user.first_name, user.last_name])) or "—"
    if user.username:
        name += f" (@{user.username})"
    text = texts.ADMIN_USER_CARD.format(
        tg_id=tg_id,
        name=html.escape(name),
        balance=round(float(user.balance or 0), 2),
        key_count=len(keys),
        status="заблокирован" if banned else "активен",
    )
    if keys:
        text += "\n\n" + html.escape(key_lines(keys))
    markup = await build_user_edit_kb(tg_id, keys, banned)
    rows = markup.inline_keyboard
    builder = InlineKeyboardBuilder(markup=rows[:-1])  # module buttons go above "back"
    builder = insert_hook_buttons(builder, await run_hooks("admin_user_edit", tg_id=tg_id, is_banned=banned))
    builder.row(*rows[-1])
    return text, builder.as_markup()
