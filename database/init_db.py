"""``init_db``: create the core tables (and any module tables registered on ``Base``), seed defaults.

Upstream calls ``Base.metadata.create_all`` here; module models imported before the call get
their tables too. ``create_all`` only creates what is missing, so calling this at every start is
safe. The seed rows exist because the core needs at least one tariff and one server to issue a
trial key on a fresh install; an operator edits or replaces them. The seeded server is served by
the local stand-in panel (``panel_type = "local"``): real panels (3x-ui, Remnawave) are the
operator's servers with their credentials, never a guessed address.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from . import db, worker_tables  # noqa: F401  (the workers' tables are core tables too)
from .models import Base, Server, Tariff

CREATE_ATTEMPTS = 3
DEFAULT_TARIFF = {
    "name": "1 месяц",
    "group_code": "standard",
    "duration_days": 30,
    "price_rub": 150,
    "is_active": True,
    "sort_order": 1,
}
DEFAULT_SERVER = {
    "cluster_name": "local",
    "server_name": "local-1",
    "api_url": "http://127.0.0.1:2053",
    "subscription_url": "http://127.0.0.1:2096/sub",
    "inbound_id": "1",
    "panel_type": "local",
    "max_keys": 1000,
    "tariff_group": "standard",
    "enabled": True,
}


async def init_db(engine: AsyncEngine | None = None) -> None:
    """Create missing tables on ``engine`` (default: the bound one) and seed an empty install."""
    engine = engine or db.get_engine()
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            break
        except IntegrityError:
            # Another process (a bot worker) created the same table at the same moment: PostgreSQL
            # refuses the second CREATE TABLE with a duplicate pg_type row. Its tables exist now.
            if attempt == CREATE_ATTEMPTS:
                raise
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await _seed_defaults(session)
        await session.commit()


async def _seed_defaults(session: AsyncSession) -> None:
    if not await session.scalar(select(func.count()).select_from(Tariff)):
        session.add(Tariff(**DEFAULT_TARIFF))
    if not await session.scalar(select(func.count()).select_from(Server)):
        session.add(Server(**DEFAULT_SERVER))
