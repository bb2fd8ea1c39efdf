"""Programs the arbiter test runs: the arbiter itself over a small stand-in worker.

``python -m tests.arbiter_programs arbiter N`` runs ``workers.arbiter.Arbiter`` with N workers of
``python -m tests.arbiter_programs worker`` on a free port (printed as ``port N``). The stand-in
keeps the worker contract (``workers.worker``: connections handed over by the arbiter, the ready
byte, SIGTERM = drain) and answers every request with its pid after ``?delay=`` seconds, so a
test can watch the arbiter deal, restart and roll workers without starting whole bots. Given
``SOLOBOT_LISTEN_FD`` instead, it accepts on that shared socket itself (the baseline
``benchmarks/bench_arbiter.py`` compares with).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

from aiohttp import web


async def worker() -> None:
    from workers.connection_handoff import HandedConnectionsSite

    ready = int(os.environ["SOLOBOT_READY_FD"])

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return web.Response(text=f"{os.getpid()} {os.environ['SOLOBOT_WORKER_INDEX']}")

    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app, shutdown_timeout=10)
    await runner.setup()
    if "SOLOBOT_LISTEN_FD" in os.environ:  # benchmarks/bench_arbiter.py's baseline: accept on a shared socket
        site: web.BaseSite = web.SockSite(runner, socket.socket(fileno=int(os.environ["SOLOBOT_LISTEN_FD"])))
    else:
        site = HandedConnectionsSite(runner, socket.socket(fileno=int(os.environ["SOLOBOT_CONNECTIONS_FD"])))
    await site.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    os.write(ready, b"1")
    os.close(ready)
    await stop.wait()
    await runner.cleanup()  # the drain a real worker does: stop accepting, finish what is in flight


async def arbiter(count: int) -> None:
    from workers.arbiter import Arbiter, open_listener

    listener = open_listener("127.0.0.1", 0)
    print("port", listener.getsockname()[1], flush=True)
    command = (sys.executable, "-m", "tests.arbiter_programs", "worker")
    await Arbiter(count, "postgresql+asyncpg://unused@/x", listener, command=command).run()


if __name__ == "__main__":
    asyncio.run(worker() if sys.argv[1] == "worker" else arbiter(int(sys.argv[2])))
