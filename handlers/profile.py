"""The profile screen (upstream's main screen after /start), the invite and instructions screens."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_balance, get_key_count, get_referral_count
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks

from . import buttons, texts
from .start import user_display_name
from .utils import answer_callback, edit_or_send_message, format_money, setting

router = Router(name="core_profile")

# The screens modules hook buttons into are text messages: the seed's examples edit them with
# ``callback.message.edit_text(...)``, which Telegram refuses on a photo. Set a path to show a picture.
PROFILE_IMAGE: str | None = None


@router.callback_query(F.data == "profile")
@router.message(Command("profile"))
async def process_callback_view_profile(
    callback_query_or_message: CallbackQuery | Message, state: FSMContext | None, admin: bool, session: AsyncSession
) -> None:
    """The profile screen; modules call it to go back (upstream signature)."""
    if state is not None:
        await state.clear()
    if isinstance(callback_query_or_message, CallbackQuery):
        await answer_callback(callback_query_or_message)
        message = callback_query_or_message.message
    else:
        message = callback_query_or_message
    user = callback_query_or_message.from_user
    if user is not None and not user.is_bot:
        chat_id, username = user.id, user_display_name(user)
    elif message is not None:
        # A module passed the bot's own message (e.g. ``callback.message``): the chat is the user.
        chat_id, username = message.chat.id, html.escape(message.chat.full_name or "Пользователь")
    else:
        return  # a button under an inline-mode message: no chat to show the profile in
    balance = round(float(await get_balance(session, chat_id) or 0), 2)
    key_count = await get_key_count(session, chat_id)
    text = texts.PROFILE.format(
        username=username,
        chat_id=chat_id,
        balance=format_money(balance),
        key_count=key_count,
        referral_count=await get_referral_count(session, chat_id),
    )
    replaced = await run_hooks(
        "profile_text", username=username, chat_id=chat_id, balance=balance, key_count=key_count, session=session
    )
    if replaced and isinstance(replaced[0], str):
        text = replaced[0]
    markup = await build_profile_kb(chat_id, admin, session)
    await edit_or_send_message(message, text, reply_markup=markup, media_path=PROFILE_IMAGE, force_text=PROFILE_IMAGE is None)


async def build_profile_kb(chat_id: int, admin: bool, session: AsyncSession) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.MY_SUBS, callback_data="view_keys"))
    builder.row(InlineKeyboardButton(text=buttons.BALANCE, callback_data="balance"))
    builder.row(InlineKeyboardButton(text=buttons.INVITE, callback_data="invite"))
    # Plain appends from modules land here, after balance/invite; "after" anchors work as usual.
    builder = insert_hook_buttons(builder, await run_hooks("profile_menu", chat_id=chat_id, admin=admin, session=session))
    builder.row(InlineKeyboardButton(text=buttons.INSTRUCTIONS, callback_data="instructions"))
    if admin:
        builder.row(InlineKeyboardButton(text=buttons.ADMIN_PANEL, callback_data="admin"))
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="start"))
    return builder.as_markup()


@router.callback_query(F.data == "invite")
async def invite(callback: CallbackQuery, session: AsyncSession) -> None:
    tg_id = callback.from_user.id
    username = setting("USERNAME_BOT")
    if not username:
        me = await callback.bot.me() if callback.bot else None
        username = me.username if me else "bot"
    link = f"https://t.me/{str(username).lstrip('@')}?start=ref{tg_id}"
    count = await get_referral_count(session, tg_id)
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="profile"))
    await answer_callback(callback)
    await edit_or_send_message(callback.message, texts.INVITE.format(link=link, count=count), reply_markup=builder.as_markup())


@router.callback_query(F.data == "instructions")
async def instructions(callback: CallbackQuery) -> None:
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.MY_SUBS, callback_data="view_keys"))
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="profile"))
    await answer_callback(callback)
    await edit_or_send_message(
        callback.message, texts.INSTRUCTIONS, reply_markup=builder.as_markup(), disable_web_page_preview=True
    )
