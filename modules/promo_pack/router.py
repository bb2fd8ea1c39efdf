# Returns a nested list of operations: the results are flattened before they are applied.
from aiogram import Router
from aiogram.types import InlineKeyboardButton

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
