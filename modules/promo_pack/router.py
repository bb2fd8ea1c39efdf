# Returns a nested list of operations: the results are flattened before they are applied.
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import func, select

from database.models import User
from filters.admin import IsAdminFilter
from handlers.utils import edit_or_send_message

from hooks.hooks import register_hook

from . import settings, texts

router = Router()


async def profile_menu_hook(admin: bool = False, **kwargs):
    operations = [
        {"after": "invite", "button": InlineKeyboardButton(text=texts.BTN_PROMO, callback_data="promo|list")},
        [
            {"insert_at": 0, "button": InlineKeyboardButton(text=texts.BTN_NEWS, url=settings.NEWS_URL)},
        ],
    ]
    if admin:
        operations.append([[{"button": InlineKeyboardButton(text=texts.BTN_STATS, callback_data="promo|stats")}]])
    return operations


register_hook("profile_menu", profile_menu_hook)


def _back():
    return InlineKeyboardBuilder().row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="profile")).as_markup()


@router.callback_query(F.data == "promo|list")
async def promo_list(callback: CallbackQuery):
    await edit_or_send_message(callback.message, texts.PROMO_LIST, reply_markup=_back())
    await callback.answer()


@router.callback_query(F.data == "promo|stats", IsAdminFilter())
async def promo_stats(callback: CallbackQuery, session):
    users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    await edit_or_send_message(callback.message, texts.PROMO_STATS.format(users=users), reply_markup=_back())
    await callback.answer()
