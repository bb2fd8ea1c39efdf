"""Renewing a key on its cluster's panel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from database import get_key_details
from logger import logger
from panels import ClientSpec

from .cluster_panel import panel_for_cluster


async def renew_key_in_cluster(
    cluster_id: str,
    email: str,
    client_id: str,
    new_expiry_time: int,
    total_gb: int,
    session: AsyncSession,
    hwid_device_limit: int = 0,
    reset_traffic: bool = True,
    target_subgroup: str | None = None,
    old_subgroup: str | None = None,
    plan: int | None = None,
) -> bool:
    """Move key ``email``/``client_id``'s expiry on the panel to ``new_expiry_time`` (ms) with the
    given limits (0: unlimited). False when no such key exists; ``panels.PanelError`` when the
    panel refuses. The ``keys`` row is not touched: callers store the new expiry
    (``update_key_expiry``) once this succeeded, as upstream's do. Subgroups are upstream's
    (server subsets per tariff) and are accepted but not used here."""
    details = await get_key_details(session, email)
    if details is None or details.get("client_id") != client_id:
        logger.error("[renew] no key %s with client id %s", email, client_id)
        return False
    target = await panel_for_cluster(session, cluster_id or details.get("server_id") or "")
    spec = ClientSpec(
        client_id=client_id,
        email=email,
        tg_id=int(details["tg_id"]),
        expiry_ms=new_expiry_time,
        device_limit=hwid_device_limit or None,
        traffic_limit_gb=total_gb or None,
    )
    await target.panel.extend(spec)
    return True
