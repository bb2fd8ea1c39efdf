"""Exactly-once duties: the notifications loop and the catalog watch run on one worker at a time.

The leader holds a *lease*: a row of ``solobot_worker_leases`` (``database.worker_tables``) naming
it until ``expires_at``, on the database's clock. Every worker runs the same statement every
``renew_every`` seconds — take the lease if it is free or expired, renew it if it is already ours —
and runs the duties while the statement says the lease is ours.

Why a lease row and not ``pg_try_advisory_lock`` (whose session-level lock frees itself when
the holder's connection dies): any database role can take any advisory lock, module roles
included, so a hostile module holding the key would stall the duties forever. Module roles have
no privilege at all on core tables: they cannot write the row, nor even lock it. The price is
failover time: a worker that dies without a word (SIGKILL) is replaced once its lease expires,
``ttl`` seconds after its last renewal at worst (plus one renewal period); a worker that stops
cleanly gives its lease up and another takes over at its next renewal.

A leader that cannot renew in time (database unreachable, event loop stalled) stops its duties
when ``ttl`` has passed *on its own clock* since it sent its last successful renewal — before
the database can have given the lease to someone else — so two workers never run a duty at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.supervision.task_owner import OwnedTask, TaskOwner

log = logging.getLogger("solobot.workers")

LEADER_DUTY = "leader"  # one lease for every exactly-once duty: they all run on the same worker
LEASE_SECONDS = 5.0
RENEW_SECONDS = 1.0
STATEMENT_TIMEOUT_MS = 2_000  # a claim never waits long on the database

Duty = Callable[[], Coroutine[Any, Any, Any]]

_CLAIM = text(
    "INSERT INTO solobot_worker_leases (duty, holder, expires_at) "
    "VALUES (:duty, :me, now() + make_interval(secs => :ttl)) "
    "ON CONFLICT (duty) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
    "WHERE solobot_worker_leases.holder = EXCLUDED.holder OR solobot_worker_leases.expires_at < now() "
    "RETURNING holder"
)
_RELEASE = text("UPDATE solobot_worker_leases SET expires_at = now() - interval '1 second' WHERE duty = :duty AND holder = :me")


class Leadership:
    """``async with Leadership(engine, "host-1/42", {"notifications": loop}):`` runs the duties while leader."""

    def __init__(
        self,
        engine: AsyncEngine,
        instance: str,
        duties: Mapping[str, Duty],
        *,
        duty: str = LEADER_DUTY,
        ttl: float = LEASE_SECONDS,
        renew_every: float = RENEW_SECONDS,
    ) -> None:
        if renew_every * 2 > ttl:
            raise ValueError(f"the lease ({ttl} s) must last at least two renewals ({renew_every} s each)")
        self.engine = engine
        self.instance = instance
        self.duties = dict(duties)
        self.duty = duty
        self.ttl = ttl
        self.renew_every = renew_every
        self._owner = TaskOwner(f"leader-duties-{duty}")
        self._running: list[OwnedTask] = []
        self._valid_until = 0.0  # monotonic: our lease certainly has not expired before this
        self._loop = TaskOwner(f"leadership-{duty}")

    @property
    def is_leader(self) -> bool:
        return bool(self._running) and time.monotonic() < self._valid_until

    async def __aenter__(self) -> Leadership:
        self._loop.spawn(self._run(), "lease")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._loop.aclose()
        await self._stop_duties("shutting down")
        await self._owner.aclose()
        with anyio.CancelScope(shield=True), anyio.move_on_after(STATEMENT_TIMEOUT_MS / 1000):
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(_RELEASE, {"duty": self.duty, "me": self.instance})
            except Exception as exc:  # the lease expires by itself
                log.warning(
                    "[workers] %s: could not give the %s lease up (%s); it expires in %.0f s",
                    self.instance,
                    self.duty,
                    exc,
                    self.ttl,
                )

    async def _run(self) -> None:
        while True:
            sent = time.monotonic()
            try:
                held = await self._claim()
            except Exception as exc:
                log.warning("[workers] %s: lease %s not renewed: %s", self.instance, self.duty, exc)
                held = False
                if self._running and time.monotonic() < self._valid_until:
                    held = None  # still ours for a moment: keep the duties, try again
            if held:
                self._valid_until = sent + self.ttl
                if not self._running:
                    self._start_duties()
            elif held is False and self._running:
                await self._stop_duties("another worker holds the lease")
            await self._sleep_watching_lease()

    async def _sleep_watching_lease(self) -> None:
        """Sleep until the next renewal, but stop the duties the moment our lease may have expired."""
        wake = time.monotonic() + self.renew_every
        if self._running and self._valid_until < wake:
            await anyio.sleep(max(0.0, self._valid_until - time.monotonic()))
            if self._running and time.monotonic() >= self._valid_until:
                await self._stop_duties("the lease could not be renewed in time")
        await anyio.sleep(max(0.0, wake - time.monotonic()))

    async def _claim(self) -> bool:
        with anyio.fail_after(STATEMENT_TIMEOUT_MS / 1000 + 1):
            async with self.engine.begin() as conn:
                await conn.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
                await conn.execute(text(f"SET LOCAL lock_timeout = {STATEMENT_TIMEOUT_MS}"))
                holder = await conn.scalar(_CLAIM, {"duty": self.duty, "me": self.instance, "ttl": self.ttl})
        return holder == self.instance

    def _start_duties(self) -> None:
        log.info("[workers] %s leads now: running %s", self.instance, ", ".join(self.duties) or "no duties")
        self._running = [self._owner.spawn(duty(), name) for name, duty in self.duties.items()]

    async def _stop_duties(self, why: str) -> None:
        if not self._running:
            return
        log.info("[workers] %s no longer leads (%s): stopping %s", self.instance, why, ", ".join(self.duties))
        running, self._running = self._running, []
        for task in running:
            task.cancel()
        for task in running:
            await task.wait()
