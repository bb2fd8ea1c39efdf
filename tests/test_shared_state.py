"""State several bot workers share through one real redis-server: each "worker" below has its own
Redis client (as a worker process would), and what one worker spends the other cannot spend again.

Throttling and the Bot API rate limits run their real parts (the core's throttling middleware on
aiogram updates; the Bot API gateway calling the local Bot API server); modules' FSM quotas run
through the FSM gateway. An outage is a private redis-server stopped and started again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update

from host.shared_state import FSM_TTL, SharedState, make_shared_state
from local_bot_api import LocalBotAPI
from middlewares.throttling import ThrottlingMiddleware
from runtime.aiogram_bridge.bot_gateway import BotGateway
from runtime.aiogram_bridge.fsm_gateway import FSMGateway
from runtime.aiogram_bridge.fsm_quota import FSMStorageLimit
from runtime.aiogram_bridge.fsm_quota_redis import RedisFSMLedger
from sandbox.bot_api_policy import BotApiPolicy
from shared_state.outage import SharedStateUnavailable
from tests.redis_fixtures import RedisServer

pytestmark = pytest.mark.anyio

BOT = 42


def key(user: int) -> list[object]:
    return [BOT, user, user, None, None, "default"]


async def close(*workers: SharedState) -> None:
    for worker in workers:
        await worker.fsm_storage.close()  # closes the worker's Redis client


@pytest.fixture
async def two_workers(redis_url: str) -> AsyncIterator[tuple[SharedState, SharedState]]:
    a, b = make_shared_state(redis_url, BOT), make_shared_state(redis_url, BOT)
    try:
        yield a, b
    finally:
        await close(a, b)


# --- throttling ---------------------------------------------------------------------------------


def message_update(update_id: int, user: int, bot: Bot | None = None) -> Update:
    chat = {"id": user, "type": "private"}
    sender = {"id": user, "is_bot": False, "first_name": "U"}
    message = {"message_id": update_id, "date": 0, "chat": chat, "from": sender, "text": "hi"}
    return Update.model_validate({"update_id": update_id, "message": message}, context={"bot": bot} if bot else None)


class Handled:
    """The handler behind the middleware: counts the updates that got through."""

    def __init__(self) -> None:
        self.updates: list[int] = []

    async def __call__(self, event: Any, data: dict[str, Any]) -> None:
        self.updates.append(event.update_id)


async def through(middleware: ThrottlingMiddleware, handled: Handled, update: Update) -> bool:
    before = len(handled.updates)
    assert update.message is not None
    await middleware(handled, update, {"event_from_user": update.message.from_user})
    return len(handled.updates) > before


async def test_throttling_is_shared_by_the_workers(two_workers: tuple[SharedState, SharedState]) -> None:
    a, b = two_workers
    on_a = ThrottlingMiddleware(60, "slow down", a.user_gate)
    on_b = ThrottlingMiddleware(60, "slow down", b.user_gate)
    handled = Handled()
    assert await through(on_a, handled, message_update(1, user=7))
    assert not await through(on_b, handled, message_update(2, user=7))  # the other worker knows
    assert not await through(on_a, handled, message_update(3, user=7))
    assert await through(on_b, handled, message_update(4, user=8))  # per user
    assert handled.updates == [1, 4]


async def test_throttling_fails_open_while_redis_is_away_and_logs_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with RedisServer(tmp_path / "redis") as server:
        worker = make_shared_state(server.url(), BOT)
        try:
            middleware = ThrottlingMiddleware(60, "slow down", worker.user_gate)
            handled = Handled()
            assert await through(middleware, handled, message_update(1, user=7))
            assert not await through(middleware, handled, message_update(2, user=7))
            server.stop()
            with caplog.at_level(logging.WARNING, logger="solobot.shared_state"):
                for update_id in range(3, 8):  # every update goes through, one warning for the outage
                    assert await through(middleware, handled, message_update(update_id, user=7))
            outage = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(outage) == 1 and "throttling" in outage[0] and "fail-open" in outage[0]
            server.start()  # an empty Redis: the user's first update goes through, the next is throttled again
            with caplog.at_level(logging.WARNING, logger="solobot.shared_state"):
                assert await through(middleware, handled, message_update(8, user=7))
            assert not await through(middleware, handled, message_update(9, user=7))
            assert any("reachable again for throttling" in r.getMessage() for r in caplog.records)
        finally:
            await close(worker)


# --- Bot API rate limits ------------------------------------------------------------------------


@pytest.fixture
async def telegram() -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI() as api:
        yield api


def real_bot(api: LocalBotAPI) -> Bot:
    return Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))


GET_ME = {"method": "getMe", "params": {}}


async def test_a_modules_bot_api_rate_is_shared_by_the_workers(
    two_workers: tuple[SharedState, SharedState], telegram: LocalBotAPI
) -> None:
    a, b = two_workers
    bot = real_bot(telegram)
    try:
        # 2 calls/s with one second's burst: two calls in all, whichever worker runs them.
        on_a = BotGateway(bot, BotApiPolicy(rates={"m": 2, "other": 2}, buckets=a.bot_api_buckets))
        on_b = BotGateway(bot, BotApiPolicy(rates={"m": 2, "other": 2}, buckets=b.bot_api_buckets))
        assert "result" in await on_a.call("m", GET_ME)
        assert "result" in await on_b.call("m", GET_ME)
        for gateway in (on_a, on_b):
            limited = await gateway.call("m", GET_ME)
            assert limited["error"]["type"] == "TelegramRetryAfter" and limited["error"]["retry_after"] == 1
            assert "module 'm' may make 2 Bot API calls/s" in limited["error"]["message"]
        assert "result" in await on_b.call("other", GET_ME)  # each module has its own bucket
    finally:
        await bot.session.close()


async def test_concurrent_calls_from_two_workers_get_the_rate_once(two_workers: tuple[SharedState, SharedState]) -> None:
    """40 calls at once over two workers against a burst of 10: exactly 10 run (the bucket is one atomic script)."""
    a, b = two_workers
    policies = [BotApiPolicy(rates={"m": 10}, buckets=worker.bot_api_buckets) for worker in (a, b)]
    refusals = await asyncio.gather(*(policies[i % 2].check("m", "sendMessage") for i in range(40)))
    assert sum(refusal is None for refusal in refusals) == 10


async def test_rate_limits_fall_back_to_each_worker_while_redis_is_away(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with RedisServer(tmp_path / "redis") as server:
        a, b = make_shared_state(server.url(), BOT), make_shared_state(server.url(), BOT)
        try:
            policies = [BotApiPolicy(rates={"m": 2}, buckets=worker.bot_api_buckets) for worker in (a, b)]

            async def allowed(policy: BotApiPolicy, calls: int) -> int:
                return sum([await policy.check("m", "sendMessage") is None for _ in range(calls)])

            assert await allowed(policies[0], 5) + await allowed(policies[1], 5) == 2  # shared: 2 in all
            server.stop()
            with caplog.at_level(logging.WARNING, logger="solobot.shared_state"):
                # Each worker enforces the rate alone: 2 each, not unlimited, not none.
                assert [await allowed(policy, 5) for policy in policies] == [2, 2]
            outage = [r.getMessage() for r in caplog.records if "unreachable for Bot API rate limits" in r.getMessage()]
            assert len(outage) == 2  # once per worker (each has its own client), not once per call
            server.start()
            assert await allowed(policies[0], 5) + await allowed(policies[1], 5) == 2  # shared again
        finally:
            await close(a, b)


def scoped_gateway(bot: Bot, worker: SharedState) -> BotGateway:
    return BotGateway(bot, BotApiPolicy(buckets=worker.bot_api_buckets), sent_messages=worker.sent_messages)


async def test_a_module_deletes_on_one_worker_the_message_it_sent_on_the_other(
    two_workers: tuple[SharedState, SharedState], telegram: LocalBotAPI
) -> None:
    a, b = two_workers
    user = telegram.user(5001)
    bot = real_bot(telegram)
    try:
        on_a, on_b = scoped_gateway(bot, a), scoped_gateway(bot, b)
        sent = await on_a.call("m", {"method": "sendMessage", "params": {"chat_id": user.id, "text": "your code: 1234"}})
        delete = {"method": "deleteMessage", "params": {"chat_id": user.id, "message_id": sent["result"]["message_id"]}}
        refused = await on_b.call("other", delete)  # another module never sent it
        assert refused["error"]["type"] == "TelegramForbiddenError" and "module 'other' may only" in refused["error"]["message"]
        assert await on_b.call("m", delete) == {"result": True}
        assert telegram.world.messages[user.id][sent["result"]["message_id"]].deleted
    finally:
        await bot.session.close()


async def test_while_redis_is_away_a_module_touches_only_what_it_sent_through_this_worker(
    tmp_path: Path, telegram: LocalBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    user = telegram.user(5002)
    bot = real_bot(telegram)
    with RedisServer(tmp_path / "redis") as server:
        a, b = make_shared_state(server.url(), BOT), make_shared_state(server.url(), BOT)
        try:
            on_a, on_b = scoped_gateway(bot, a), scoped_gateway(bot, b)

            async def send() -> dict[str, Any]:
                answer = await on_a.call("m", {"method": "sendMessage", "params": {"chat_id": user.id, "text": "hi"}})
                return {"chat_id": user.id, "message_id": answer["result"]["message_id"]}

            first, second = await send(), await send()
            server.stop()
            with caplog.at_level(logging.WARNING, logger="solobot.shared_state"):
                refused = await on_b.call("m", {"method": "deleteMessage", "params": first})  # B cannot vouch for it now
                assert refused["error"]["type"] == "TelegramForbiddenError"
                assert await on_a.call("m", {"method": "deleteMessage", "params": first}) == {"result": True}  # A can
            assert len([r for r in caplog.records if "unreachable for modules' sent messages" in r.getMessage()]) == 1
            server.start()  # an empty Redis: what was recorded there is gone; A still knows what it sent
            assert (await on_b.call("m", {"method": "deleteMessage", "params": second}))["error"][
                "type"
            ] == "TelegramForbiddenError"
            assert await on_a.call("m", {"method": "deleteMessage", "params": second}) == {"result": True}
            third = await send()
            assert await on_b.call("m", {"method": "deleteMessage", "params": third}) == {"result": True}  # shared again
        finally:
            await close(a, b)
            await bot.session.close()


# --- modules' FSM quotas ------------------------------------------------------------------------


def quota_gateway(worker: SharedState, **limits: int) -> FSMGateway:
    ledger = RedisFSMLedger(worker.redis, f"solobot:{BOT}:fsm_quota:", ttl_seconds=FSM_TTL, **limits)
    return FSMGateway(worker.fsm_storage, BOT, ledger)


async def test_a_modules_fsm_quota_is_shared_by_the_workers(two_workers: tuple[SharedState, SharedState]) -> None:
    a, b = (quota_gateway(worker, max_keys=3) for worker in two_workers)
    await a.call("m", {"op": "set_state", "key": key(1), "value": "Form:name"})
    await b.call("m", {"op": "set_state", "key": key(2), "value": "Form:name"})
    await a.call("m", {"op": "set_data", "key": key(3), "value": {"x": 1}})
    for gateway in (a, b):
        with pytest.raises(FSMStorageLimit, match="module m holds FSM state or data under 3 different keys"):
            await gateway.call("m", {"op": "set_state", "key": key(4), "value": "Form:name"})
    await b.call("m", {"op": "set_state", "key": key(1), "value": None})  # cleared on b: a key free for a
    await a.call("m", {"op": "set_state", "key": key(4), "value": "Form:name"})
    assert await b.call("m", {"op": "get_state", "key": key(4)}) == "Form:name"  # one storage


async def test_concurrent_writes_from_two_workers_never_exceed_the_quota(two_workers: tuple[SharedState, SharedState]) -> None:
    a, b = (quota_gateway(worker, max_keys=10) for worker in two_workers)

    async def write(gateway: FSMGateway, user: int) -> bool:
        try:
            await gateway.call("m", {"op": "set_state", "key": key(user), "value": "Form:name"})
        except FSMStorageLimit:
            return False
        return True

    admitted = await asyncio.gather(*(write(a if user % 2 else b, user) for user in range(40)))
    assert sum(admitted) == 10
    stored = [await a.call("m", {"op": "get_state", "key": key(user)}) for user in range(40)]
    assert sum(state is not None for state in stored) == 10


async def test_fsm_keys_and_quota_entries_lapse_together(redis_server: RedisServer, redis_url: str) -> None:
    """Stored states carry the TTL; a ledger entry lapses with it, so abandoned keys stop counting."""
    worker = make_shared_state(redis_url, BOT)
    redis = worker.redis
    try:
        gateway = FSMGateway(worker.fsm_storage, BOT, RedisFSMLedger(redis, "q:", ttl_seconds=1, max_keys=1))
        await gateway.call("m", {"op": "set_state", "key": key(1), "value": "Form:name"})
        [stored] = await redis.keys("solobot:fsm:*")
        assert 0 < await redis.ttl(stored) <= FSM_TTL
        with pytest.raises(FSMStorageLimit):
            await gateway.call("m", {"op": "set_state", "key": key(2), "value": "Form:name"})

        async def admitted() -> bool:
            try:
                await gateway.call("m", {"op": "set_state", "key": key(2), "value": "Form:name"})
            except FSMStorageLimit:
                return False
            return True

        deadline = asyncio.get_running_loop().time() + 10
        while not await admitted():  # the entry of key 1 lapses after its second
            assert asyncio.get_running_loop().time() < deadline, "the lapsed entry still counts"
            await asyncio.sleep(0.1)
    finally:
        await close(worker)


async def test_module_fsm_calls_fail_while_redis_is_away_and_work_again_after(tmp_path: Path) -> None:
    """Without Redis there is no state to continue from: module FSM calls fail, and work again after."""
    with RedisServer(tmp_path / "redis") as server:
        worker = make_shared_state(server.url(), BOT)
        try:
            gateway = FSMGateway(worker.fsm_storage, BOT, worker.fsm_ledger)
            await gateway.call("m", {"op": "set_state", "key": key(1), "value": "Form:name"})
            server.stop()
            with pytest.raises(SharedStateUnavailable, match="FSM storage"):
                await gateway.call("m", {"op": "get_state", "key": key(1)})
            server.start()
            assert await gateway.call("m", {"op": "get_state", "key": key(1)}) is None  # a fresh Redis: nothing kept
            await gateway.call("m", {"op": "set_state", "key": key(1), "value": "Form:name"})
            assert await gateway.call("m", {"op": "get_state", "key": key(1)}) == "Form:name"
        finally:
            await close(worker)


# --- maintenance mode ---------------------------------------------------------------------------


async def wait_for(read: Callable[[], Awaitable[bool]], expected: bool, timeout: float) -> None:
    """Until ``await read()`` gives ``expected`` (a flag read by another worker follows within its freshness)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await read() is not expected:
        assert asyncio.get_running_loop().time() < deadline, f"still not {expected} after {timeout} s"
        await asyncio.sleep(0.05)


