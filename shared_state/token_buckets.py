"""Token buckets by name (one per module): ``rate`` tokens a second, at most ``capacity`` banked.

``take`` spends one token and answers 0, or answers the seconds until there will be one.
``LocalTokenBuckets`` keeps them in this process; ``RedisTokenBuckets`` in Redis, so a module
gets its rate once across all workers, not once per worker: one Lua script per call (read,
refill, spend, write, expire — atomic, one round trip) on Redis's own clock (``TIME``), so
workers on machines whose clocks differ share one bucket correctly. A bucket left untouched
expires once it would be full again.

While Redis is unreachable the Redis buckets **fall back to this worker's local buckets**: each
worker enforces the module's rate by itself, so N workers allow at most N times the rate for the
outage, instead of refusing every module call (fail-closed would stop all modules with Redis) or
allowing unlimited calls (fail-open). Logged once per outage; Redis is used again when it answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .outage import OutageLog
from .redis_connection import redis_errors


class TokenBuckets(Protocol):
    async def take(self, name: str, rate: float, capacity: float) -> float: ...

    def reset(self, name: str) -> None:
        """Forget ``name``'s bucket in this process (its rate changed); shared buckets keep their tokens."""
        ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


class LocalTokenBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    async def take(self, name: str, rate: float, capacity: float) -> float:
        return self.take_now(name, rate, capacity)

    def take_now(self, name: str, rate: float, capacity: float) -> float:
        now = self.clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate

    def reset(self, name: str) -> None:
        self._buckets.pop(name, None)


# KEYS[1]: the bucket (a hash: tokens, updated); ARGV: rate, capacity. Returns the wait as a string
# (a Lua number returned to Redis is truncated to an integer).
TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(saved[1])
local updated = tonumber(saved[2])
if tokens == nil or updated == nil then
  tokens = capacity
  updated = now
end
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'updated', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return string.format('%.17g', wait)
"""


class RedisTokenBuckets:
    def __init__(self, redis: Any, prefix: str, fallback: LocalTokenBuckets | None = None) -> None:
        self.redis = redis
        self.prefix = prefix  # e.g. "solobot:<bot id>:bot_api_rate:"
        self.fallback = fallback or LocalTokenBuckets()
        self.outage = OutageLog("Bot API rate limits", "each worker enforces every module's rate by itself")
        self._take = redis.register_script(TAKE)
        self._errors = redis_errors()

    async def take(self, name: str, rate: float, capacity: float) -> float:
        try:
            wait = await self._take(keys=[f"{self.prefix}{name}"], args=[repr(float(rate)), repr(float(capacity))])
        except self._errors as exc:
            self.outage.failed(exc)
            return self.fallback.take_now(name, rate, capacity)
        self.outage.recovered()
        return float(wait)

    def reset(self, name: str) -> None:
        self.fallback.reset(name)
