"""One-time login links: the page shows ``t.me/<bot>?start=login_<nonce>``; the user confirms in the bot; the page signs in.

The nonce is 24 random bytes, kept only as its SHA-256, valid for ten minutes and used once.
The bot asks for confirmation with a button, naming the catalog, so a link someone else sent
cannot sign that someone in as the user without the user pressing "confirm" knowingly.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import LoginLink, utcnow
from .widget import TelegramIdentity

TTL = timedelta(minutes=10)
NONCE = re.compile(r"^[A-Za-z0-9_-]{32}$")


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


async def create_link(session: AsyncSession) -> str:
    await session.execute(delete(LoginLink).where(LoginLink.expires_at < utcnow() - TTL))  # links nobody used
    nonce = secrets.token_urlsafe(24)
    session.add(LoginLink(nonce_hash=_hash(nonce), expires_at=utcnow() + TTL))
    return nonce


async def _live(session: AsyncSession, nonce: str) -> LoginLink | None:
    if not NONCE.fullmatch(nonce or ""):
        return None
    link = await session.get(LoginLink, _hash(nonce), with_for_update=True)
    if link is None or link.used_at is not None or link.expires_at < utcnow():
        return None
    return link


async def confirm_link(session: AsyncSession, nonce: str, identity: TelegramIdentity) -> bool:
    """The user pressed "confirm" in the bot; False for an unknown, used or expired link."""
    link = await _live(session, nonce)
    if link is None or link.user_id is not None:
        return False
    link.user_id, link.first_name, link.username = identity.tg_id, identity.first_name, identity.username
    return True


async def complete_link(session: AsyncSession, nonce: str) -> TelegramIdentity | None:
    """The identity that confirmed ``nonce`` (the link is used up), or None when not confirmed (yet)."""
    link = await _live(session, nonce)
    if link is None or link.user_id is None:
        return None
    link.used_at = utcnow()
    return TelegramIdentity(link.user_id, link.first_name or "", link.username)
