# The seed's minimal module: a button in the profile, after "balance".
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from hooks.hooks import register_hook

from .texts import BTN_BACK, BTN_HELLO, HELLO

router = Router()


def _btn():
    return InlineKeyboardButton(text=BTN_HELLO, callback_data="hello|open")


async def profile_menu_hook(**kwargs):
    return {"after": "balance", "button": _btn()}


register_hook("profile_menu", profile_menu_hook)


@router.callback_query(F.data == "hello|open")
async def open_hello(callback: CallbackQuery):
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=BTN_BACK, callback_data="profile"))
    await callback.message.edit_text(HELLO, reply_markup=kb.as_markup())
