"""The payment-provider interface: what the pay menu needs to take money for a top-up."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(slots=True)
class Invoice:
    """A created payment. ``paid`` means the money is already in (the test provider);
    otherwise ``url`` is where the user pays and the provider's webhook finishes the payment."""

    payment_id: str
    amount: float
    currency: str = "RUB"
    url: str | None = None
    paid: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(ABC):
    """One way to pay. ``name`` is the ``payments.payment_system`` value and the provider-map key."""

    name: str = ""
    title: str = ""
    currency: str = "RUB"
    #: payment_key of a fast-flow handler this provider offers, or None.
    fast: str | None = None
    #: amounts (in ``currency``) offered as buttons on the amount screen.
    amounts: tuple[int, ...] = (100, 300, 500, 1000)

    @abstractmethod
    async def create_invoice(self, session: AsyncSession, tg_id: int, amount: float) -> Invoice:
        """Create a payment of ``amount`` for ``tg_id``."""
