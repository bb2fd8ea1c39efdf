"""Where a new key goes: key names, the least loaded cluster, server key limits (upstream's
``handlers.utils`` helpers for key creation)."""

from __future__ import annotations

import secrets
import string
from typing import Any

from aiogram.exceptions import TelegramAPIError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_servers
from database.models import Key, Notification, Server
from logger import logger

#: The cluster name keys get when no server is configured: the core's default panel serves them.
DEFAULT_CLUSTER = "local"
#: Tariff groups that are never offered as "the cluster's tariffs" (upstream's list).
ALLOWED_GROUP_CODES = ["trial", "discounts", "discounts_max", "gifts"]
_EMAIL_ALPHABET = string.ascii_lowercase + string.digits
_WARN_SHARE = 0.9


async def generate_random_email(length: int = 8, session: AsyncSession | None = None, max_attempts: int = 20) -> str:
    """A random key name (``email`` column) of ``length`` characters, unused when ``session`` is given."""
    for _ in range(max_attempts):
        candidate = "".join(secrets.choice(_EMAIL_ALPHABET) for _ in range(length))
        if session is None or await session.scalar(select(Key.email).where(Key.email == candidate).limit(1)) is None:
            return candidate
    raise RuntimeError("Не удалось сгенерировать уникальный email после нескольких попыток")


async def get_least_loaded_cluster(session: AsyncSession) -> str:
    """The enabled cluster with the fewest keys among those with room left (``cluster_balancer``
    hook results narrow the choice, as upstream). With no servers configured at all, the core's
    default panel (:data:`DEFAULT_CLUSTER`). Raises ``ValueError`` (a user-facing text) when every
    server is full or disabled."""
    from hooks.processors import process_cluster_balancer

    clusters = await get_servers(session, include_enabled=True)
    if not clusters:
        return DEFAULT_CLUSTER
    counts = await session.execute(select(Key.server_id, func.count()).group_by(Key.server_id))
    loads: dict[str | None, int] = {server_id: count for server_id, count in counts}
    available: dict[str, int] = {}
    for cluster, servers in clusters.items():
        enabled = [s for s in servers if s.get("enabled", True)]
        if enabled and any([await check_server_key_limit(s, session) for s in enabled]):
            available[cluster] = loads.get(cluster, 0) + sum(loads.get(s["server_name"], 0) for s in servers)
    balanced = await process_cluster_balancer(available_clusters=available, session=session)
    if balanced:
        available = balanced
    if not available:
        logger.warning("[clusters] no cluster has room for a new key")
        raise ValueError("⚠️ Сервисы временно недоступны. Попробуйте позже.")
    return min(available, key=lambda name: (available[name], name))


async def check_server_key_limit(server_info: dict[str, Any], session: AsyncSession) -> bool:
    """Whether the server (its cluster's keys count) is below ``max_keys``; at 90 % the admins are
    told once (a ``notifications`` row with ``tg_id`` 0 remembers it)."""
    max_keys = server_info.get("max_keys")
    if not max_keys:
        return True
    server_name = server_info.get("server_name")
    identifier = server_info.get("cluster_name") or server_name
    total = int(await session.scalar(select(func.count()).select_from(Key).where(Key.server_id == identifier)) or 0)
    if total >= max_keys:
        logger.warning("[clusters] server %s is full: %s/%s keys", server_name, total, max_keys)
        return False
    if total / max_keys >= _WARN_SHARE:
        await _warn_admins_once(session, str(server_name), total / max_keys)
    return True


async def _warn_admins_once(session: AsyncSession, server_name: str, share: float) -> None:
    marker = f"server_warn_{server_name}"
    seen = await session.scalar(
        select(Notification.tg_id).where(Notification.tg_id == 0, Notification.notification_type == marker)
    )
    if seen is not None:
        return
    import config
    from bot import current_bot

    for admin_id in config.ADMIN_ID:
        try:
            await current_bot().send_message(
                admin_id, f"⚠️ Сервер <b>{server_name}</b> почти заполнен ({int(share * 100)}%).\nДобавьте новый сервер."
            )
        except (TelegramAPIError, RuntimeError) as e:
            logger.debug("[clusters] could not warn admin %s: %s", admin_id, e)
    session.add(Notification(tg_id=0, notification_type=marker))
    await session.commit()


async def is_full_remnawave_cluster(cluster_id: str, session: AsyncSession) -> bool:
    """Whether every server of the cluster (or the server of that name) is a Remnawave panel."""
    types = list(await session.scalars(select(Server.panel_type).where(Server.cluster_name == cluster_id)))
    if not types:
        types = list(await session.scalars(select(Server.panel_type).where(Server.server_name == cluster_id)))
    return bool(types) and all((t or "").lower() == "remnawave" for t in types)


async def handle_error(tg_id: int, callback_query: object | None = None, message: str = "") -> None:
    """Tell the user ``message`` in a new plain-text message, deleting the callback's message first."""
    from bot import current_bot

    try:
        bot = current_bot()
        old = getattr(callback_query, "message", None)
        if old is not None:
            try:
                await bot.delete_message(chat_id=tg_id, message_id=old.message_id)
            except TelegramAPIError as e:
                logger.debug("[handle_error] could not delete the message: %s", e)
        await bot.send_message(tg_id, message, parse_mode=None)
    except (TelegramAPIError, RuntimeError) as e:
        logger.error("[handle_error] could not tell %s: %s", tg_id, e)
