"""Creating a key: the client on the cluster's panel, then its ``keys`` row."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from database import store_key
from panels import ClientSpec

from .cluster_panel import panel_for_cluster

_GB = 1024**3


async def create_key_on_cluster(
    cluster_id: str,
    tg_id: int,
    client_id: str,
    email: str,
    expiry_timestamp: int,
    plan: int | None = None,
    session: AsyncSession | None = None,
    remnawave_link: str | None = None,
    hwid_limit: int | None = None,
    traffic_limit_bytes: int | None = None,
    is_trial: bool = False,
    selected_device_limit: int | None = None,
    selected_traffic_limit_gb: int | None = None,
    current_device_limit: int | None = None,
    current_traffic_limit_gb: int | None = None,
    selected_price_rub: int | None = None,
) -> None:
    """Create client ``client_id``/``email`` expiring at ``expiry_timestamp`` (ms) on the panel of
    ``cluster_id`` and store the key with tariff ``plan``; commits. Raises ``panels.PanelError``
    when the panel refuses (nothing is stored then) and ``ValueError`` for an unknown cluster.
    ``is_trial`` is accepted for upstream callers; the trial flag itself is the caller's business."""
    if session is None:
        raise ValueError("create_key_on_cluster needs the session to store the key")
    target = await panel_for_cluster(session, cluster_id)
    traffic_gb = traffic_limit_bytes // _GB if traffic_limit_bytes else None
    spec = ClientSpec(
        client_id=client_id,
        email=email,
        tg_id=tg_id,
        expiry_ms=expiry_timestamp,
        device_limit=hwid_limit or None,
        traffic_limit_gb=traffic_gb or None,
    )
    link = await target.panel.create_client(spec)
    await store_key(
        session,
        tg_id,
        client_id,
        email,
        expiry_timestamp,
        link,
        target.server_id,
        remnawave_link=remnawave_link,
        tariff_id=plan,
        selected_device_limit=selected_device_limit,
        selected_traffic_limit=selected_traffic_limit_gb,
        selected_price_rub=selected_price_rub,
        current_device_limit=current_device_limit if current_device_limit is not None else hwid_limit or None,
        current_traffic_limit=current_traffic_limit_gb if current_traffic_limit_gb is not None else traffic_gb,
    )
