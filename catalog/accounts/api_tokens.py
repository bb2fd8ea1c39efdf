"""Per-person API tokens for developers' CI and the bot side: shown once, stored as SHA-256, revocable.

A token is ``sbc_`` + 32 random bytes (base64url): high-entropy, so a plain SHA-256 is enough to
store it (no password hashing needed) and look it up by hash in constant time per request.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..db.models import Account, ApiToken, utcnow

PREFIX = "sbc_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, user_id: int, name: str) -> str:
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user_id, name=(name.strip() or "token")[:64], token_hash=_hash(token), prefix=token[:10]))
    audit.record(session, user_id, "token.create", f"user:{user_id}", name=name[:64])
    return token


async def list_tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    return list(await session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


async def revoke_token(session: AsyncSession, user_id: int, token_id: int) -> bool:
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    audit.record(session, user_id, "token.revoke", f"user:{user_id}", token=token.prefix)
    return True


async def authenticate(session: AsyncSession, header: str | None) -> Account | None:
    """The account of ``Authorization: Bearer <token>``, or None."""
    if not header or not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    account = await session.get(Account, row.user_id)
    if account is None or account.suspended:
        return None
    row.last_used_at = utcnow()
    return account
