"""Balance, the pay menu (providers, fast flows, module buttons) and the core providers' screens."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_balance
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks
from logger import logger
from payments import CORE_PROVIDERS, get_providers, process_successful_payment, provider_callback

from . import buttons, texts
from .utils import answer_callback, callback_args, edit_or_send_message, format_money

router = Router(name="core_pay")

FastFlowHandler = Callable[..., Any]
#: payment_key → handler offered by core providers (modules add theirs through the loader).
CORE_FAST_FLOWS: dict[str, FastFlowHandler] = {}
DEFAULT_FAST_AMOUNT = 100
MAX_PRESET_AMOUNT = 1_000_000


@router.callback_query(F.data == "balance")
async def balance(callback: CallbackQuery, session: AsyncSession) -> None:
    amount = float(await get_balance(session, callback.from_user.id) or 0)
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.TOP_UP_BALANCE, callback_data="pay"))
    builder.row(InlineKeyboardButton(text=buttons.COUPON, callback_data="activate_coupon"))
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="profile"))
    await answer_callback(callback)
    await edit_or_send_message(
        callback.message, texts.BALANCE.format(balance=format_money(amount)), reply_markup=builder.as_markup(), force_text=True
    )


@router.callback_query(F.data == "pay")
async def pay_menu(callback: CallbackQuery, session: AsyncSession, state: FSMContext, admin: bool = False) -> None:
    chat_id = callback.from_user.id
    providers = await get_providers()
    fast_keys = [c["fast"] for c in providers.values() if c.get("fast")]
    fast_keys += [key for key in await fast_flow_handlers() if key not in fast_keys]
    hook_results = await run_hooks("pay_menu_buttons", chat_id=chat_id, admin=admin, session=session)
    await answer_callback(callback)

    core_only = [
        name for name, config in providers.items() if name in CORE_PROVIDERS and config.get("value") == provider_callback(name)
    ]
    if len(providers) == 1 and core_only and not fast_keys and not hook_results:
        await show_amounts(callback, core_only[0], await _required_amount(state))  # one way to pay: no menu, as upstream
        return

    builder = InlineKeyboardBuilder()
    for name, config in providers.items():
        value = config.get("value")
        if _valid_callback_data(value):
            builder.row(InlineKeyboardButton(text=str(config.get("title") or name), callback_data=value))
    for key in fast_keys:
        if _valid_callback_data(f"fast_flow|{key}"):
            builder.row(InlineKeyboardButton(text=f"⚡ {key}", callback_data=f"fast_flow|{key}"))
    builder = insert_hook_buttons(builder, hook_results)
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="balance"))
    text = texts.PAY_MENU if len(builder.export()) > 1 else texts.PAY_NO_PROVIDERS
    await edit_or_send_message(callback.message, text, reply_markup=builder.as_markup(), force_text=True)


@router.callback_query(F.data.startswith("pay_provider|"))
async def provider_chosen(callback: CallbackQuery, state: FSMContext) -> None:
    await answer_callback(callback)
    await show_amounts(callback, callback_args(callback, 1)[0], await _required_amount(state))


@router.callback_query(F.data.startswith("amount|"))
async def amount_preset(callback: CallbackQuery, session: AsyncSession, state: FSMContext, admin: bool = False) -> None:
    """Upstream's ``PAYMENT_OPTIONS`` buttons (``amount|N``): the pay menu, offering exactly N ₽."""
    (raw,) = callback_args(callback, 1)
    if not raw.isdigit() or not 0 < int(raw) <= MAX_PRESET_AMOUNT:
        await answer_callback(callback, texts.STALE_BUTTON, show_alert=True)
        return
    await state.update_data(required_amount=int(raw))
    await pay_menu(callback, session, state, admin)


