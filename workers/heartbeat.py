"""Each worker's state of each module, in PostgreSQL, for ``solobot modules status`` on any worker.

Every ``every`` seconds a worker writes its row in ``solobot_workers`` (``seen_at``) and one row
per module in ``solobot_worker_modules`` (state, pid). :func:`workers_status` reads them back;
a worker not seen for ``STALE_BEATS`` beats is marked stale (killed, frozen, or cut off from the
database). A worker that stops cleanly deletes its rows; rows of workers gone for
``FORGET_AFTER`` seconds are deleted by whichever worker starts next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .identity import WorkerIdentity

log = logging.getLogger("solobot.workers")

BEAT_SECONDS = 2.0
STALE_BEATS = 3
FORGET_AFTER = 3600  # seconds

ModuleStates = Callable[[], list[dict[str, Any]]]  # ``ModuleRuntime.status``


class WorkerHeartbeat:
    """``run()`` beats until cancelled; ``forget_self()`` at a clean stop."""

    def __init__(
        self, engine: AsyncEngine, identity: WorkerIdentity, module_states: ModuleStates, every: float = BEAT_SECONDS
    ) -> None:
        self.engine = engine
        self.identity = identity
        self.module_states = module_states
        self.every = every

    async def run(self) -> None:
        await self._forget_departed()
        while True:
            try:
                await self.beat()
            except Exception as exc:
                log.warning("[workers] %s: heartbeat not written: %s", self.identity.instance, exc)
            await anyio.sleep(self.every)

    async def beat(self) -> None:
        me = self.identity.instance
        modules = [(s["name"], str(s["state"]), s.get("pid")) for s in self.module_states()]
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO solobot_workers (instance, slot, pid, started_at, seen_at) "
                    "VALUES (:me, :slot, :pid, now(), now()) "
                    "ON CONFLICT (instance) DO UPDATE SET seen_at = now()"
                ),
                {"me": me, "slot": self.identity.slot, "pid": self.identity.pid},
            )
            if modules:
                await conn.execute(
                    text(
                        "INSERT INTO solobot_worker_modules (instance, module, state, pid, updated_at) "
                        "VALUES (:me, :module, :state, :pid, now()) "
                        "ON CONFLICT (instance, module) DO UPDATE "
                        "SET state = EXCLUDED.state, pid = EXCLUDED.pid, updated_at = now()"
                    ),
                    [{"me": me, "module": name, "state": state, "pid": pid} for name, state, pid in modules],
                )
            await conn.execute(
                text("DELETE FROM solobot_worker_modules WHERE instance = :me AND NOT (module = ANY(:names))"),
                {"me": me, "names": [name for name, _, _ in modules]},
            )

    async def forget_self(self) -> None:
        """At a clean stop: this worker no longer serves anything."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                async with self.engine.begin() as conn:
                    params = {"me": self.identity.instance}
                    await conn.execute(text("DELETE FROM solobot_worker_modules WHERE instance = :me"), params)
                    await conn.execute(text("DELETE FROM solobot_workers WHERE instance = :me"), params)
            except Exception as exc:
                log.warning("[workers] %s: could not remove its heartbeat rows: %s", self.identity.instance, exc)

    async def _forget_departed(self) -> None:
        try:
            async with self.engine.begin() as conn:
                gone = "SELECT instance FROM solobot_workers WHERE seen_at < now() - make_interval(secs => :age)"
                await conn.execute(text(f"DELETE FROM solobot_worker_modules WHERE instance IN ({gone})"), {"age": FORGET_AFTER})
                await conn.execute(text(f"DELETE FROM solobot_workers WHERE instance IN ({gone})"), {"age": FORGET_AFTER})
        except Exception as exc:
            log.warning("[workers] could not delete long-gone workers' rows: %s", exc)


async def workers_status(engine: AsyncEngine, beat: float = BEAT_SECONDS) -> list[dict[str, Any]]:
    """Every worker seen in the last hour, with ``stale`` and its state of each module (by module name)."""
    async with engine.connect() as conn:
        workers = (
            await conn.execute(
                text(
                    "SELECT instance, slot, pid, extract(epoch FROM now() - seen_at) AS silent, "
                    "extract(epoch FROM now() - started_at) AS uptime FROM solobot_workers ORDER BY slot, started_at"
                )
            )
        ).all()
        modules = (
            await conn.execute(text("SELECT instance, module, state, pid FROM solobot_worker_modules ORDER BY module"))
        ).all()
    by_worker: dict[str, dict[str, dict[str, Any]]] = {}
    for row in modules:
        by_worker.setdefault(row.instance, {})[row.module] = {"state": row.state, "pid": row.pid}
    return [
        {
            "instance": w.instance,
            "slot": w.slot,
            "pid": w.pid,
            "uptime": float(w.uptime),
            "silent": float(w.silent),
            "stale": float(w.silent) > beat * STALE_BEATS,
            "modules": by_worker.get(w.instance, {}),
        }
        for w in workers
    ]
