"""What the bot's workers share: FSM storage, modules' FSM quotas, throttling, Bot API rate limits.

Without ``REDIS_URL`` all of it is this process's memory (one worker: aiogram's memory storage,
the FSM gateway's own ledger, local throttling and token buckets). With ``REDIS_URL`` all of it
lives in that Redis, so several workers (processes, on one machine or several) serve one bot as
one: a conversation begun on one worker continues on another, a module gets its FSM quota and
its Bot API rate once in all, a user is throttled once in all.

Redis keys:

* FSM: aiogram's ``RedisStorage`` with ``solobot:fsm:<bot id>:<chat>:<user>:<destiny>:state|data``.
  The destiny is in the key: each module's FSM lives under a destiny of its own
  (``runtime.aiogram_bridge.fsm_keys.module_key``), which aiogram's default key builder would
  drop, folding every module's states into the core's; the bot id keeps two bots on one Redis
  apart. States and data live ``FSM_TTL`` after their last write (a conversation untouched that
  long starts over) so abandoned ones do not pile up in Redis for ever; the quota ledger's
  entries lapse with them.
* ``solobot:<bot id>:fsm_quota:…`` (``fsm_quota_redis``), ``solobot:<bot id>:throttle:<user>``
  (``shared_state.user_gate``), ``solobot:<bot id>:bot_api_rate:<module>``
  (``shared_state.token_buckets``), ``solobot:<bot id>:sent:<module>`` (the messages a module
  sent, which it may edit and delete: ``shared_state.sent_messages``),
  ``solobot:<bot id>:maintenance`` (the admin's maintenance switch: ``shared_state.flag``).

When Redis is unreachable: FSM calls fail (``shared_state.observed_storage``: the core asks the
user to retry, module FSM calls raise; nothing can continue a conversation without its state), throttling lets every update
through (fail-open), Bot API rate limits fall back to each worker's own buckets, a module may
edit or delete only the messages it sent through this worker, maintenance mode stays as it was
last read. Each logs once
per outage and uses Redis again when it answers (the client reconnects by itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage

from runtime.aiogram_bridge.fsm_quota import FSMLedger
from sandbox.bot_api_scope import SentRecord
from shared_state.flag import Flag
from shared_state.redis_connection import connect
from shared_state.token_buckets import TokenBuckets
from shared_state.user_gate import UserGate

FSM_TTL = 7 * 24 * 3600  # seconds a state or data lives in Redis after its last write


@dataclass
class SharedState:
    """The parts that differ with ``REDIS_URL``; ``None`` means "this process's own" (the default)."""

    fsm_storage: BaseStorage
    redis: Any = None  # the one Redis client of this worker (None without REDIS_URL)
    fsm_ledger: FSMLedger | None = None
    user_gate: UserGate | None = None
    bot_api_buckets: TokenBuckets | None = None
    sent_messages: Callable[[str], SentRecord] | None = None  # module → what it sent (Bot API scope)
    maintenance: Flag | None = None  # the admin's maintenance switch


def make_shared_state(redis_url: str | None, bot_id: int) -> SharedState:
    if not redis_url:
        return SharedState(MemoryStorage())
    from aiogram.fsm.storage.redis import RedisStorage

    from runtime.aiogram_bridge.fsm_quota_redis import RedisFSMLedger
    from shared_state.flag import RedisFlag
    from shared_state.observed_storage import OutageObservedStorage
    from shared_state.sent_messages import RedisSentMessagesOf
    from shared_state.token_buckets import RedisTokenBuckets
    from shared_state.user_gate import RedisUserGate

    redis = connect(redis_url)  # one client (and connection pool) for them all; closed with the FSM storage
    prefix = f"solobot:{bot_id}:"
    key_builder = DefaultKeyBuilder(prefix="solobot:fsm", with_bot_id=True, with_destiny=True)
    return SharedState(
        fsm_storage=OutageObservedStorage(RedisStorage(redis, key_builder=key_builder, state_ttl=FSM_TTL, data_ttl=FSM_TTL)),
        redis=redis,
        fsm_ledger=RedisFSMLedger(redis, prefix + "fsm_quota:", ttl_seconds=FSM_TTL),
        user_gate=RedisUserGate(redis, prefix + "throttle:"),
        bot_api_buckets=RedisTokenBuckets(redis, prefix + "bot_api_rate:"),
        sent_messages=RedisSentMessagesOf(redis, prefix + "sent:"),
        maintenance=RedisFlag(redis, prefix + "maintenance", "maintenance mode"),
    )
