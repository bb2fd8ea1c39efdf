"""What happens once money is in: record it, credit the balance, tell the modules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database import add_payment, update_balance
from hooks.hooks import run_hooks


async def process_successful_payment(
    session: AsyncSession,
    tg_id: int,
    amount: float,
    payment_system: str,
    *,
    currency: str = "RUB",
    original_amount: float | Decimal | None = None,
    payment_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> bool:
    """Record the payment and credit ``amount`` (RUB); returns True when a module took over the
    success message (a ``payment_success`` result marked handled), so the caller stays silent."""
    await add_payment(
        session,
        tg_id,
        amount,
        payment_system,
        status="success",
        currency=currency,
        payment_id=payment_id,
        metadata=metadata,
        original_amount=original_amount,
    )
    await update_balance(session, tg_id, amount)  # commits the payment row with the balance
    results = await run_hooks(
        "payment_success",
        user_id=tg_id,
        tg_id=tg_id,
        amount=amount,
        payment_system=payment_system,
        session=session,
        status="success",
        currency=currency,
        original_amount=original_amount if original_amount is not None else amount,
    )
    return any(_is_handled(result) for result in results)


def _is_handled(result: Any) -> bool:
    if isinstance(result, dict):
        return bool(result.get("handled"))
    return result is True or result == "handled"
