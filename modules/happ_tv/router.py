# Happ TV: replaces the core's "connect TV" button on the key card with a flow that asks for the
# pairing code shown on the TV. Cancel clears the state and re-renders the key card, as the seed shows.
import os
import re

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from database import get_key_details
from hooks.hooks import register_hook
from logger import logger

from . import settings, texts

router = Router()


class HappTV(StatesGroup):
    waiting_code = State()


def _happ_btn(key_name: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.BTN_CONNECT, callback_data=f"happ_tv|{key_name}")


def _cancel_kb(key_name: str):
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=f"happ_tv_cancel|{key_name}"))
    return kb.as_markup()


async def view_key_menu_hook(key_name: str, **kwargs):
    return [
        {"remove": f"connect_tv|{key_name}"},
        {"button": _happ_btn(key_name)},
    ]


register_hook("view_key_menu", view_key_menu_hook)


@router.callback_query(F.data.startswith("happ_tv|"))
async def start_pairing(callback: CallbackQuery, state: FSMContext, session):
    key_name = callback.data.split("|", 1)[1]
    details = await get_key_details(session, key_name)
    if not details or details.get("tg_id") != callback.from_user.id:
        await callback.answer(texts.KEY_NOT_FOUND, show_alert=True)
        return
    await state.set_state(HappTV.waiting_code)
    await state.update_data(happ_tv_key=key_name)
    await callback.message.answer(texts.ASK_CODE.format(length=settings.CODE_LENGTH), reply_markup=_cancel_kb(key_name))
    await callback.answer()


@router.message(HappTV.waiting_code)
async def receive_code(message: Message, state: FSMContext, session):
    data = await state.get_data()
    key_name = data.get("happ_tv_key", "")
    code = (message.text or "").strip().upper()
    if not re.fullmatch(rf"[A-Z0-9]{{{settings.CODE_LENGTH}}}", code):
        await message.answer(texts.BAD_CODE.format(length=settings.CODE_LENGTH), reply_markup=_cancel_kb(key_name))
        return
    await state.clear()
    logger.info("happ_tv: key %s paired with a TV (code %s) for %s", key_name, code, message.from_user.id)
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK_TO_KEY, callback_data=f"view_key|{key_name}"))
    await message.answer(texts.DONE.format(key_name=key_name, code=code), reply_markup=kb.as_markup())


@router.callback_query(F.data.startswith("happ_tv_cancel|"))
async def cancel_pairing(callback: CallbackQuery, state: FSMContext, session):
    await state.clear()
    key_name = callback.data.split("|", 1)[1]
    from handlers.keys.key_view import render_key_info

    await render_key_info(callback.message, session, key_name, os.path.join(*settings.KEY_CARD_IMAGE.split("/")))
    await callback.answer()
