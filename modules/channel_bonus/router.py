# Channel bonus: a one-time balance bonus for joining the project's channel.
from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from database import add_payment, update_balance
from handlers.utils import edit_or_send_message
from hooks.hooks import register_hook
from logger import logger

from . import settings, texts
from .db import has_claim, set_claim

router = Router()


async def profile_menu_hook(chat_id=None, session=None, **kwargs):
    if session is not None and chat_id is not None and await has_claim(session, chat_id):
        return None  # already claimed: no button
    return {"after": "balance", "button": InlineKeyboardButton(text=texts.BTN_BONUS, callback_data="channel_bonus|open")}


register_hook("profile_menu", profile_menu_hook)


def _back_kb():
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="profile"))
    return kb.as_markup()


@router.callback_query(F.data == "channel_bonus|open")
async def offer(callback: CallbackQuery):
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_CHANNEL, url=settings.CHANNEL_URL))
    kb.row(InlineKeyboardButton(text=texts.BTN_CHECK, callback_data="channel_bonus|check"))
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="profile"))
    await edit_or_send_message(callback.message, texts.OFFER.format(bonus=settings.BONUS_RUB), reply_markup=kb.as_markup())
    await callback.answer()


@router.callback_query(F.data == "channel_bonus|check")
async def check(callback: CallbackQuery, session):
    tg_id = callback.from_user.id
    if await has_claim(session, tg_id):
        await callback.answer(texts.ALREADY, show_alert=True)
        return
    try:
        member = await callback.bot.get_chat_member(chat_id=settings.CHANNEL_ID, user_id=tg_id)
    except TelegramAPIError as exc:
        logger.warning("channel_bonus: cannot check %s in %s: %s", tg_id, settings.CHANNEL_ID, exc)
        await callback.answer(texts.CHECK_FAILED, show_alert=True)
        return
    if member.status not in ("member", "administrator", "creator"):
        await callback.answer(texts.NOT_SUBSCRIBED, show_alert=True)
        return
    if not await set_claim(session, tg_id):
        await callback.answer(texts.ALREADY, show_alert=True)
        return
    await add_payment(session, tg_id, settings.BONUS_RUB, "channel_bonus")
    await update_balance(session, tg_id, settings.BONUS_RUB)  # commits the claim and the payment too
    await edit_or_send_message(callback.message, texts.CREDITED.format(bonus=settings.BONUS_RUB), reply_markup=_back_kb())
    await callback.answer()
