"""Module operations reach every worker: recorded in PostgreSQL, announced with NOTIFY.

``ModuleRuntime.operate`` (the control socket, the admin panel, the web chat) runs the operation
on the worker the operator reached, then :meth:`OperationsJournal.record` writes it to
``solobot_module_operations`` — one row per module: the state the operator wants (stopped or
running), the last operation and a generation that grows by one per operation — and sends
``NOTIFY solobot_module_operations``. Every worker listens (:class:`OperationsListener`, its own
asyncpg connection) and applies each generation it has not applied yet to its own runtime.

The notification carries nothing the workers trust: any database role can ``NOTIFY`` any
channel (a module's included), so a notification only means "read the table again", and the
table is written by the core's owner role only. A burst of notifications costs one read.

A module removed from the modules folder (the catalog's remove, or a failed fresh install rolled
back: ``ModuleRuntime.forget``) is recorded the same way, as operation ``remove``
(:meth:`OperationsJournal.record_removal`): the other workers drop it too instead of keeping a
process of code that is gone. It is not an ``Operation`` — no operator screen offers it.

Notifications sent while a listener's connection is down are lost, so after every (re)connect
the listener reads the whole table and applies what it missed. At start the table says which
modules the operator stopped (the truth with several workers: ``MODULES_STATE_FILE`` is per
machine and only used by a single bot); the first worker on an empty table imports that file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.operations import Operation

log = logging.getLogger("solobot.workers")

CHANNEL = "solobot_module_operations"
APPLICATION_NAME = "solobot-operations-listener"  # pg_stat_activity shows what the connection is for
RECONNECT_PAUSES = (0.5, 1.0, 2.0, 5.0)  # seconds between reconnection attempts, the last one repeating

_RECORD = text(
    "INSERT INTO solobot_module_operations (module, enabled, operation, generation, requested_by, requested_at) "
    "VALUES (:module, :enabled, :operation, 1, :me, now()) "
    "ON CONFLICT (module) DO UPDATE SET enabled = EXCLUDED.enabled, operation = EXCLUDED.operation, "
    "generation = solobot_module_operations.generation + 1, requested_by = EXCLUDED.requested_by, requested_at = now() "
    "RETURNING generation"
)
_READ = text("SELECT module, enabled, operation, generation, requested_by FROM solobot_module_operations")


REMOVED = "remove"  # the ``operation`` of a module removed from the folder (not an operator ``Operation``)


@dataclass(frozen=True)
class OperationRow:
    module: str
    enabled: bool
    operation: Operation  # STOP for a removed module (what it leaves wanted)
    generation: int
    requested_by: str
    removed: bool = False  # the module was removed from the modules folder: forget it


class OperationsJournal:
    """The table and the channel, for one worker instance (``requested_by``)."""

    def __init__(self, engine: AsyncEngine, instance: str) -> None:
        self.engine = engine
        self.instance = instance

    async def record(self, module: str, operation: Operation) -> int:
        """Write the operation (and the wanted state it leaves) and tell every worker; the new generation."""
        return await self._write(module, operation.value, enabled=operation is not Operation.STOP)

    async def record_removal(self, module: str) -> int:
        """Write that ``module`` was removed from the modules folder and tell every worker; the new generation."""
        return await self._write(module, REMOVED, enabled=False)

    async def _write(self, module: str, operation: str, *, enabled: bool) -> int:
        async with self.engine.begin() as conn:
            generation = int(
                await conn.scalar(_RECORD, {"module": module, "enabled": enabled, "operation": operation, "me": self.instance})
            )
            await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
        log.info("[workers] %s: %s %s recorded for every worker (generation %d)", self.instance, operation, module, generation)
        return generation

    async def read(self) -> list[OperationRow]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_READ)).all()
        return [_row(r.module, r.enabled, r.operation, int(r.generation), r.requested_by) for r in rows]

    async def stopped_modules(self, imported_from_file: set[str]) -> set[str]:
        """The modules the operator stopped; an empty table first takes ``imported_from_file`` (the single bot's file)."""
        rows = await self.read()
        if not rows and imported_from_file:
            async with self.engine.begin() as conn:
                for module in sorted(imported_from_file):
                    await conn.execute(
                        text(
                            "INSERT INTO solobot_module_operations (module, enabled, operation, generation, requested_by) "
                            "VALUES (:module, false, 'stop', 1, :me) ON CONFLICT (module) DO NOTHING"
                        ),
                        {"module": module, "me": self.instance},
                    )
            log.info("[workers] stopped modules imported from the state file: %s", ", ".join(sorted(imported_from_file)))
            rows = await self.read()
        return {row.module for row in rows if not row.enabled}


def _row(module: str, enabled: bool, operation: str, generation: int, requested_by: str) -> OperationRow:
    if operation == REMOVED:
        return OperationRow(module, False, Operation.STOP, generation, requested_by, removed=True)
    return OperationRow(module, enabled, Operation(operation), generation, requested_by)


Apply = Callable[[OperationRow], Awaitable[Any]]


class OperationsListener:
    """Applies every operation recorded by other workers to this one (``apply``), each generation once.

    ``known``: the generations this worker already reflects (read at start, before its modules
    started from the table's wanted state): history is not replayed.
    """

    def __init__(self, journal: OperationsJournal, database_url: str, apply: Apply, known: dict[str, int]) -> None:
        self.journal = journal
        self.dsn = asyncpg_dsn(database_url)
        self.apply = apply
        self.applied = dict(known)
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()

    async def run(self) -> None:
        """Listen (reconnecting), and apply what the table holds after each connect and notification."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._listen)
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    await self._catch_up()
                except Exception as exc:  # the database is away: the next (re)connect reads again
                    log.warning("[workers] %s: cannot read module operations: %s", self.journal.instance, exc)

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                connection = await asyncpg.connect(self.dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME})
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                pause = RECONNECT_PAUSES[min(attempt, len(RECONNECT_PAUSES) - 1)]
                log.warning(
                    "[workers] %s: operations channel unreachable (%s); retrying in %.1f s", self.journal.instance, exc, pause
                )
                attempt += 1
                await anyio.sleep(pause)
                continue
            attempt = 0
            self._lost.clear()
            try:
                connection.add_termination_listener(lambda _conn: self._lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                self._connected.set()
                self._wake.set()  # notifications sent while we were away are lost: read the table
                await self._lost.wait()
                log.warning("[workers] %s: operations channel lost; reconnecting", self.journal.instance)
            finally:
                self._connected.clear()
                with anyio.CancelScope(shield=True):
                    await connection.close(timeout=2)

    def _notified(self, *_args: object) -> None:
        self._wake.set()  # the payload is untrusted (any role can NOTIFY): only a reason to read

    async def _catch_up(self) -> None:
        for row in await self.journal.read():
            if row.generation <= self.applied.get(row.module, 0):
                continue
            self.applied[row.module] = row.generation
            if row.requested_by == self.journal.instance:
                continue  # ours: this worker ran it before recording it
            what = REMOVED if row.removed else row.operation.value
            log.info("[workers] %s: applying %s %s from %s", self.journal.instance, what, row.module, row.requested_by)
            try:
                await self.apply(row)
            except Exception:
                log.exception("[workers] %s: %s %s failed here", self.journal.instance, row.operation.value, row.module)


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as the plain DSN asyncpg takes (unix-socket hosts kept)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
