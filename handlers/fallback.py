"""Last router: nothing goes unanswered (stale buttons, unknown text)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType, ParseMode
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from hooks.hooks import run_hooks

from . import buttons, texts
from .utils import answer_callback

router = Router(name="core_fallback")


def menu_markup() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile")]])


@router.callback_query()
async def stale_callback(callback: CallbackQuery) -> None:
    await answer_callback(callback, texts.STALE_BUTTON)
    if callback.message is not None:
        await callback.message.answer(texts.STALE_BUTTON_MESSAGE, reply_markup=menu_markup())


@router.message(F.chat.type == ChatType.PRIVATE)
async def unknown_message(message: Message, session: AsyncSession) -> None:
    user = message.from_user
    if user is not None and message.text is not None:
        await run_hooks(
            "user_message",
            user_id=user.id,
            message_text=message.text,
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            session=session,
            message=message,
        )
    await message.answer(texts.UNKNOWN_TEXT, reply_markup=menu_markup(), parse_mode=ParseMode.HTML)
