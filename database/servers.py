"""VPN servers (upstream ``database.servers``), grouped by cluster."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Server


def server_dict(server: Server) -> dict[str, Any]:
    """The shape upstream's ``get_servers`` gives each server (``server_id`` is the row id)."""
    return {
        "server_id": server.id,
        "server_name": server.server_name,
        "cluster_name": server.cluster_name,
        "api_url": server.api_url,
        "subscription_url": server.subscription_url,
        "inbound_id": server.inbound_id,
        "panel_type": server.panel_type,
        "enabled": server.enabled,
        "max_keys": server.max_keys,
        "tariff_group": server.tariff_group,
        # Upstream's server subgroup tables are not part of this core; keep the keys modules read.
        "tariff_subgroups": [],
        "tariff_ids": [],
        "special_groups": [],
    }


async def get_servers(session: AsyncSession, include_enabled: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Cluster name → its servers. Disabled servers are left out unless ``include_enabled``
    (upstream's name for "include disabled ones too")."""
    query = select(Server).order_by(Server.cluster_name, Server.id)
    if not include_enabled:
        query = query.where(Server.enabled.is_not(False))
    clusters: dict[str, list[dict[str, Any]]] = {}
    for server in await session.scalars(query):
        clusters.setdefault(server.cluster_name or "", []).append(server_dict(server))
    return clusters


async def get_server_by_name(session: AsyncSession, server_name: str) -> dict[str, Any] | None:
    server = await session.scalar(select(Server).where(Server.server_name == server_name))
    return None if server is None else server_dict(server)


async def create_server(
    session: AsyncSession,
    cluster_name: str,
    server_name: str,
    api_url: str,
    subscription_url: str | None = None,
    inbound_id: str | None = None,
    **columns: Any,
) -> int:
    """Insert a server and commit; returns its id. ``columns``: any other ``servers`` column."""
    server = Server(
        cluster_name=cluster_name,
        server_name=server_name,
        api_url=api_url,
        subscription_url=subscription_url,
        inbound_id=inbound_id,
        **columns,
    )
    session.add(server)
    await session.commit()
    return server.id
