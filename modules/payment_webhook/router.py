# Payment webhook: a payment provider confirms a top-up by POSTing a signed JSON body;
# the module credits the balance once per payment id and tells the user.
import hashlib
import hmac
import json

from aiogram import Router
from aiohttp import web
from sqlalchemy import select

from database import add_payment, async_session_maker, check_user_exists, update_balance
from database.models import Payment
from hooks.hooks import run_hooks
from logger import logger

from . import settings, texts

router = Router()


def _valid_signature(body: bytes, signature: str) -> bool:
    expected = hmac.new(settings.SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature or "")


async def payment_webhook(request: web.Request) -> web.Response:
    body = await request.read()
    if not _valid_signature(body, request.headers.get("X-Signature", "")):
        logger.warning("payment_webhook: bad signature from %s", request.remote)
        return web.json_response({"ok": False, "error": "bad signature"}, status=403)
    try:
        payload = json.loads(body)
        tg_id, amount, payment_id = int(payload["tg_id"]), float(payload["amount"]), str(payload["payment_id"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"ok": False, "error": "expected tg_id, amount, payment_id"}, status=400)
    if amount <= 0:
        return web.json_response({"ok": False, "error": "amount must be positive"}, status=400)
    async with async_session_maker() as session:
        if not await check_user_exists(session, tg_id):
            return web.json_response({"ok": False, "error": "unknown user"}, status=404)
        seen = await session.execute(select(Payment.id).where(Payment.payment_id == payment_id))
        if seen.first() is not None:
            return web.json_response({"ok": True, "duplicate": True})
        await add_payment(session, tg_id, amount, settings.PAYMENT_SYSTEM, payment_id=payment_id)
        await update_balance(session, tg_id, amount)  # commits the payment too
        await run_hooks(
            "payment_success", user_id=tg_id, tg_id=tg_id, amount=amount,
            payment_system=settings.PAYMENT_SYSTEM, session=session, status="success", currency="RUB",
        )
    from bot import bot

    await bot.send_message(tg_id, texts.CREDITED.format(amount=f"{amount:g}"))
    return web.json_response({"ok": True})


def get_webhook_data():
    return {"path": settings.WEBHOOK_PATH, "handler": payment_webhook}
