"""What makes a ``SolobotHost`` one of several workers sharing one PostgreSQL.

``SolobotHost`` (given a ``WorkerIdentity``) asks this for:

1. before its module runtime starts: the stopped modules as the shared table says
   (:meth:`state_store`), and the recorder ``ModuleRuntime.operate`` calls after each operation;
2. once the runtime runs (:meth:`attach`): the listener applying other workers' operations here,
   and this worker's heartbeat;
3. its exactly-once duties (:meth:`leadership`): run while this worker holds the leader lease.

Leaving (:meth:`aclose`) stops the listener and the heartbeat and deletes this worker's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from runtime import ModuleRuntime, UnknownModuleError
from runtime.operations import Operation
from runtime.supervision.state_store import MirroredStateStore, StateStore
from runtime.supervision.task_owner import TaskOwner

from .heartbeat import WorkerHeartbeat, workers_status
from .identity import WorkerIdentity
from .leadership import Duty, Leadership
from .operations_journal import OperationRow, OperationsJournal, OperationsListener
from .role_passwords import SharedRolePasswords

log = logging.getLogger("solobot.workers")


class WorkerCoordination:
    def __init__(self, identity: WorkerIdentity, engine: AsyncEngine, database_url: str) -> None:
        self.identity = identity
        self.engine = engine
        self.database_url = database_url
        self.journal = OperationsJournal(engine, identity.instance)
        self.role_passwords = SharedRolePasswords(engine)  # one module role, one password, every worker
        self.listener: OperationsListener | None = None
        self.heartbeat: WorkerHeartbeat | None = None
        self._known: dict[str, int] = {}
        self._runtime: ModuleRuntime | None = None
        self._tasks = TaskOwner(f"worker-{identity.slot}")

    async def state_store(self, state_file: Path) -> StateStore:
        """Which modules to leave stopped: the shared table (seeded once from this machine's state file)."""
        from_file = StateStore(state_file).disabled if state_file.exists() else set()
        stopped = await self.journal.stopped_modules(from_file)
        self._known = {row.module: row.generation for row in await self.journal.read()}
        return MirroredStateStore(stopped)

    async def record_operation(self, module: str, operation: Operation) -> None:
        await self.journal.record(module, operation)

    async def record_removal(self, module: str) -> None:
        await self.journal.record_removal(module)

    def attach(self, runtime: ModuleRuntime) -> None:
        self._runtime = runtime
        self.listener = OperationsListener(self.journal, self.database_url, self._apply, self._known)
        self.heartbeat = WorkerHeartbeat(self.engine, self.identity, runtime.status)
        self._tasks.spawn(self.listener.run(), "operations-listener")
        self._tasks.spawn(self.heartbeat.run(), "heartbeat")

    def leadership(self, duties: Mapping[str, Duty]) -> Leadership:
        return Leadership(self.engine, self.identity.instance, duties)

    async def status(self) -> list[dict[str, Any]]:
        """Every worker's state of every module (``solobot modules status``)."""
        return await workers_status(self.engine)

    async def _apply(self, row: OperationRow) -> None:
        assert self._runtime is not None
        if row.removed:  # its folder is gone (or going): drop it here too
            await self._runtime.forget_here(row.module)
            return
        try:
            result = await self._runtime.operate_here(row.module, row.operation)
        except UnknownModuleError:
            log.warning(
                "[workers] %s: %s %s: no such module on this worker", self.identity.instance, row.operation.value, row.module
            )
            return
        if not result.ok:
            log.warning(
                "[module %s] %s (from %s) failed here: %s", row.module, row.operation.value, row.requested_by, result.error
            )

    async def aclose(self) -> None:
        await self._tasks.aclose()
        if self.heartbeat is not None:
            await self.heartbeat.forget_self()
