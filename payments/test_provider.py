"""A provider that "pays" at once: for demos and tests, never enabled unless configured."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from .base import Invoice, PaymentProvider


class TestProvider(PaymentProvider):
    __test__ = False  # not a pytest test class despite the name

    name = "test"
    title = "🧪 Тестовая оплата"
    currency = "RUB"

    async def create_invoice(self, session: AsyncSession, tg_id: int, amount: float) -> Invoice:
        return Invoice(payment_id=f"test-{uuid.uuid4().hex}", amount=amount, currency=self.currency, paid=True)
