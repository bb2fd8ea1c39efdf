"""When each kind of notification was last sent to a user (upstream ``database.notifications``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Notification, utcnow

_EPOCH = datetime(1970, 1, 1)  # naive UTC, like the column


async def add_notification(session: AsyncSession, tg_id: int, notification_type: str) -> None:
    """Record that ``notification_type`` was sent to the user now; commits."""
    now = utcnow()
    stmt = (
        insert(Notification)
        .values(tg_id=tg_id, notification_type=notification_type, last_notification_time=now)
        .on_conflict_do_update(
            index_elements=[Notification.tg_id, Notification.notification_type], set_={"last_notification_time": now}
        )
    )
    await session.execute(stmt)
    await session.commit()


async def delete_notification(session: AsyncSession, tg_id: int, notification_type: str) -> None:
    await session.execute(
        delete(Notification).where(Notification.tg_id == tg_id, Notification.notification_type == notification_type)
    )
    await session.commit()


async def get_last_notification_time(session: AsyncSession, tg_id: int, notification_type: str) -> int | None:
    """Milliseconds since the epoch (UTC), or None if never sent."""
    sent = await session.scalar(
        select(Notification.last_notification_time).where(
            Notification.tg_id == tg_id, Notification.notification_type == notification_type
        )
    )
    if sent is None:
        return None
    return int((sent - _EPOCH).total_seconds() * 1000)


async def check_notification_time(session: AsyncSession, tg_id: int, notification_type: str, hours: int = 12) -> bool:
    """True when the notification may be sent again: never sent, or sent more than ``hours`` ago."""
    sent = await session.scalar(
        select(Notification.last_notification_time).where(
            Notification.tg_id == tg_id, Notification.notification_type == notification_type
        )
    )
    return sent is None or utcnow() - sent >= timedelta(hours=hours)
