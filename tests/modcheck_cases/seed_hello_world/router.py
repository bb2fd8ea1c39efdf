# ruff: noqa  (the seed guide's code verbatim: a modcheck fixture)
# modules/hello_world/router.py
from aiogram import Router, F
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from hooks.hooks import register_hook

router = Router()


def _btn():
    return InlineKeyboardButton(text="👋 Привет", callback_data="hello|open")


async def profile_menu_hook(**kwargs):
    return {"after": "balance", "button": _btn()}


register_hook("profile_menu", profile_menu_hook)


@router.callback_query(F.data == "hello|open")
async def open_hello(callback: CallbackQuery):
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text="⬅️ Назад", callback_data="profile"))
    await callback.message.edit_text("Привет из модуля!", reply_markup=kb.as_markup())
