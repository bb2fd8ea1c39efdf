"""Database limits the host enforces on module sessions, whatever the module sets for itself.

A module's role starts every session with ``statement_timeout`` and
``idle_in_transaction_session_timeout`` (``db_roles``), but both are settings any session may
change (``SET statement_timeout = 0``). So the host looks at ``pg_stat_activity`` once a second
and terminates a module's backend whose statement has run longer than the module's
``db_statement_seconds``, or that has sat idle in a transaction (holding its locks, e.g. on rows
of the core's tables it may write) longer than ``db_idle_seconds``. Each termination is logged
with the module's name; the module sees its connection closed, as with the server's own timeout.

Every ``SIZE_EVERY`` sweeps it also measures what each module keeps in the database — the
relations of its schema (``pg_total_relation_size``: tables with their indexes and TOAST) and the
large objects its role owns — and hands the bytes to ``on_sizes`` (the resource watchdog adds
them to the module's ``disk_mb``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("solobot.runtime")

INTERVAL = 1.0  # seconds between looks at pg_stat_activity
SLACK = 1.0  # seconds past a limit before the host steps in (the server's own timeout usually acts first)
SIZE_EVERY = 5  # sweeps between measurements of the modules' schemas and large objects

# A module's schema is named as its role (db_roles). pg_largeobject is readable by superusers only:
# an owner that is no superuser counts the schema alone (SCHEMA_SIZES).
SIZES = text(
    "SELECT r.rolname, "
    "coalesce((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "          WHERE n.nspname = r.rolname AND c.relkind IN ('r', 'm')), 0)::bigint, "
    "coalesce((SELECT sum(octet_length(lo.data)) FROM pg_largeobject lo "
    "          JOIN pg_largeobject_metadata m ON m.oid = lo.loid WHERE m.lomowner = r.oid), 0)::bigint "
    "FROM pg_roles r WHERE r.rolname = ANY(:roles)"
)
SCHEMA_SIZES = text(
    "SELECT r.rolname, "
    "coalesce((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "          WHERE n.nspname = r.rolname AND c.relkind IN ('r', 'm')), 0)::bigint, 0::bigint "
    "FROM pg_roles r WHERE r.rolname = ANY(:roles)"
)

Limits = Mapping[str, tuple[str, float, float]]  # role → (module, statement seconds, idle seconds)


class DatabaseReaper:
    def __init__(
        self,
        engine: AsyncEngine,
        limits: Callable[[], Limits],
        interval: float = INTERVAL,
        on_sizes: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.interval = interval
        self.on_sizes = on_sizes  # module → bytes in its schema and large objects
        self._large_objects_readable = True

    async def run(self) -> None:
        sweeps = 0
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
                if self.on_sizes is not None and sweeps % SIZE_EVERY == 0:
                    self.on_sizes(await self.sizes())
            except Exception as exc:  # the database restarting, say: try again next time
                log.warning("database limits: could not look at module sessions: %s", exc)
            sweeps += 1

    async def sizes(self) -> dict[str, int]:
        """Bytes each module keeps in the database: its schema's relations plus its large objects."""
        limits = dict(self.limits())
        if not limits:
            return {}
        async with self.engine.connect() as conn:
            try:
                async with conn.begin_nested():
                    query = SIZES if self._large_objects_readable else SCHEMA_SIZES
                    rows = (await conn.execute(query, {"roles": list(limits)})).all()
            except DBAPIError as exc:
                if not self._large_objects_readable:
                    raise
                self._large_objects_readable = False
                log.warning("database limits: large objects not counted in disk_mb (the owner cannot read them: %s)", exc.orig)
                rows = (await conn.execute(SCHEMA_SIZES, {"roles": list(limits)})).all()
            await conn.rollback()
        return {limits[role][0]: int(schema) + int(large) for role, schema, large in rows}

    async def sweep(self) -> list[tuple[str, int, str]]:
        """Terminate module sessions over their limits; return (module, pid, why) for each."""
        limits = dict(self.limits())
        if not limits:
            return []
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT pid, usename, state, "
                        "extract(epoch FROM now() - query_start), extract(epoch FROM now() - state_change) "
                        "FROM pg_stat_activity WHERE usename = ANY(:roles) AND pid <> pg_backend_pid()"
                    ),
                    {"roles": list(limits)},
                )
            ).all()
            ended = []
            for pid, role, state, running, idle in rows:
                module, statement_limit, idle_limit = limits[role]
                why = None
                if state == "active" and running is not None and float(running) > statement_limit + SLACK:
                    why = f"a statement ran {float(running):.0f} s (db_statement_seconds = {statement_limit:g})"
                elif state and state.startswith("idle in transaction") and idle is not None and float(idle) > idle_limit + SLACK:
                    why = f"idle in a transaction for {float(idle):.0f} s (db_idle_seconds = {idle_limit:g})"
                if why is None:
                    continue
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                log.warning("[module %s] database session %d terminated: %s", module, pid, why)
                ended.append((module, pid, why))
            await conn.commit()
        return ended