async def test_maintenance_switched_on_one_worker_holds_on_the_other(
    two_workers: tuple[SharedState, SharedState], telegram: LocalBotAPI
) -> None:
    from middlewares import texts
    from middlewares.maintenance import MaintenanceMiddleware

    a, b = two_workers
    assert a.maintenance is not None and b.maintenance is not None
    user = telegram.user(7)
    bot = real_bot(telegram)
    try:
        on_b = MaintenanceMiddleware(b.maintenance, texts.MAINTENANCE)
        handled = Handled()

        async def through_b(update_id: int, admin: bool = False) -> bool:
            update = message_update(update_id, user.id, bot)  # answering needs the bot
            before = len(handled.updates)
            await on_b(handled, update, {"event_from_user": update.message.from_user, "admin": admin})  # type: ignore[union-attr]
            return len(handled.updates) > before

        assert await through_b(1)
        assert await a.maintenance.toggle() is True  # the admin's switch, pressed on worker A
        assert await a.maintenance.is_on()  # at once on A; on B within a second (its last read is fresh that long)
        await wait_for(b.maintenance.is_on, True, timeout=3)
        assert not await through_b(2)
        assert (await user.wait_for_reply()).text == texts.MAINTENANCE
        assert await through_b(3, admin=True)  # admins still get in
        assert await b.maintenance.toggle() is False  # switched off on B: off on A too
        await wait_for(a.maintenance.is_on, False, timeout=3)
        assert await through_b(4)
    finally:
        await bot.session.close()


