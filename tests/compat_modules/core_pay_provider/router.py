# A payment provider as public modules write one: it adds itself to the pay menu through
# providers_config, takes the payment on its own button, credits the balance and fires
# payment_success (a purchase waiting for this money then completes).
from aiogram import F, Router
from aiogram.types import CallbackQuery

from database import add_payment, get_temporary_data, update_balance
from hooks.hooks import register_hook, run_hooks

router = Router()
PAYMENT_SYSTEM = "core_demo"


@register_hook("providers_config")
async def providers_config(providers, flags, **kwargs):
    return {
        PAYMENT_SYSTEM: {
            "enabled": True,
            "value": "core_demo_pay",
            "title": "💳 Демо-касса",
            "currency": "RUB",
            "module": "core_pay_provider",
            "order": 5,
        }
    }


@router.callback_query(F.data == "core_demo_pay")
async def pay(callback: CallbackQuery, session):
    tg_id = callback.from_user.id
    waiting = await get_temporary_data(session, tg_id)
    amount = int((waiting or {}).get("data", {}).get("required_amount") or 100)
    await add_payment(session, tg_id, amount, PAYMENT_SYSTEM, payment_id=f"demo-{callback.id}")
    await update_balance(session, tg_id, amount)
    results = await run_hooks(
        "payment_success", user_id=tg_id, tg_id=tg_id, amount=amount, payment_system=PAYMENT_SYSTEM, session=session
    )
    await callback.answer()
    if not any(isinstance(r, dict) and r.get("handled") for r in results):
        await callback.message.answer(f"Оплачено {amount} ₽")
