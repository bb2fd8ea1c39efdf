"""Finishing a purchase or renewal that waited for money, once a payment is in.

When the balance was short, the purchase was remembered in ``temporary_data``
(``waiting_for_payment`` / ``waiting_for_renewal_payment``, upstream's states). Every successful
payment fires ``payment_success`` — the core's providers do, and so do payment modules, whose
``run_hooks`` reaches the host — and the host's own subscriber here completes what was waiting,
as upstream's payment notification does. It reads only the user id from the hook's arguments:
what to buy and the price come from the user's own remembered choice, and the balance must
cover the price, so a module cannot make anyone buy anything they did not choose.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database import get_balance, get_key_by_email, get_tariff_by_id, get_temporary_data
from database.models import TemporaryData
from hooks.hooks import HookFunc, register_hook
from logger import logger

from ..keys.format import MSK
from .coupon_discount import give_back_discount, spend_discount

WAITING_FOR_PAYMENT = "waiting_for_payment"
WAITING_FOR_RENEWAL_PAYMENT = "waiting_for_renewal_payment"


async def complete_pending_purchase(session: AsyncSession, tg_id: int) -> bool:
    """Complete ``tg_id``'s waiting purchase or renewal if the balance now covers it. True when
    one was completed (the user got the key or the renewal message)."""
    pending = await get_temporary_data(session, tg_id)
    if not pending or pending["state"] not in (WAITING_FOR_PAYMENT, WAITING_FOR_RENEWAL_PAYMENT):
        return False
    payload: dict[str, Any] = pending["data"] or {}
    tariff = await get_tariff_by_id(session, int(payload.get("tariff_id") or 0))
    if tariff is None:
        return False
    price = int(payload.get("selected_price_rub") or tariff.get("price_rub") or 0)
    if float(await get_balance(session, tg_id) or 0) < price:
        return False  # a smaller payment: keep waiting
    taken = await session.execute(
        delete(TemporaryData)
        .where(TemporaryData.tg_id == tg_id, TemporaryData.state == pending["state"])
        .returning(TemporaryData.tg_id)
    )
    await session.commit()
    if taken.first() is None:
        return False  # another payment's notification took it
    coupon_id = payload.get("coupon_id")
    if coupon_id is not None and not await spend_discount(session, int(coupon_id), tg_id):
        price, coupon_id = int(tariff.get("price_rub") or 0), None  # spent meanwhile: the full price
    if pending["state"] == WAITING_FOR_PAYMENT:
        done = await _buy(session, tg_id, tariff, payload, price)
    else:
        done = await _renew(session, tg_id, tariff, payload, price)
    if not done:
        await give_back_discount(session, coupon_id, tg_id)
    return done


async def _buy(session: AsyncSession, tg_id: int, tariff: dict[str, Any], payload: dict[str, Any], price: int) -> bool:
    from ..keys.key_mode.key_cluster_mode import key_cluster_mode

    days = int(payload.get("selected_duration_days") or tariff.get("duration_days") or 30)
    key = await key_cluster_mode(
        tg_id,
        datetime.now(MSK) + timedelta(days=days),
        None,
        session,
        None,
        plan=tariff["id"],
        selected_device_limit=payload.get("selected_device_limit"),
        selected_traffic_gb=payload.get("selected_traffic_limit_gb"),
        selected_price_rub=price,
    )
    return key is not None


async def _renew(session: AsyncSession, tg_id: int, tariff: dict[str, Any], payload: dict[str, Any], price: int) -> bool:
    from ..keys.key_renew import complete_key_renewal, renewed_expiry

    key = await get_key_by_email(session, str(payload.get("email") or ""))
    if key is None or key.tg_id != tg_id or key.client_id != payload.get("client_id"):
        return False
    return await complete_key_renewal(
        session, tg_id, key.client_id, key.email or "", renewed_expiry(key, tariff), 0, price, None, tariff["id"]
    )


async def _complete_in_own_session(session_maker: async_sessionmaker[AsyncSession], tg_id: int) -> bool:
    async with session_maker() as session:
        try:
            return await complete_pending_purchase(session, tg_id)
        except Exception:
            logger.exception("[purchase] completing the waiting purchase of %s failed", tg_id)
            return False


def install_purchase_completion(session_maker: async_sessionmaker[AsyncSession]) -> HookFunc:
    """Subscribe this process (the host) to ``payment_success`` to complete waiting purchases;
    returns the subscriber (give it to ``hooks.hooks.unregister_hook`` on shutdown)."""

    async def complete_after_payment(**kwargs: Any) -> dict[str, bool] | None:
        tg_id = kwargs.get("tg_id") or kwargs.get("user_id")
        if not isinstance(tg_id, int):
            return None
        # Shielded: hooks run under a timeout, and a slow panel must not cut a purchase in half
        # (money taken, key not stored); past the timeout it finishes on its own.
        done = await asyncio.shield(_complete_in_own_session(session_maker, tg_id))
        return {"handled": True} if done else None  # the key message replaces "payment received"

    register_hook("payment_success", complete_after_payment)
    return complete_after_payment
