"""An on/off switch the operator flips at run time (maintenance mode), seen by every worker.

``LocalFlag`` is this process's; ``RedisFlag`` a key in Redis (``"1"`` when on, absent when off),
flipped by one Lua script (two admins flipping it at once on two workers end with it flipped twice,
never lost) and read at most once per ``fresh_for`` (1 s): the maintenance middleware asks on every
update, and a ``GET`` per update was a third of an update's Redis round trips for a switch an admin
flips a few times a year. A flip applies at once on the worker that flipped it, within a second on
the others.

While Redis is unreachable the Redis flag answers **the last value it read** (the bot stays in or
out of maintenance as it was; Redis is asked again a second later) and refuses to be flipped (the
admin sees the error); logged once per outage.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from .outage import OutageLog
from .redis_connection import redis_errors


class Flag(Protocol):
    async def is_on(self) -> bool: ...

    async def toggle(self) -> bool:
        """Flip it; the new value."""
        ...


class LocalFlag:
    def __init__(self, on: bool = False) -> None:
        self.on = on

    async def is_on(self) -> bool:
        return self.on

    async def toggle(self) -> bool:
        self.on = not self.on
        return self.on


TOGGLE = """
if redis.call('GET', KEYS[1]) == '1' then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], '1')
return 1
"""


FRESH_FOR = 1.0  # seconds a value read from Redis is answered without asking again


class RedisFlag:
    def __init__(self, redis: Any, key: str, name: str, fresh_for: float = FRESH_FOR) -> None:
        self.redis = redis
        self.key = key
        self.fresh_for = fresh_for
        self.last = False
        self._read_at = -float("inf")  # monotonic time of the last read (or failed read)
        self.outage = OutageLog(name, "it stays as it was last read")
        self._toggle = redis.register_script(TOGGLE)
        self._errors = redis_errors()

    async def is_on(self) -> bool:
        now = time.monotonic()
        if now - self._read_at < self.fresh_for:
            return self.last
        self._read_at = now  # a failed read is not retried on every update either
        try:
            value = await self.redis.get(self.key)
        except self._errors as exc:
            self.outage.failed(exc)
            return self.last
        self.outage.recovered()
        self.last = value == b"1"
        return self.last

    async def toggle(self) -> bool:
        self.last = bool(await self._toggle(keys=[self.key]))
        self._read_at = time.monotonic()
        return self.last
