"""The redis-server fixture: a real server, a database per test, and an outage a test can cause."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio

from tests.redis_fixtures import RedisServer

pytestmark = pytest.mark.anyio


async def test_each_test_gets_an_empty_database_of_its_own(redis_url: str, redis_server: RedisServer) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    other = redis.asyncio.Redis.from_url(redis_server.url(0))
    try:
        await client.set("k", "v")
        assert await client.get("k") == b"v"
        assert await other.get("k") is None
    finally:
        await client.aclose()
        await other.aclose()


async def test_a_private_server_can_be_stopped_and_started_at_the_same_url(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "r") as server:
        client = redis.asyncio.Redis.from_url(server.url())
        try:
            assert await client.ping()
            server.stop()
            with pytest.raises(redis.ConnectionError):
                await client.ping()
            server.start()
            assert await client.ping()  # the same client reconnects
        finally:
            await client.aclose()