async def test_maintenance_stays_as_last_read_while_redis_is_away(tmp_path: Path) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    with RedisServer(tmp_path / "redis") as server:
        worker = make_shared_state(server.url(), BOT)
        try:
            flag = worker.maintenance
            assert flag is not None
            assert await flag.toggle() is True
            assert await flag.is_on()
            server.stop()
            assert await flag.is_on()  # as last read: the bot stays in maintenance
            with pytest.raises(RedisConnectionError):
                await flag.toggle()  # the admin sees the switch did not move
            server.start()  # an empty Redis: off (once the value last read is a second old)
            await wait_for(flag.is_on, False, timeout=3)
        finally:
            await close(worker)


async def test_while_redis_is_away_users_are_asked_to_retry_and_the_outage_is_logged_once(
    tmp_path: Path, telegram: LocalBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    from aiogram import Dispatcher
    from aiogram.types import Message

    from middlewares import texts
    from middlewares.outage import install_outage_answer

    user = telegram.user(9)
    bot = real_bot(telegram)
    with RedisServer(tmp_path / "redis") as server:
        worker = make_shared_state(server.url(), BOT)
        try:
            dp = Dispatcher(storage=worker.fsm_storage)
            install_outage_answer(dp)
            handled = Handled()

            @dp.message()
            async def handle(message: Message) -> None:
                handled.updates.append(message.message_id)

            async def feed(update_id: int) -> None:
                await dp.feed_update(bot, message_update(update_id, user.id, bot))

            await feed(1)
            server.stop()
            with caplog.at_level(logging.WARNING):
                for update_id in (2, 3, 4):  # aiogram's FSM middleware cannot read the user's state
                    await feed(update_id)
                    assert (await user.wait_for_reply()).text == texts.UNAVAILABLE
                server.start()
                await feed(5)
            assert handled.updates == [1, 5]
            messages = [r.getMessage() for r in caplog.records]
            assert len([m for m in messages if "Redis unreachable for FSM storage" in m]) == 1
            assert any("Redis reachable again for FSM storage" in m for m in messages)
            assert not [r for r in caplog.records if r.name.startswith("aiogram") and r.levelno >= logging.ERROR]
        finally:
            await close(worker)
            await bot.session.close()


async def test_a_module_on_one_worker_cannot_reach_what_the_core_or_another_module_keeps_through_the_other(
    two_workers: tuple[SharedState, SharedState],
) -> None:
    """The namespaces hold across workers: the keys a forged StorageKey maps to are the forger's own."""
    from aiogram.fsm.storage.base import StorageKey

    a, b = two_workers
    on_a, on_b = (FSMGateway(w.fsm_storage, BOT, w.fsm_ledger) for w in two_workers)
    core = StorageKey(BOT, 7, 7)
    await a.fsm_storage.set_state(core, "CoreForm:amount")  # the core's conversation, on worker A
    await a.fsm_storage.set_data(core, {"coupon": "SECRET"})
    await on_a.call("victim", {"op": "set_data", "key": key(7), "value": {"victim": "private"}})
    for destiny in ("default", "solobot.module:victim:default", "victim:default", ""):
        forged = [BOT, 7, 7, None, None, destiny]
        assert await on_b.call("attacker", {"op": "get_state", "key": forged}) is None
        assert await on_b.call("attacker", {"op": "get_data", "key": forged}) == {}
        await on_b.call("attacker", {"op": "set_data", "key": forged, "value": {"coupon": "FORGED"}})
    assert await b.fsm_storage.get_data(core) == {"coupon": "SECRET"}
    assert await b.fsm_storage.get_state(core) == "CoreForm:amount"
    assert await on_b.call("victim", {"op": "get_data", "key": key(7)}) == {"victim": "private"}
    assert await on_a.call("attacker", {"op": "get_data", "key": key(7)}) == {"coupon": "FORGED"}  # its own, on A too
