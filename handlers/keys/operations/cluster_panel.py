"""Which panel serves a cluster, and under which name a key on it is stored."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from database import get_servers
from panels import VpnPanel, get_panel


@dataclass(frozen=True, slots=True)
class ClusterPanel:
    panel: VpnPanel
    #: what ``keys.server_id`` holds: the cluster name, or a server's name when a server was named.
    server_id: str


async def panel_for_cluster(session: AsyncSession, cluster_id: str) -> ClusterPanel:
    """The panel of ``cluster_id`` (a cluster, or one server's name); raises ``ValueError`` when
    servers exist but none is called that, or all of them are disabled."""
    clusters = await get_servers(session, include_enabled=True)
    if not clusters:
        return ClusterPanel(get_panel(), cluster_id)  # no servers configured: the default panel
    servers, server_id = clusters.get(cluster_id), cluster_id
    if servers is None:
        servers = [s for group in clusters.values() for s in group if (s.get("server_name") or "").lower() == cluster_id.lower()]
        if not servers:
            raise ValueError(f"Кластер или сервер {cluster_id!r} не найден.")
        server_id = servers[0]["server_name"]
    enabled = [s for s in servers if s.get("enabled", True)]
    if not enabled:
        raise ValueError(f"В кластере {cluster_id!r} нет включённых серверов.")
    # The panel type of the first enabled server serves the cluster; the panel gets every enabled
    # server of that type (3x-ui: one client per server; Remnawave: one user in all their squads).
    panel_type = enabled[0].get("panel_type")
    same_type = [s for s in enabled if (s.get("panel_type") or "") == (panel_type or "")]
    return ClusterPanel(get_panel(panel_type, same_type), server_id)
