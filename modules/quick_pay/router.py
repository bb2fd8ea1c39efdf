# Quick pay: a payment "fast flow". The pay menu offers it; choosing it runs start_flow, which
# offers fixed amounts; choosing an amount records the payment and credits the balance.
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from database import add_payment, update_balance
from handlers.utils import edit_or_send_message
from hooks.hooks import run_hooks

from . import settings, texts

router = Router()


async def start_flow(callback_or_message, session, **kwargs):
    kb = InlineKeyboardBuilder()
    for amount in settings.AMOUNTS:
        kb.button(text=texts.BTN_AMOUNT.format(amount=amount), callback_data=f"quick_pay|{amount}")
    kb.adjust(len(settings.AMOUNTS))
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="balance"))
    message = callback_or_message.message if isinstance(callback_or_message, CallbackQuery) else callback_or_message
    assert isinstance(message, Message)
    await edit_or_send_message(message, texts.CHOOSE, reply_markup=kb.as_markup())


def get_fast_flow_handler():
    return {"payment_key": settings.PAYMENT_KEY, "handler": start_flow}


@router.callback_query(F.data.startswith("quick_pay|"))
async def pay(callback: CallbackQuery, session):
    try:
        amount = int(callback.data.split("|", 1)[1])
    except ValueError:
        amount = -1
    if amount not in settings.AMOUNTS:
        await callback.answer(texts.BAD_AMOUNT, show_alert=True)
        return
    tg_id = callback.from_user.id
    await add_payment(session, tg_id, amount, settings.PAYMENT_SYSTEM)
    await update_balance(session, tg_id, amount)
    results = await run_hooks(
        "payment_success", user_id=tg_id, tg_id=tg_id, amount=amount, payment_system=settings.PAYMENT_SYSTEM,
        session=session, status="success", currency="RUB",
    )
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="profile"))
    if not any(isinstance(r, dict) and r.get("handled") for r in results):
        await edit_or_send_message(callback.message, texts.PAID.format(amount=amount), reply_markup=kb.as_markup())
    await callback.answer()
