"""An on/off switch the operator flips at run time (maintenance mode), seen by every worker.

``LocalFlag`` is this process's; ``RedisFlag`` a key in Redis (``"1"`` when on, absent when off),
read on each check (one ``GET``) and flipped by one Lua script (two admins flipping it at once on
two workers end with it flipped twice, never lost).

While Redis is unreachable the Redis flag answers **the last value it read** (the bot stays in or
out of maintenance as it was) and refuses to be flipped (the admin sees the error); logged once per
outage.
"""

from __future__ import annotations

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


class RedisFlag:
    def __init__(self, redis: Any, key: str, name: str) -> None:
        self.redis = redis
        self.key = key
        self.last = False
        self.outage = OutageLog(name, "it stays as it was last read")
        self._toggle = redis.register_script(TOGGLE)
        self._errors = redis_errors()

    async def is_on(self) -> bool:
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
        return self.last
