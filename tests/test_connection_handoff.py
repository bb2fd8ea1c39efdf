"""``workers.connection_handoff`` in one process: real sockets, real descriptor passing, real aiohttp.

``test_arbiter`` runs the dealer in the arbiter over worker processes; this is about the edges a
whole cluster rarely reaches on cue: a worker stopping with connections still in its end of the
pair, a worker gone, descriptors that must not reach child processes.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import wait_until
from workers.connection_handoff import ConnectionDealer, HandedConnectionsSite, _receive_connection, channel_pair

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving_site(name: str, channel: socket.socket) -> AsyncIterator[HandedConnectionsSite]:
    """An aiohttp server answering ``name``, fed by ``channel``; cleaned up as a worker does."""

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(text=name)

    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    site = HandedConnectionsSite(runner, channel)
    await site.start()
    try:
        yield site
    finally:
        await runner.cleanup()


def listening() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0))


async def test_connections_go_to_the_least_loaded_worker_and_a_gone_one_is_withdrawn() -> None:
    listener = listening()
    dealer = ConnectionDealer(listener)
    ours_a, theirs_a = channel_pair()
    ours_b, theirs_b = channel_pair()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    async with serving_site("a", theirs_a), serving_site("b", theirs_b) as site_b:
        dealer.admit("a", ours_a, "worker a")
        dealer.admit("b", ours_b, "worker b")
        dealing = asyncio.get_running_loop().create_task(dealer.run())
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=6)) as kept:
                answers = await asyncio.gather(*(_get(kept, url) for _ in range(6)))
                assert sorted(answers) == ["a", "a", "a", "b", "b", "b"]
                await wait_until(lambda: dealer.loads() == {"worker a": 3, "worker b": 3})

            # b stops (as a worker told to stop does, not withdrawn first): the dealer sees its end
            # closed, withdraws it, and a's takes every new connection.
            await site_b.stop()
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
                assert {await _get(fresh, url) for _ in range(4)} == {"a"}
            assert list(dealer.loads()) == ["worker a"]
        finally:
            dealing.cancel()
            dealer.withdraw("a")
            listener.close()


async def test_a_stopping_worker_serves_what_was_handed_over_before_it_read_it() -> None:
    ours, theirs = channel_pair()
    server = listening()
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    async with serving_site("w", theirs) as site:
        # Handed over, and the site stops before its loop turn to read the channel comes.
        socket.send_fds(ours, [b"c"], [accepted.fileno()])
        accepted.close()
        stopping = asyncio.get_running_loop().create_task(site.stop())
        await asyncio.sleep(0)
        # The arbiter's next send fails (its end is shut for reading): it deals elsewhere.
        with pytest.raises(OSError):
            socket.send_fds(ours, [b"c"], [client.fileno()])
        await stopping
        reader, writer = await asyncio.open_connection(sock=client)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = await reader.read()
        writer.close()
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"w"), response[:80]
    ours.close()
    server.close()


def test_handed_over_descriptors_are_close_on_exec() -> None:
    ours, theirs = channel_pair()
    server = listening()
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    accepted.set_inheritable(True)  # even an inheritable descriptor arrives close-on-exec
    socket.send_fds(ours, [b"c"], [accepted.fileno()])
    message, fds, truncated = _receive_connection(theirs)
    try:
        assert (message, len(fds), truncated) == (b"c", 1, False)
        assert not os.get_inheritable(fds[0])
    finally:
        for fd in fds:
            os.close(fd)
        for sock in (ours, theirs, server, client, accepted):
            sock.close()


async def _get(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        response.raise_for_status()
        await asyncio.sleep(0.05)  # hold the connection a moment: a batch opens one each
        return await response.text()
