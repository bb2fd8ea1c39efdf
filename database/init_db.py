"""``init_db``: create the core tables (and any module tables registered on ``Base``), seed defaults.

Upstream calls ``Base.metadata.create_all`` here; module models imported before the call get
their tables too. ``create_all`` only creates what is missing, so calling this at every start is
safe. It creates no *columns* in tables that exist, so a database from an older upstream release
(or from before a column was added here, such as the coupons' percent and limits) would make every
query of that table fail: ``add_missing_columns`` adds them (``ALTER TABLE ... ADD COLUMN``, with
the model's server default; existing rows get it or NULL) and says in the log which it added and
which it could not. The seed rows exist because the core needs at least one tariff and one server to issue a
trial key on a fresh install; an operator edits or replaces them. The seeded server is served by
the local stand-in panel (``panel_type = "local"``): real panels (3x-ui, Remnawave) are the
operator's servers with their credentials, never a guessed address.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.schema import CreateColumn

from . import db, worker_tables  # noqa: F401  (the workers' tables are core tables too)
from .models import Base, Server, Tariff

log = logging.getLogger("solobot.database")

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
    async with engine.begin() as conn:
        await conn.run_sync(add_missing_columns)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await _seed_defaults(session)
        await session.commit()


def add_missing_columns(conn: Connection) -> list[str]:
    """Add the model's columns an existing core table lacks; the ``table.column`` names added.

    Each column in its own savepoint: one that cannot be added (NOT NULL without a server default in
    a table with rows, a primary key) is logged with what to do, and the others are still added.
    Foreign keys of an added column are not created (the column is, so queries work).
    """
    inspector = inspect(conn)
    added: list[str] = []
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name, schema=table.schema):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name in present:
                continue
            name = f"{table.name}.{column.name}"
            if column.primary_key:
                log.error("[database] %s is missing and is part of the primary key: add it by hand", name)
                continue
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            quoted = conn.dialect.identifier_preparer.format_table(table)
            try:
                with conn.begin_nested():
                    conn.execute(text(f"ALTER TABLE {quoted} ADD COLUMN IF NOT EXISTS {ddl}"))
            except SQLAlchemyError as exc:
                log.error("[database] %s is missing and could not be added (%s): add it by hand", name, str(exc).splitlines()[0])
                continue
            added.append(name)
    if added:
        log.warning("[database] added columns the existing tables lacked: %s", ", ".join(added))
    return added


async def _seed_defaults(session: AsyncSession) -> None:
    if not await session.scalar(select(func.count()).select_from(Tariff)):
        session.add(Tariff(**DEFAULT_TARIFF))
    if not await session.scalar(select(func.count()).select_from(Server)):
        session.add(Server(**DEFAULT_SERVER))
