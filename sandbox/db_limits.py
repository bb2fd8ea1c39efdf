"""Database limits the host enforces on module sessions, whatever the module sets for itself.

A module's role starts every session with ``statement_timeout`` and
``idle_in_transaction_session_timeout`` (``db_roles``), but both are settings any session may
change (``SET statement_timeout = 0``). So the host looks at ``pg_stat_activity`` once a second
and terminates a module's backend whose statement has run longer than the module's
``db_statement_seconds``, or that has sat idle in a transaction (holding its locks, e.g. on rows
of the core's tables it may write) longer than ``db_idle_seconds``. Each termination is logged
with the module's name; the module sees its connection closed, as with the server's own timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("solobot.runtime")

INTERVAL = 1.0  # seconds between looks at pg_stat_activity
SLACK = 1.0  # seconds past a limit before the host steps in (the server's own timeout usually acts first)

Limits = Mapping[str, tuple[str, float, float]]  # role → (module, statement seconds, idle seconds)


class DatabaseReaper:
    def __init__(self, engine: AsyncEngine, limits: Callable[[], Limits], interval: float = INTERVAL) -> None:
        self.engine = engine
        self.limits = limits
        self.interval = interval

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception as exc:  # the database restarting, say: try again next time
                log.warning("database limits: could not look at module sessions: %s", exc)

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
