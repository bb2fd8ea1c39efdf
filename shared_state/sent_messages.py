"""The messages each module sent, for every worker: a module may edit or delete on one worker what it
sent through another (``sandbox.bot_api_scope``: only its own messages are its to touch).

Per module a sorted set ``<prefix><module>`` of ``chat:message`` by the time it was sent, the most
recent ``SENT_REMEMBERED`` kept (as in memory), the set expiring ``KEEP_SECONDS`` after the
module's last send. Recording is one pipelined round trip after a send; checking is one
``ZMSCORE``.

Each worker also records its own sends in memory and answers for those without asking Redis.
While Redis is unreachable that is all that counts (**fail-closed** for messages sent through
other workers: the module is refused, as for any message it did not send, rather than allowed
to touch messages nobody vouches for); logged once per outage.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.bot_api_scope import SENT_REMEMBERED, MessageKey, SentMessages

from .outage import OutageLog
from .redis_connection import redis_errors

KEEP_SECONDS = 30 * 24 * 3600  # a module's record lapses this long after its last send


def _member(key: MessageKey) -> str:
    return f"{key[0]}:{key[1]}"


class RedisSentMessages:
    def __init__(self, redis: Any, key: str, outage: OutageLog, limit: int = SENT_REMEMBERED) -> None:
        self.redis = redis
        self.key = key
        self.outage = outage
        self.limit = limit
        self.here = SentMessages(limit)  # this worker's own sends: what counts while Redis is away
        self._errors = redis_errors()

    async def record(self, keys: list[MessageKey]) -> None:
        await self.here.record(keys)
        if not keys:
            return
        now = time.time()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self.key, {_member(key): now for key in keys})
                pipe.zremrangebyrank(self.key, 0, -self.limit - 1)
                pipe.expire(self.key, KEEP_SECONDS)
                await pipe.execute()
        except self._errors as exc:
            self.outage.failed(exc)
            return
        self.outage.recovered()

    async def unknown(self, keys: list[MessageKey]) -> list[MessageKey]:
        keys = await self.here.unknown(keys)  # sent through this worker: no need to ask
        if not keys:
            return []
        try:
            scores = await self.redis.zmscore(self.key, [_member(key) for key in keys])
        except self._errors as exc:
            self.outage.failed(exc)
            return keys
        self.outage.recovered()
        return [key for key, score in zip(keys, scores, strict=True) if score is None]


class RedisSentMessagesOf:
    """``BotGateway(sent_messages=...)``: each module's record in Redis, one outage log for them all."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix  # e.g. "solobot:<bot id>:sent:"
        self.outage = OutageLog("modules' sent messages", "a module may edit or delete only what it sent through this worker")

    def __call__(self, module: str) -> RedisSentMessages:
        return RedisSentMessages(self.redis, f"{self.prefix}{module}", self.outage)
