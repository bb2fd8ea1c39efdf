"""Deleting a key's client from its cluster's panel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from .cluster_panel import panel_for_cluster


async def delete_key_from_cluster(cluster_id: str, email: str, client_id: str, session: AsyncSession) -> None:
    """Remove the client from the panel of ``cluster_id`` (the ``keys`` row is the caller's, as
    upstream: ``database.delete_key``). ``panels.PanelError`` when the panel refuses."""
    target = await panel_for_cluster(session, cluster_id)
    await target.panel.delete(client_id, email)
