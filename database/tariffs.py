"""Tariffs (upstream ``database.tariffs``), returned as dicts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Tariff


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
