"""The one Redis client of a bot worker, shared by its FSM storage, throttling, rate limits and quotas."""

from __future__ import annotations

from typing import Any

CONNECT_TIMEOUT = 2.0  # seconds: an unreachable Redis is noticed quickly, not after the OS's TCP timeout
COMMAND_TIMEOUT = 5.0  # seconds a command may take before the call counts as failed
RETRIES = 1  # one reconnect after a dropped connection (Redis restarted); more would stall every update in an outage


class RedisUnavailable(RuntimeError):
    """REDIS_URL is set but the ``redis`` package is missing."""


def connect(url: str) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` (``redis://``, ``rediss://`` or ``unix://``); connects lazily."""
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise RedisUnavailable(
            "REDIS_URL is set but the 'redis' package is not installed: pip install 'solobot-runtime[redis]'"
        ) from None
    return Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=COMMAND_TIMEOUT,
        retry=Retry(NoBackoff(), RETRIES),
    )


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a Redis call raises when Redis is unreachable or answers with an error."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)
