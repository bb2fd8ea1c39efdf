"""Tariffs (upstream ``database.tariffs``), returned as dicts."""

from __future__ import annotations

import hashlib
from typing import Any, Literal, overload

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Server, Tariff


@overload
async def get_tariffs(
    session: AsyncSession,
    tariff_id: int | None = None,
    group_code: str | None = None,
    with_subgroup_weights: Literal[False] = False,
) -> list[dict[str, Any]]: ...


@overload
async def get_tariffs(
    session: AsyncSession, tariff_id: int | None = None, group_code: str | None = None, *, with_subgroup_weights: Literal[True]
) -> dict[str, Any]: ...


async def get_tariffs(
    session: AsyncSession,
    tariff_id: int | None = None,
    group_code: str | None = None,
    with_subgroup_weights: bool = False,
) -> list[dict[str, Any]] | dict[str, Any]:
    """Tariffs in display order (``sort_order``, then id), optionally one id or one group.

    With ``with_subgroup_weights`` and a ``group_code`` (upstream's purchase screen) the result is
    ``{"tariffs": [...], "subgroup_weights": {subgroup_title: sum of its tariffs' sort_order}}``,
    the weights ordering the subgroup buttons.
    """
    query = select(Tariff)
    if tariff_id is not None:
        query = query.where(Tariff.id == tariff_id)
    if group_code is not None:
        query = query.where(Tariff.group_code == group_code)
    result = await session.scalars(query.order_by(Tariff.sort_order.asc().nulls_last(), Tariff.id))
    tariffs = [t.to_dict() for t in result]
    if not (with_subgroup_weights and group_code):
        return tariffs
    weights: dict[str, int] = {}
    for tariff in tariffs:
        if tariff.get("subgroup_title"):
            title = tariff["subgroup_title"]
            weights[title] = weights.get(title, 0) + int(tariff.get("sort_order") or 1)
    return {"tariffs": tariffs, "subgroup_weights": weights}


async def get_tariff_by_id(session: AsyncSession, tariff_id: int) -> dict[str, Any] | None:
    tariff = await session.get(Tariff, tariff_id)
    return None if tariff is None else tariff.to_dict()


async def create_tariff(session: AsyncSession, data: dict[str, Any]) -> dict[str, Any]:
    """Insert a tariff from column values and commit; returns it as a dict."""
    tariff = Tariff(**data)
    session.add(tariff)
    await session.commit()
    return tariff.to_dict()


def create_subgroup_hash(subgroup_title: str, group_code: str) -> str:
    """A short stable id for a subgroup in callback data (upstream's: md5 of ``title:group``)."""
    if not subgroup_title:
        return ""
    return hashlib.md5(f"{subgroup_title}:{group_code}".encode(), usedforsecurity=False).hexdigest()[:8]


async def find_subgroup_by_hash(session: AsyncSession, subgroup_hash: str, group_code: str) -> str | None:
    """The subgroup title of ``group_code`` whose :func:`create_subgroup_hash` is ``subgroup_hash``."""
    titles = await session.scalars(
        select(Tariff.subgroup_title).where(Tariff.group_code == group_code, Tariff.subgroup_title.is_not(None)).distinct()
    )
    return next((t for t in titles if t and create_subgroup_hash(t, group_code) == subgroup_hash), None)


async def get_tariffs_for_cluster(session: AsyncSession, cluster_name: str) -> list[dict[str, Any]]:
    """Active tariffs of the tariff group of the cluster's servers (or of the server of that
    name); empty when it has none."""
    group = await session.scalar(select(Server.tariff_group).where(Server.cluster_name == cluster_name).limit(1))
    if group is None:
        group = await session.scalar(select(Server.tariff_group).where(Server.server_name == cluster_name).limit(1))
    if not group:
        return []
    query = select(Tariff).where(Tariff.group_code == group, Tariff.is_active.is_(True))
    return [t.to_dict() for t in await session.scalars(query.order_by(Tariff.sort_order.asc().nulls_last(), Tariff.id))]
