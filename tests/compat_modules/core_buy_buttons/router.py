# "Купить подписку" on the start and profile menus, with upstream's callback data `buy`.
from aiogram import Router
from aiogram.types import InlineKeyboardButton

from hooks.hooks import register_hook

router = Router()


def buy_button():
    return InlineKeyboardButton(text="🛒 Купить подписку", callback_data="buy")


@register_hook("start_menu")
async def start_menu(chat_id, session, **kwargs):
    return {"button": buy_button()}


@register_hook("profile_menu")
async def profile_menu(chat_id, admin, session, **kwargs):
    return {"after": "balance", "button": buy_button()}
