"""The list of keys and the key card (``render_key_info`` is module-facing)."""

from __future__ import annotations

import html
import os

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_key_by_email, get_keys
from database.models import Key
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks

from .. import buttons, texts
from ..utils import ShownMessage, answer_callback, callback_args, edit_or_send_message
from .format import format_expiry, time_left

router = Router(name="core_key_view")

KEY_IMAGE = os.path.join("img", "pic_view.jpg")
KEYS_IMAGE = os.path.join("img", "pic_keys.jpg")
MAX_LISTED_KEYS = 50  # a Telegram keyboard has at most 100 buttons


@router.callback_query(F.data == "view_keys")
async def view_keys(callback: CallbackQuery, session: AsyncSession) -> None:
    keys = await get_keys(session, callback.from_user.id)
    builder = InlineKeyboardBuilder()
    for key in keys[:MAX_LISTED_KEYS]:
        name = key.alias or key.email
        mark = "❄️" if key.is_frozen else ("🟢" if time_left(key.expiry_time) else "🔴")
        builder.row(
            InlineKeyboardButton(
                text=f"{mark} {name} · до {format_expiry(key.expiry_time)[:10]}", callback_data=f"view_key|{key.email}"
            )
        )
    builder.row(InlineKeyboardButton(text=buttons.ADD_SUB, callback_data="buy"))  # the trial first, when due
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="profile"))
    await answer_callback(callback)
    text = texts.KEYS_LIST if keys else texts.NO_KEYS
    await edit_or_send_message(callback.message, text, reply_markup=builder.as_markup(), media_path=KEYS_IMAGE)


@router.callback_query(F.data.startswith("view_key|"))
async def view_key(callback: CallbackQuery, session: AsyncSession) -> None:
    await answer_callback(callback)
    key = await get_own_key(session, callback.from_user.id, callback_args(callback, 1)[0])
    await show_key_card(callback.message, session, key, KEY_IMAGE)


async def get_own_key(session: AsyncSession, tg_id: int, key_name: str) -> Key | None:
    """The key named ``key_name`` if it belongs to ``tg_id`` (a forged callback shows nothing)."""
    key = await get_key_by_email(session, key_name)
    return key if key is not None and key.tg_id == tg_id else None


async def render_key_info(message: ShownMessage, session: AsyncSession, key_name: str, image_path: str | None) -> None:
    """Show the card of key ``key_name`` (its email) in place of ``message`` (upstream signature)."""
    await show_key_card(message, session, await get_key_by_email(session, key_name), image_path)


async def show_key_card(message: ShownMessage, session: AsyncSession, key: Key | None, image_path: str | None) -> None:
    if key is None:
        back = InlineKeyboardBuilder()
        back.row(InlineKeyboardButton(text=buttons.BACK, callback_data="view_keys"))
        await edit_or_send_message(message, texts.KEY_NOT_FOUND, reply_markup=back.as_markup())
        return
    key_name = key.email or ""
    left = time_left(key.expiry_time)
    if key.is_frozen:
        status = texts.KEY_FROZEN
    elif left is None:
        status = texts.KEY_EXPIRED
    else:
        status = texts.KEY_DAYS_LEFT.format(left=left)
    link = key.key or key.remnawave_link or ""
    text = texts.KEY_CARD.format(
        key_name=html.escape(key.alias or key_name),
        link=html.escape(link),
        expiry=format_expiry(key.expiry_time),
        days_left=status,
    )
    builder = InlineKeyboardBuilder()
    if link.startswith(("https://", "http://")):
        builder.row(InlineKeyboardButton(text=buttons.OPEN_SUBSCRIPTION, url=link))
    builder.row(
        InlineKeyboardButton(text=buttons.CONNECT_TV, callback_data=f"connect_tv|{key_name}"),
        InlineKeyboardButton(text=buttons.RENEW_KEY, callback_data=f"renew_key|{key_name}"),
    )
    builder = insert_hook_buttons(builder, await run_hooks("view_key_menu", key_name=key_name, session=session))
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="view_keys"))
    await edit_or_send_message(message, text, reply_markup=builder.as_markup(), media_path=image_path)


@router.callback_query(F.data.startswith("connect_tv|"))
async def connect_tv(callback: CallbackQuery, session: AsyncSession) -> None:
    key_name = callback_args(callback, 1)[0]
    key = await get_own_key(session, callback.from_user.id, key_name)
    await answer_callback(callback)
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data=f"view_key|{key_name}"))
    if key is None:
        await edit_or_send_message(callback.message, texts.KEY_NOT_FOUND, reply_markup=builder.as_markup())
        return
    link = html.escape(key.key or key.remnawave_link or "")
    await edit_or_send_message(callback.message, texts.CONNECT_TV.format(link=link), reply_markup=builder.as_markup())
