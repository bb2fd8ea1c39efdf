"""Accounts: created or refreshed at each sign-in; the Telegram user ID is the identity everywhere."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Account
from .widget import TelegramIdentity


async def sign_in(session: AsyncSession, identity: TelegramIdentity) -> Account:
    account = await session.get(Account, identity.tg_id)
    if account is None:
        account = Account(tg_id=identity.tg_id, first_name=identity.first_name, username=identity.username)
        session.add(account)
    else:
        account.first_name = identity.first_name or account.first_name
        account.username = identity.username
    return account
