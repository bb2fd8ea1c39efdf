"""The audit log: every change — approvals, uploads, yanks, licences, tokens — with who, what, when and on which object."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .db.models import AuditEntry


def record(session: AsyncSession, actor_id: int | None, action: str, obj: str, **detail: Any) -> None:
    """Add an entry to ``session`` (committed with the change it describes, or not at all)."""
    session.add(AuditEntry(actor_id=actor_id, action=action, object=obj, detail=detail))


async def recent(session: AsyncSession, limit: int = 200) -> list[AuditEntry]:
    result = await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return list(result)
