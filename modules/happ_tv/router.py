# Replaces the core's "connect TV" button on the key card with the module's own.
from aiogram import Router
from aiogram.types import InlineKeyboardButton

from hooks.hooks import register_hook

from . import texts

router = Router()


def _happ_btn(key_name: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.BTN_CONNECT, callback_data=f"happ_tv|{key_name}")


async def view_key_menu_hook(key_name: str, **kwargs):
    return [
        {"remove": f"connect_tv|{key_name}"},
        {"button": _happ_btn(key_name)},
    ]


register_hook("view_key_menu", view_key_menu_hook)
