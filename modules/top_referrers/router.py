# Top referrers: a profile button and a table of users who invited the most paying referrals.
from datetime import datetime, timezone

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.utils import edit_or_send_message
from hooks.hooks import register_hook

from . import settings, texts
from .db import top_referrers

router = Router()


def _since() -> datetime:
    parsed = datetime.fromisoformat(settings.START_AT_ISO.replace("Z", "+00:00"))
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)  # naive UTC, like the database


def _mask(tg_id: int) -> str:
    text = str(tg_id)
    return text[:2] + "*" * max(0, len(text) - 4) + text[-2:] if len(text) > 4 else text


async def profile_menu_hook(**kwargs):
    if not settings.ENABLE_BUTTON:
        return None
    return {"after": "balance", "button": InlineKeyboardButton(text=texts.BTN_TOP, callback_data="top_referrers")}


register_hook("profile_menu", profile_menu_hook)


@router.callback_query(F.data == "top_referrers")
async def show_top(callback: CallbackQuery, session):
    since = _since()
    ranking = await top_referrers(session, since, settings.MIN_TOPUP_RUB)
    if ranking:
        text = texts.TITLE + "".join(
            texts.ENTRY.format(place=i, masked_id=_mask(tg_id), count=count)
            for i, (tg_id, count) in enumerate(ranking[: settings.TOP_N], start=1)
        )
        mine = [(i, count) for i, (tg_id, count) in enumerate(ranking, start=1) if tg_id == callback.from_user.id]
        if mine:
            text += texts.YOUR_PLACE.format(place=mine[0][0], count=mine[0][1])
    else:
        text = texts.TITLE + texts.NO_DATA
    text += texts.CONDITIONS.format(min_topup=settings.MIN_TOPUP_RUB, since=since.strftime("%d.%m.%Y"))
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="profile"))
    await edit_or_send_message(callback.message, text, reply_markup=kb.as_markup())
    await callback.answer()