async def show_amounts(callback: CallbackQuery, name: str, required: int | None = None) -> None:
    provider = CORE_PROVIDERS.get(name)
    builder = InlineKeyboardBuilder()
    if provider is None or name not in await get_providers():
        builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="pay"))
        await edit_or_send_message(callback.message, texts.PAY_NO_PROVIDERS, reply_markup=builder.as_markup(), force_text=True)
        return
    if required:  # a purchase is waiting for exactly this much
        builder.row(InlineKeyboardButton(text=f"{required} ₽", callback_data=f"pay_amount|{name}|{required}"))
    for amount in provider.amounts:
        builder.button(text=f"{amount} ₽", callback_data=f"pay_amount|{name}|{amount}")
    builder.adjust(*([1] if required else []), 2)
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="balance"))
    await edit_or_send_message(
        callback.message, texts.PAY_CHOOSE_AMOUNT.format(title=provider.title), reply_markup=builder.as_markup(), force_text=True
    )


async def _required_amount(state: FSMContext) -> int | None:
    """The shortfall of a purchase waiting for money (set by the purchase screens), if any."""
    value = (await state.get_data()).get("required_amount")
    return int(value) if isinstance(value, (int, float)) and 0 < value <= MAX_PRESET_AMOUNT else None


@router.callback_query(F.data.startswith("pay_amount|"))
async def amount_chosen(callback: CallbackQuery, session: AsyncSession, state: FSMContext) -> None:
    name, raw_amount = callback_args(callback, 2)
    provider = CORE_PROVIDERS.get(name)
    if (
        provider is None
        or name not in await get_providers()
        or not raw_amount.isdigit()
        or int(raw_amount) not in (*provider.amounts, await _required_amount(state))
    ):
        await answer_callback(callback, texts.STALE_BUTTON, show_alert=True)
        return
    await answer_callback(callback)
    tg_id, amount = callback.from_user.id, int(raw_amount)
    try:
        invoice = await provider.create_invoice(session, tg_id, amount)
    except Exception:
        logger.exception("[pay] %s could not create an invoice for %s", name, tg_id)
        await edit_or_send_message(callback.message, texts.PAY_FAILED)
        return
    builder = InlineKeyboardBuilder()
    if not invoice.paid:
        if invoice.url:
            builder.row(InlineKeyboardButton(text="💳 Оплатить", url=invoice.url))
        builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="pay"))
        text = texts.PAY_INVOICE.format(title=provider.title, amount=amount, currency=invoice.currency)
        await edit_or_send_message(callback.message, text, reply_markup=builder.as_markup(), force_text=True)
        return
    handled = await process_successful_payment(
        session,
        tg_id,
        float(invoice.amount),
        name,
        currency=invoice.currency,
        payment_id=invoice.payment_id,
        metadata=invoice.metadata,
    )
    await state.update_data(required_amount=None)
    if handled:  # a module's message, or the purchase that waited for this money was completed
        return
    builder.row(InlineKeyboardButton(text=buttons.PROFILE, callback_data="profile"))
    await edit_or_send_message(
        callback.message, texts.PAYMENT_SUCCESS.format(amount=amount), reply_markup=builder.as_markup(), force_text=True
    )


@router.callback_query(F.data.startswith("fast_flow|"))
async def fast_flow(callback: CallbackQuery, session: AsyncSession, state: FSMContext, admin: bool = False) -> None:
    key = callback_args(callback, 1)[0]
    handler = (await fast_flow_handlers()).get(key)
    if handler is None:
        await answer_callback(callback, texts.FAST_FLOW_UNAVAILABLE, show_alert=True)
        return
    amount = (await state.get_data()).get("required_amount") or DEFAULT_FAST_AMOUNT
    result = handler(callback, session, state=state, admin=admin, amount=amount)
    if inspect.isawaitable(result):
        await result


async def fast_flow_handlers() -> dict[str, FastFlowHandler]:
    """Core fast flows plus the modules' (``utils.modules_loader``; absent → none)."""
    handlers = dict(CORE_FAST_FLOWS)
    try:
        from utils.modules_loader import load_module_fast_flow_handlers
    except ImportError:
        return handlers
    try:
        loaded = load_module_fast_flow_handlers()
        if inspect.isawaitable(loaded):
            loaded = await loaded
    except Exception:
        logger.exception("[pay] loading the modules' fast-flow handlers failed")
        return handlers
    handlers.update({key: h for key, h in (loaded or {}).items() if callable(h)})
    return handlers


def _valid_callback_data(value: object) -> bool:
    # A module's provider entry with bad callback data would make Telegram refuse the whole menu.
    return isinstance(value, str) and 1 <= len(value.encode()) <= 64
