"""Per-user throttling: may this user's update through now, ``interval`` seconds after their last one?

``LocalUserGate`` remembers the time of each user's last admitted update in this process;
``RedisUserGate`` keeps it in Redis for every worker: ``SET <user> 1 PX <interval> NX`` admits
and records in one atomic command, and the key expires by itself (nothing to sweep).

While Redis is unreachable the Redis gate **fails open** (every update goes through): throttling
protects against floods, not a security boundary, and refusing everyone would take the bot
down with Redis. It logs once per outage and throttles through Redis again when it answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from .outage import OutageLog
from .redis_connection import redis_errors

SWEEP_AT = 10_000  # the local gate forgets old entries once it holds this many users


class UserGate(Protocol):
    async def admit(self, user_id: int, interval: float) -> bool:
        """True (and remember now) when the user's previous admitted update is ``interval`` s old or more."""
        ...


class LocalUserGate:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._last: dict[int, float] = {}

    async def admit(self, user_id: int, interval: float) -> bool:
        now = self.clock()
        previous = self._last.get(user_id)
        if previous is not None and now - previous < interval:
            return False
        self._last[user_id] = now
        if len(self._last) > SWEEP_AT:
            self._last = {uid: t for uid, t in self._last.items() if now - t < interval}
        return True


class RedisUserGate:
    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix  # e.g. "solobot:<bot id>:throttle:"
        self.outage = OutageLog("throttling", "every update goes through (fail-open)")
        self._errors = redis_errors()

    async def admit(self, user_id: int, interval: float) -> bool:
        try:
            admitted = await self.redis.set(f"{self.prefix}{user_id}", 1, px=max(1, round(interval * 1000)), nx=True)
        except self._errors as exc:
            self.outage.failed(exc)
            return True
        self.outage.recovered()
        return bool(admitted)
