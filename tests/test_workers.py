"""Two bot workers behind one port (``solobot run --workers 2``), end to end.

Real parts only: the arbiter and two worker processes (each with its zygote and sandboxed module
processes), one real Redis, one PostgreSQL (the session's embedded server, a fresh database), and
the local Bot API server delivering updates to the workers' webhook (``tests.worker_cluster``).

One test walks the whole story, so the slow part — starting workers — happens as few times as
the story needs: spread, exactly-once notifications, ``modules stop`` reaching both workers,
SIGKILL of the leader in the middle of a conversation, a rolling restart under a stream of
updates, SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from local_bot_api import SimulatedUser
from tests.conftest import fresh_database
from tests.worker_cluster import ADMIN, Cluster, answer, pid_of, poll, running_cluster

# Worker starts took 40-70 s each on the loaded 2-core VM; `slow` schedules the file first under -n.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture
async def cluster(pg_url: str, redis_url: str) -> AsyncIterator[Cluster]:
    async with fresh_database(pg_url) as database_url, running_cluster(database_url, redis_url) as running:
        yield running


async def test_two_workers_share_one_bot(cluster: Cluster) -> None:
    await cluster.serving()
    admin = cluster.api.user(ADMIN)
    await answer(admin, "/who", "who")  # the admin is a user of the bot: modules may message them

    # Updates are spread over both workers (webhook deliveries of different chats go concurrently).
    served: set[str] = set()
    for _ in range(10):
        users = [cluster.user() for _ in range(8)]
        replies = await asyncio.gather(*(answer(u, "/who", "who") for u in users))
        served |= {await cluster.worker_of(int(words[1])) for words in replies}
        if len(served) == 2:
            break
    assert len(served) == 2, f"every update went to {served}"

    # `solobot modules logs probe` (answered by one worker) shows both workers' lines, each tagged with
    # its worker's slot; `--follow` streams both workers' new lines.
    probes = {modules["probe"][1]: instance.split("/")[0] for instance, modules in (await cluster.workers()).items()}
    shown = await asyncio.to_thread(cluster.cli, "modules", "logs", "probe", "-n", "1000")
    for pid, slot in probes.items():
        assert f"[{slot}] [module probe] stdout: served who {pid}" in shown, (slot, pid, shown[-2000:])
    reply = await asyncio.to_thread(cluster.operate, "logs", "probe", lines=1000)
    assert reply["unreachable"] == []

    def both_followed(lines: list[str]) -> bool:
        expected = [f"[{slot}] [module probe] stdout: served who {pid}" for pid, slot in probes.items()]
        return all(any(text in line for line in lines) for text in expected)

    following = asyncio.create_task(cluster.follow_logs("probe", both_followed))
    for _ in range(10):  # rounds of users (spread over both workers) while we follow
        await asyncio.gather(*(answer(u, "/who", "who") for u in [cluster.user() for _ in range(8)]))
        if following.done():
            break
    await following

    # The notification cycle runs on one worker (the leader), not on both.
    def cycles() -> list[int]:
        return [int(m.text.split()[1]) for m in admin.chat if m.from_bot and m.text and m.text.startswith("cycle")]

    await admin.wait_until(lambda _u: len(cycles()) >= 3, timeout=20)
    leader = await cluster.leader()
    assert leader is not None
    assert {await cluster.worker_of(pid) for pid in set(cycles())} == {leader}

    # `modules stop` through one worker stops the module on both.
    reply = await asyncio.to_thread(cluster.operate, "stop", "idle")
    assert reply["module"]["state"] == "stopped"

    async def idle_stopped_everywhere() -> bool:
        live = await cluster.workers()
        return len(live) == 2 and all(m.get("idle", ("",))[0] == "stopped" for m in live.values())

    await poll(idle_stopped_everywhere, timeout=20)
    status = await asyncio.to_thread(cluster.operate, "status", None)  # what `solobot modules status` shows
    assert sorted(w["instance"] for w in status["workers"]) == sorted(await cluster.workers())
    assert all(w["modules"]["idle"]["state"] == "stopped" and not w["stale"] for w in status["workers"])
    shown = await asyncio.to_thread(cluster.cli, "modules", "status")
    rows = shown[shown.index("every worker") :].splitlines()[2:]  # under the header line
    assert sorted(row.split()[0] for row in rows) == sorted({w["slot"] for w in status["workers"]}), shown
    assert all(row.split()[3:5] == ["stopped", "running"] for row in rows), shown  # IDLE, PROBE

    # A conversation started on the leader continues on the other worker once the leader is SIGKILLed;
    # the leader duty moves to the survivor.
    while True:
        talker = cluster.user()
        asked = int((await answer(talker, "/form", "name?"))[1])
        if await cluster.worker_of(asked) == leader:
            break
    survivor = next(i for i in await cluster.workers() if i != leader)
    os.kill(pid_of(leader), signal.SIGKILL)

    async def moved() -> bool:
        return await cluster.leader() == survivor

    await poll(moved, timeout=20)
    words = await answer(talker, "Ann", "hello")  # (seconds after /form: the user's throttling lets it through)
    assert words[1:5] == ["Ann", "asked", str(asked), "answered"]
    assert await cluster.worker_of(int(words[5])) == survivor

    # A rolling restart (SIGHUP) under a stream of updates loses none; the operator's stop holds for the new workers.
    before = await cluster.serving()  # the killed worker's successor is up
    stream: list[SimulatedUser] = []
    streaming = True

    async def send_stream() -> None:
        while streaming:
            user = cluster.user()
            stream.append(user)
            await user.send("/who")
            await asyncio.sleep(0.25)

    sender = asyncio.create_task(send_stream())
    await asyncio.sleep(0.5)
    cluster.arbiter.send_signal(signal.SIGHUP)

    async def rolled() -> dict[str, dict[str, Any]] | None:
        live = await cluster.workers()
        fresh = {i: m for i, m in live.items() if i not in before and m.get("probe", ("",))[0] == "running"}
        return live if len(fresh) == 2 and len(live) == 2 else None

    after = await poll(rolled, timeout=300)
    streaming = False
    await sender
    for user in stream:
        await user.wait_until(lambda u: any(m.from_bot and (m.text or "").startswith("who") for m in u.chat), timeout=30)
    assert len(stream) > 10
    assert all(modules["idle"][0] == "stopped" for modules in after.values())

    cluster.arbiter.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(cluster.arbiter.wait, 90) == 0
    assert await cluster.workers() == {}  # each worker removed its heartbeat rows on its way out
