"""How workers coordinate through the real (embedded) PostgreSQL: the leader lease, the operations
journal with LISTEN/NOTIFY, heartbeats — and that a module's database role can stall none of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from runtime import ModuleRuntime
from runtime.operations import Operation
from sandbox.db_roles import ADVISORY_LOCK, ensure_module_role
from sandbox.permissions import ModulePermissions
from tests.conftest import ModuleFolder, wait_until
from tests.shared_zygote import ThreadedZygote
from workers.coordination import WorkerCoordination
from workers.heartbeat import WorkerHeartbeat, workers_status
from workers.identity import WorkerIdentity
from workers.leadership import Leadership
from workers.operations_journal import APPLICATION_NAME, CHANNEL, OperationRow, OperationsJournal, OperationsListener

pytestmark = pytest.mark.anyio

TTL, RENEW = 1.0, 0.2  # a short lease: the tests wait for expiries


@asynccontextmanager
async def owner_engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


def leader(engine: AsyncEngine, name: str, runs: list[str]) -> Leadership:
    async def duty() -> None:
        runs.append(name)
        await asyncio.Event().wait()  # a loop that runs until cancelled, like the notifications loop

    return Leadership(engine, name, {"duty": duty}, ttl=TTL, renew_every=RENEW)


async def test_one_worker_leads_and_a_clean_stop_hands_over(db: str) -> None:
    runs: list[str] = []
    async with owner_engine(db) as engine:
        first = leader(engine, "a/1", runs)
        second = leader(engine, "b/2", runs)
        async with first, second:
            await wait_until(lambda: runs)
            await asyncio.sleep(TTL * 2)  # several renewals: still exactly one leader, its duty started once
            assert len(runs) == 1 and [first.is_leader, second.is_leader].count(True) == 1
            leading, waiting = (first, second) if first.is_leader else (second, first)
            await leading.aclose()  # gives the lease up: the other takes over at its next renewal
            await wait_until(lambda: waiting.is_leader and len(runs) == 2)  # leading, then its duty task started
            assert runs == [leading.instance, waiting.instance]


async def test_a_dead_leaders_lease_is_taken_over_when_it_expires(db: str) -> None:
    runs: list[str] = []
    async with owner_engine(db) as engine:
        async with engine.begin() as conn:  # a worker killed with SIGKILL: its lease stays, unrenewed
            await conn.execute(
                text("INSERT INTO solobot_worker_leases VALUES ('leader', 'ghost/1', now() + make_interval(secs => :s))"),
                {"s": TTL},
            )
        async with leader(engine, "b/2", runs) as survivor:
            assert not survivor.is_leader
            await wait_until(lambda: survivor.is_leader and runs)
            assert runs == ["b/2"]


async def test_a_module_role_cannot_stall_or_steal_leadership(db: str) -> None:
    """Escape-suite style: a module role holding every advisory lock the core uses, flooding the
    operations channel and trying the lease table, changes nothing."""
    runs: list[str] = []
    async with owner_engine(db) as engine:
        dsn = make_url(await ensure_module_role(engine, "squatter", ModulePermissions()))
        module = await asyncpg.connect(
            host=dsn.host, port=dsn.port, user=dsn.username, password=dsn.password, database=dsn.database
        )
        try:
            await module.execute("BEGIN")
            assert await module.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK)
            for key in range(0, 1 << 16, 7):  # a sweep of small keys, as a squatter would guess
                await module.fetchval("SELECT pg_try_advisory_lock($1)", key)
            for statement in (
                "SELECT * FROM solobot_worker_leases",
                "LOCK TABLE solobot_worker_leases IN ACCESS EXCLUSIVE MODE",
                "UPDATE solobot_worker_leases SET holder = 'squatter'",
                "INSERT INTO solobot_worker_leases VALUES ('leader', 'squatter', now() + interval '1 year')",
                "INSERT INTO solobot_module_operations VALUES ('x', false, 'stop', 99, 'squatter', now())",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await module.execute(f"SAVEPOINT s; {statement}")
                await module.execute("ROLLBACK TO SAVEPOINT s")
            async with leader(engine, "a/1", runs) as elected:
                await wait_until(lambda: elected.is_leader and runs)
            assert runs == ["a/1"]
        finally:
            await module.close()


async def test_operations_reach_the_other_worker_once_even_across_a_lost_connection(db: str) -> None:
    applied: dict[str, list[tuple[str, Operation]]] = {"a/1": [], "b/2": []}
    async with owner_engine(db) as engine:
        journals = {name: OperationsJournal(engine, name) for name in applied}

        def listener(name: str) -> OperationsListener:
            async def apply(row: OperationRow) -> None:
                applied[name].append((row.module, row.operation))

            return OperationsListener(journals[name], db, apply, known={})

        listeners = [listener(name) for name in applied]
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(each.run()) for each in listeners]
            for each in listeners:
                await each.wait_connected()
            await journals["a/1"].record("hello", Operation.STOP)
            await wait_until(lambda: applied["b/2"])
            assert applied == {"a/1": [], "b/2": [("hello", Operation.STOP)]}  # a/1 had run it itself

            # Notifications sent while b's connection is down are lost: it reads the table on reconnect.
            async with engine.begin() as conn:
                killed = await conn.scalar(
                    text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :app"),
                    {"app": APPLICATION_NAME},
                )
            assert killed == 2
            await journals["a/1"].record("hello", Operation.RESTART)
            await wait_until(lambda: len(applied["b/2"]) == 2)

            # A notification is only a reason to read the table: a forged payload (any role can NOTIFY) does nothing.
            async with engine.begin() as conn:
                forged = json.dumps({"module": "hello", "operation": "stop", "generation": 99})
                await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": forged})
            await journals["b/2"].record("other", Operation.START)  # then one real operation, from b
            await wait_until(lambda: applied["a/1"])
            for task in tasks:
                task.cancel()
        rows = {row.module: row for row in await journals["a/1"].read()}
    assert applied == {"a/1": [("other", Operation.START)], "b/2": [("hello", Operation.STOP), ("hello", Operation.RESTART)]}
    assert (rows["hello"].enabled, rows["hello"].generation, rows["other"].requested_by) == (True, 2, "b/2")


async def test_a_module_removed_on_one_worker_is_dropped_by_the_others(
    db: str, tmp_path: Path, modules: ModuleFolder, shared_zygote: ThreadedZygote
) -> None:
    """The catalog removes a module through one worker (``forget``): every worker stops and drops it,
    instead of keeping a process of code that is gone; the other modules serve on."""
    modules.add_button_module("hello")
    modules.add_button_module("other")
    async with owner_engine(db) as engine, AsyncExitStack() as stack:
        workers: list[tuple[WorkerCoordination, ModuleRuntime]] = []
        for index in (0, 1):
            coordination = WorkerCoordination(WorkerIdentity(index, "m"), engine, db)
            runtime = await stack.enter_async_context(
                ModuleRuntime(
                    modules.root,
                    state_store=await coordination.state_store(tmp_path / f"state{index}.json"),
                    zygote=shared_zygote,
                    sandbox=False,
                    record_operation=coordination.record_operation,
                    record_removal=coordination.record_removal,
                )
            )
            coordination.attach(runtime)
            stack.push_async_callback(coordination.aclose)  # before its runtime stops
            assert coordination.listener is not None
            await coordination.listener.wait_connected()
            workers.append((coordination, runtime))
        (first_coordination, first), (_, second) = workers

        def serving(runtime: ModuleRuntime) -> dict[str, str]:
            return {s["name"]: s["state"] for s in runtime.status()}

        assert serving(first) == serving(second) == {"hello": "running", "other": "running"}
        await first.forget("hello")
        assert serving(first) == {"other": "running"}
        await wait_until(lambda: serving(second) == {"other": "running"})
        assert len(await second.run_hooks("profile_menu")) == 1  # "other" still answers there
        row = {row.module: row for row in await first_coordination.journal.read()}["hello"]
        assert (row.removed, row.enabled) == (True, False)


async def test_stopped_modules_come_from_the_table_seeded_once_from_the_state_file(db: str, tmp_path: Path) -> None:
    state_file = tmp_path / "modules_state.json"
    state_file.write_text(json.dumps({"disabled": ["legacy"]}), encoding="utf-8")
    async with owner_engine(db) as engine:
        first = WorkerCoordination(WorkerIdentity(0, "m"), engine, db)
        assert (await first.state_store(state_file)).disabled == {"legacy"}  # imported into the empty table
        await first.journal.record("legacy", Operation.START)
        await first.journal.record("hello", Operation.STOP)
        second = WorkerCoordination(WorkerIdentity(1, "m"), engine, db)
        store = await second.state_store(state_file)  # the file no longer counts: the table is the truth
        assert store.disabled == {"hello"}
        store.set_enabled("hello", True)
        assert json.loads(state_file.read_text(encoding="utf-8")) == {"disabled": ["legacy"]}  # never written


async def test_status_shows_each_worker_and_marks_the_silent_one_stale(db: str) -> None:
    async with owner_engine(db) as engine:
        alive = WorkerHeartbeat(engine, WorkerIdentity(0, "m", 11), lambda: [{"name": "hello", "state": "running", "pid": 5}])
        silent = WorkerHeartbeat(engine, WorkerIdentity(1, "m", 12), lambda: [{"name": "hello", "state": "stopped", "pid": None}])
        await alive.beat()
        await silent.beat()
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE solobot_workers SET seen_at = now() - interval '1 minute' WHERE pid = 12"))
        status = {w["slot"]: w for w in await workers_status(engine)}
        assert status["m-0"]["modules"] == {"hello": {"state": "running", "pid": 5}} and not status["m-0"]["stale"]
        assert status["m-1"]["modules"] == {"hello": {"state": "stopped", "pid": None}} and status["m-1"]["stale"]
        await silent.forget_self()
        assert [w["slot"] for w in await workers_status(engine)] == ["m-0"]
