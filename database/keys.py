"""Subscription keys (upstream ``database.keys``); times are ms since the epoch as upstream stores them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Key, User

_MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


def now_ms() -> int:
    return int(time.time() * 1000)


def format_expiry_date(expiry_ms: int) -> str:
    """``5 января 2026 года 14:30`` (UTC); month names spelled out, independent of the locale."""
    moment = datetime.fromtimestamp(expiry_ms / 1000, UTC)
    return f"{moment.day} {_MONTHS_GENITIVE[moment.month - 1]} {moment.year} года {moment:%H:%M}"


def days_left_message(expiry_ms: int, now: int | None = None) -> str:
    """The profile's "time left" line (HTML), as upstream words it."""
    left_ms = expiry_ms - (now_ms() if now is None else now)
    if left_ms <= 0:
        return "<b>Ключ истек.</b>"
    days = left_ms // 86_400_000
    if days > 0:
        return f"Осталось дней: <b>{days}</b>"
    return f"Осталось часов: <b>{left_ms // 3_600_000}</b>"


async def store_key(
    session: AsyncSession,
    tg_id: int,
    client_id: str,
    email: str,
    expiry_time: int,
    key: str,
    server_id: str,
    remnawave_link: str | None = None,
    tariff_id: int | None = None,
    alias: str | None = None,
    selected_device_limit: int | None = None,
    selected_traffic_limit: int | None = None,
    selected_price_rub: int | None = None,
    current_device_limit: int | None = None,
    current_traffic_limit: int | None = None,
) -> None:
    """Create the key, or update it when this user already has ``client_id``; commits.

    Limits passed as None keep their stored values on update; on create the current limits
    default to the selected ones.
    """
    existing = await session.scalar(select(Key).where(Key.tg_id == tg_id, Key.client_id == client_id))
    limits = {
        "selected_device_limit": selected_device_limit,
        "selected_traffic_limit": selected_traffic_limit,
        "selected_price_rub": selected_price_rub,
        "current_device_limit": current_device_limit,
        "current_traffic_limit": current_traffic_limit,
    }
    values: dict[str, Any] = {
        "email": email,
        "expiry_time": expiry_time,
        "key": key,
        "server_id": server_id,
        "remnawave_link": remnawave_link,
        "tariff_id": tariff_id,
        "alias": alias,
    }
    if existing is not None:
        values.update({name: value for name, value in limits.items() if value is not None})
        for name, value in values.items():
            setattr(existing, name, value)
    else:
        limits["current_device_limit"] = current_device_limit if current_device_limit is not None else selected_device_limit
        limits["current_traffic_limit"] = current_traffic_limit if current_traffic_limit is not None else selected_traffic_limit
        session.add(Key(tg_id=tg_id, client_id=client_id, created_at=now_ms(), **values, **limits))
    await session.commit()


async def get_keys(session: AsyncSession, tg_id: int) -> list[Key]:
    """The user's keys, oldest first."""
    result = await session.scalars(select(Key).where(Key.tg_id == tg_id).order_by(Key.created_at, Key.client_id))
    return list(result)


async def get_key_by_email(session: AsyncSession, email: str) -> Key | None:
    return await session.scalar(select(Key).where(Key.email == email))


async def get_client_id_by_email(session: AsyncSession, email: str) -> str | None:
    return await session.scalar(select(Key.client_id).where(Key.email == email))


async def get_key_count(session: AsyncSession, tg_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(Key).where(Key.tg_id == tg_id)) or 0)


async def get_key_details(session: AsyncSession, email: str) -> dict[str, Any] | None:
    """Everything the key card shows: the key's columns, its owner's ``tg_id`` and ``balance``,
    ``expiry_date`` (formatted), ``days_left_message`` and ``link`` (the key or its Remnawave link)."""
    row = (await session.execute(select(Key, User.balance).join(User, Key.tg_id == User.tg_id).where(Key.email == email))).first()
    if row is None:
        return None
    key, balance = row
    expiry = key.expiry_time or 0
    details = key.to_dict()
    details.update(
        balance=float(balance or 0.0),
        expiry_date=format_expiry_date(expiry),
        days_left_message=days_left_message(expiry),
        link=key.key or key.remnawave_link,
        cluster_name=key.server_id,
        location_name=key.server_id,
    )
    return details


async def update_key_expiry(session: AsyncSession, client_id: str, new_expiry_time: int) -> None:
    """Set the expiry (ms) and clear the "about to expire" flags so the user is warned again; commits."""
    await session.execute(
        update(Key).where(Key.client_id == client_id).values(expiry_time=new_expiry_time, notified=False, notified_24h=False)
    )
    await session.commit()


async def update_key_notified(session: AsyncSession, tg_id: int, client_id: str) -> None:
    """Mark the user's key as warned about its expiry; commits."""
    await session.execute(update(Key).where(Key.tg_id == tg_id, Key.client_id == client_id).values(notified=True))
    await session.commit()


async def delete_key(session: AsyncSession, identifier: int | str, commit: bool = True) -> int:
    """Delete by ``client_id`` (a string), or every key of a user (an int or all-digit string, as upstream).

    Returns the number of rows deleted.
    """
    by_user = isinstance(identifier, int) or str(identifier).isdigit()
    condition = Key.tg_id == int(identifier) if by_user else Key.client_id == identifier
    result = cast("CursorResult[Any]", await session.execute(delete(Key).where(condition)))  # a DELETE's result
    if commit:
        await session.commit()
    return int(result.rowcount or 0)


NON_FROZEN_BATCH = 2_000


async def get_non_frozen_keys(session: AsyncSession) -> list[Key]:
    """Every key that is not frozen, for the notifications loop (one indexed query).

    Rows are streamed in batches and the event loop gets a turn between batches: building
    100 000 ORM objects in one go would stall the process for seconds (a module process would
    miss its heartbeat and be restarted mid-cycle).
    """
    query = select(Key).where(Key.is_frozen.is_not(True)).order_by(Key.tg_id).execution_options(yield_per=NON_FROZEN_BATCH)
    keys: list[Key] = []
    result = await session.stream_scalars(query)
    async for batch in result.partitions():
        keys.extend(batch)
        await asyncio.sleep(0)
    return keys


async def get_non_frozen_key_rows(session: AsyncSession) -> list[dict[str, Any]]:
    """As :func:`get_non_frozen_keys` but plain dicts (no ORM objects): several times faster for
    100 000 keys and ready to cross a process boundary."""
    result = await session.execute(select(Key.__table__).where(Key.is_frozen.is_not(True)).order_by(Key.tg_id))
    return [dict(row) for row in result.mappings()]
