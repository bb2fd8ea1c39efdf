# ruff: noqa  (the seed guide's code verbatim: a modcheck fixture)
from datetime import datetime, timezone

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from hooks.hooks import register_hook

from . import settings, texts

router = Router()


class MyFlow(StatesGroup):
    waiting = State()


def _happ_btn(key_name: str):
    return InlineKeyboardButton(text=texts.BTN_TOP, callback_data=f"happ_tv|{key_name}")


async def view_key_menu_hook(key_name: str, **kwargs):
    return [
        {"remove": f"connect_tv|{key_name}"},
        {"button": _happ_btn(key_name)},
    ]


register_hook("view_key_menu", view_key_menu_hook)


async def legacy_hook(**kwargs):
    return {"remove_prefix": "legacy_"}


register_hook("start_menu", legacy_hook)


async def periodic_notify(bot, session, keys, **kwargs):
    # keys — список активных подписок (объекты моделей)
    # можно отправлять сообщения, использовать БД через session и т.д.
    pass


register_hook("periodic_notifications", periodic_notify)


async def my_flow_handler(callback_or_message, session, state: FSMContext, **kwargs):
    await state.set_state(MyFlow.waiting)


def get_fast_flow_handler():
    return {
        "payment_key": "my_flow",  # ключ сценария
        "handler": my_flow_handler,  # async def handler(callback_or_message, session, **kwargs)
    }


def _start_dt() -> datetime:
    _dt = datetime.fromisoformat(settings.START_AT_ISO.replace("Z", "+00:00"))
    start_dt = _dt.astimezone(timezone.utc).replace(tzinfo=None)  # naive UTC
    return start_dt


@router.callback_query(F.data.startswith("my_flow_cancel|"))
async def my_flow_cancel(callback: CallbackQuery, state: FSMContext, session):
    await state.clear()
    # вернуться на экран карточки
    key_name = callback.data.split("|")[1]
    from handlers.keys.key_view import render_key_info
    import os

    await render_key_info(callback.message, session, key_name, os.path.join("img", "pic_view.jpg"))
