"""Issuing, listing and revoking licences; the signed revocation list.

A licence token is ``base64url(canonical JSON claims) + "." + base64url(Ed25519 signature)``,
claims ``{kind: "licence", licence_id, module, user_id, bot_id|null, not_after|null, issued_at}``
(times in Unix seconds) — see ``catalog.verify.verify_licence``.
"""

from __future__ import annotations

import calendar
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, counters
from ..db.models import Licence, utcnow
from ..errors import Refused
from ..releases.service import owned_module
from ..signing import CatalogSigner, b64url, canonical_json

MAX_TELEGRAM_ID = 2**53  # Telegram's user and bot IDs fit in 52 bits


def _unix(moment: datetime) -> int:
    return calendar.timegm(moment.timetuple())


def licence_token(signer: CatalogSigner, licence: Licence) -> str:
    claims = {
        "kind": "licence",
        "licence_id": licence.id,
        "module": licence.module,
        "user_id": licence.user_id,
        "bot_id": licence.bot_id,
        "not_after": _unix(licence.not_after) if licence.not_after else None,
        "issued_at": _unix(licence.issued_at),
    }
    body = canonical_json(claims)
    return b64url(body) + "." + signer.sign_bytes(body)


async def issue(
    session: AsyncSession,
    signer: CatalogSigner,
    name: str,
    developer_id: int,
    user_id: int,
    bot_id: int | None,
    not_after: datetime | None,
) -> Licence:
    module = await owned_module(session, name, developer_id)
    if not module.paid:
        raise Refused("Модуль бесплатный: лицензии не нужны. Отметьте его платным в описании, чтобы выдавать лицензии.")
    if not 0 < user_id < MAX_TELEGRAM_ID or (bot_id is not None and not 0 < bot_id < MAX_TELEGRAM_ID):
        raise Refused("ID пользователя и ID бота — положительные числа из Telegram.")
    now = utcnow().replace(microsecond=0)
    if not_after is not None and not_after <= now:
        raise Refused("Срок действия должен быть в будущем.")
    licence = Licence(
        id="lic_" + secrets.token_hex(12), module=name, user_id=user_id, bot_id=bot_id, not_after=not_after,
        issued_at=now, issued_by=developer_id, token="",
    )  # fmt: skip
    licence.token = licence_token(signer, licence)
    session.add(licence)
    audit.record(session, developer_id, "licence.issue", f"module:{name}", licence=licence.id, user_id=user_id, bot_id=bot_id)
    return licence


async def revoke(session: AsyncSession, name: str, developer_id: int, licence_id: str) -> Licence:
    await owned_module(session, name, developer_id)
    licence = await session.get(Licence, licence_id, with_for_update=True)
    if licence is None or licence.module != name:
        raise Refused("Лицензия не найдена.")
    if licence.revoked_at is not None:
        raise Refused("Лицензия уже отозвана.")
    licence.revoked_at = utcnow()
    await counters.bump(session, counters.REVOCATIONS)
    audit.record(session, developer_id, "licence.revoke", f"module:{name}", licence=licence.id, user_id=licence.user_id)
    return licence


async def of_module(session: AsyncSession, name: str) -> list[Licence]:
    return list(await session.scalars(select(Licence).where(Licence.module == name).order_by(Licence.issued_at.desc())))


async def of_user(session: AsyncSession, user_id: int) -> list[Licence]:
    return list(await session.scalars(select(Licence).where(Licence.user_id == user_id).order_by(Licence.issued_at.desc())))


async def revoked_ids(session: AsyncSession) -> list[str]:
    return sorted(await session.scalars(select(Licence.id).where(Licence.revoked_at.is_not(None))))
