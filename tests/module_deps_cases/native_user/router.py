from aiogram import Router
from aiogram.types import InlineKeyboardButton
from solobot_native_demo import GREETING, mul_add

from hooks.hooks import register_hook

router = Router()


@register_hook("profile_menu")
async def profile_button(**kwargs):
    return {"button": InlineKeyboardButton(text=f"{GREETING} {mul_add(6, 7, 0)}", callback_data="native_user|open")}
