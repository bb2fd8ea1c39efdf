"""``solobot run --workers N`` (or ``WORKERS=N``): N identical worker processes behind one port.

The arbiter is a small parent, like gunicorn's: it serves no update and runs no module; it only
owns the workers' lifecycle —

* it opens the web server's listening socket **once** (``WEB_HOST:WEB_PORT``), accepts, and hands
  each connection to the serving worker with the fewest open ones (``connection_handoff``: over a
  socket pair per worker, ``SOLOBOT_CONNECTIONS_FD``). Chosen over one ``SO_REUSEPORT`` socket per
  worker: with those, connections still queued on a socket when its worker closes it (a stop, a
  rolling restart) are reset — lost webhook deliveries; and over every worker accepting on the
  shared socket: kept-alive connections stay where a burst of accepts put them, often all on one
  worker. A stopping worker is withdrawn first; connections wait in the kernel's queue while no
  worker serves;
* it starts the embedded PostgreSQL once when there is no ``DATABASE_URL`` and gives workers its
  URL (each worker would otherwise start its own server on the shared data folder);
* it spawns each worker (``python -m workers.worker``), waits for its "ready" byte, reaps it when
  it exits and restarts it after a backoff (1 s doubling to 30 s; reset once a worker has lived a
  minute);
* SIGTERM / SIGINT: forwarded to every worker (each drains: finishes its updates in flight, stops
  its modules), then the arbiter exits; a worker still alive after ``STOP_SECONDS`` is killed;
* SIGHUP: a rolling restart — for each worker in turn, start its successor, wait until it
  serves, then stop the old one (which drains). A successor that fails to start ends the roll
  and leaves the old workers serving.

Several workers need webhook mode (long polling cannot be shared: Telegram hands each update to
one ``getUpdates`` caller and two pollers conflict) and ``REDIS_URL`` (FSM, throttling and rate
limits shared): :func:`check_settings` refuses to start without them, saying what to set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from config import ConfigError, Settings

from .connection_handoff import ConnectionDealer, channel_pair
from .identity import INDEX_ENV
from .worker import CONNECTIONS_FD_ENV, READY_FD_ENV

log = logging.getLogger("solobot.arbiter")

WORKER_COMMAND = (sys.executable, "-m", "workers.worker")
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # a worker that lived this long restarts without backoff
READY_SECONDS = 120.0  # a worker not serving by then is killed (cold start: zygote, modules, database)
STOP_SECONDS = 45.0  # a stopping worker's drain (20 s) plus its modules' stop
LISTEN_BACKLOG = 2048


def check_settings(settings: Settings, workers: int) -> None:
    """Refuse a configuration several workers cannot serve correctly, saying what to set."""
    if workers <= 1:
        return
    if not getattr(settings, "webhook_url", None):
        raise ConfigError(
            f"WORKERS={workers} needs webhook mode: set WEBHOOK_URL (and WEBHOOK_SECRET) — "
            "long polling cannot be shared by several workers"
        )
    if not settings.redis_url:
        raise ConfigError(
            f"WORKERS={workers} needs REDIS_URL (e.g. redis://127.0.0.1:6379/0): FSM states, throttling and "
            "rate limits must be shared by the workers"
        )


def open_listener(host: str, port: int) -> socket.socket:
    """The one listening socket: the arbiter accepts on it and hands the connections to its workers."""
    try:
        sock = socket.create_server((host, port), backlog=LISTEN_BACKLOG, reuse_port=False)
    except OSError as exc:
        problem = f"cannot listen on WEB_HOST:WEB_PORT {host}:{port}: {exc.strerror}"
        raise ConfigError(f"{problem}; free the port or set WEB_PORT") from None
    return sock


@dataclass(eq=False)  # one object per process: hashed by identity
class WorkerProcess:
    index: int
    process: asyncio.subprocess.Process
    ready: asyncio.Future[bool]
    connections: socket.socket  # the arbiter's end of the pair it hands connections over
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid


class Arbiter:
    """``await Arbiter(2, database_url, listener).run()`` until SIGTERM/SIGINT (or ``stop()``)."""

    def __init__(
        self,
        workers: int,
        database_url: str,
        listener: socket.socket,
        *,
        command: Sequence[str] = WORKER_COMMAND,
        env: dict[str, str] | None = None,
    ) -> None:
        self.count = workers
        self.database_url = database_url
        self.listener = listener
        self.dealer = ConnectionDealer(listener)
        self.command = tuple(command)
        self.env = dict(os.environ if env is None else env)
        self.slots: dict[int, WorkerProcess] = {}
        self._stopping = asyncio.Event()
        self._rolling = asyncio.Lock()
        self._retiring: set[WorkerProcess] = set()
        self._spawned: list[WorkerProcess] = []  # every worker started, until the arbiter sees it exit
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return host, port

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.roll)
        try:
            host, port = self.address
            log.info("arbiter (pid %d): %d workers on %s:%d", os.getpid(), self.count, host, port)
            self._spawn_task(self.dealer.run())
            first = await asyncio.gather(*(self._start(index) for index in range(self.count)))
            for worker in first:
                self._spawn_task(self._keep(worker.index))
            await self._stopping.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            await self._stop_all()

    def stop(self) -> None:
        if not self._stopping.is_set():
            log.info("arbiter: stopping every worker (each drains its updates in flight)")
        self._stopping.set()

    def roll(self) -> None:
        """SIGHUP: restart the workers one at a time (a roll already running finishes first)."""
        self._spawn_task(self.rolling_restart())

    async def rolling_restart(self) -> bool:
        """Each worker in turn: successor up and serving, then the old one drained. False: a successor failed."""
        async with self._rolling:
            log.info("arbiter: rolling restart of %d workers", len(self.slots))
            for index in sorted(self.slots):
                if self._stopping.is_set():
                    return False
                old = self.slots[index]
                new = await self._start(index)
                if not await new.ready:
                    log.error("arbiter: the new worker %d did not start; the rolling restart stops here", index)
                    return False
                self.slots[index] = new
                await self._retire(old)
            log.info("arbiter: rolling restart done")
            return True

    async def _start(self, index: int) -> WorkerProcess:
        read_end, write_end = os.pipe()
        ours, theirs = channel_pair()
        env = {
            **self.env,
            INDEX_ENV: str(index),
            CONNECTIONS_FD_ENV: str(theirs.fileno()),
            READY_FD_ENV: str(write_end),
            "DATABASE_URL": self.database_url,
            "WEB_PORT": str(self.address[1]),  # the port bound (WEB_PORT=0 picks one): the worker's web URL
            "WORKERS": str(self.count),  # what a worker sizes shared things by (module roles' connection limits)
        }
        try:
            process = await asyncio.create_subprocess_exec(*self.command, env=env, pass_fds=(theirs.fileno(), write_end))
        except BaseException:
            ours.close()
            raise
        finally:
            os.close(write_end)
            theirs.close()
        worker = WorkerProcess(index, process, asyncio.get_running_loop().create_future(), ours)
        self.slots.setdefault(index, worker)
        self._spawned = [w for w in self._spawned if w.process.returncode is None] + [worker]
        self._spawn_task(self._await_ready(worker, read_end))
        log.info("arbiter: worker %d started (pid %d)", index, process.pid)
        return worker

    async def _await_ready(self, worker: WorkerProcess, read_end: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", 0))
        try:
            async with asyncio.timeout(READY_SECONDS):
                ready = await reader.read(1) == b"1"  # b"": the worker died (or closed the pipe) first
        except TimeoutError:
            log.error("arbiter: worker %d (pid %d) not serving after %.0f s; killing it", worker.index, worker.pid, READY_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            ready = False
        except asyncio.CancelledError:  # the arbiter stops
            worker.connections.close()
            worker.ready.cancel()
            raise
        finally:
            transport.close()
        admissible = worker.process.returncode is None and not self._stopping.is_set() and worker not in self._retiring
        if ready and admissible:  # not a worker already told to stop (a roll overtook its slow start)
            log.info("arbiter: worker %d (pid %d) serves", worker.index, worker.pid)
            self.dealer.admit(worker, worker.connections, f"worker {worker.index} (pid {worker.pid})")
        else:
            worker.connections.close()
        worker.ready.set_result(ready)

    async def _keep(self, index: int) -> None:
        """Restart slot ``index``'s worker whenever it dies (not when the arbiter or a roll stops it)."""
        failures = 0
        while not self._stopping.is_set():
            worker = self.slots[index]
            code = await worker.process.wait()
            self.dealer.withdraw(worker)
            if self._stopping.is_set():
                return
            if self.slots[index] is not worker:
                continue  # replaced by a rolling restart: watch the successor
            lived = time.monotonic() - worker.started
            failures = 0 if lived >= HEALTHY_AFTER else failures + 1
            pause = 0.0 if failures == 0 else min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
            what = f"exited with {_describe(code)} after {lived:.0f} s"
            log.error("arbiter: worker %d (pid %d) %s; restarting in %.0f s", index, worker.pid, what, pause)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            async with self._rolling:
                if self.slots[index] is worker:
                    self.slots[index] = await self._start(index)

    async def _retire(self, worker: WorkerProcess) -> None:
        """SIGTERM (the worker drains), then SIGKILL if it outstays ``STOP_SECONDS``."""
        self._retiring.add(worker)
        self.dealer.withdraw(worker)  # before the signal: nothing new reaches a draining worker
        try:
            if worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_SECONDS):
                    code = await worker.process.wait()
            except TimeoutError:
                log.error("arbiter: worker %d (pid %d) draining for %.0f s; killed", worker.index, worker.pid, STOP_SECONDS)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                code = await worker.process.wait()
            log.info("arbiter: worker %d (pid %d) stopped (%s)", worker.index, worker.pid, _describe(code))
        finally:
            self._retiring.discard(worker)

    async def _stop_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        everyone = {*self.slots.values(), *self._retiring, *self._spawned}  # a roll's successor included
        await asyncio.gather(*(self._retire(worker) for worker in everyone))

    def _spawn_task(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("arbiter: %s failed", task.get_coro(), exc_info=task.exception())


async def _create_core_tables(url: str) -> None:
    """Once, before the workers start: N workers creating the same tables at once collide."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from database.init_db import init_db

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await init_db(engine)
    finally:
        await engine.dispose()


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


async def run_workers(settings: Settings, workers: int) -> None:
    """``solobot run --workers N``: check the settings, open the port and the database, run the arbiter."""
    from database.embedded import resolve_database_url
    from host.control import refuse_if_bot_running

    check_settings(settings, workers)
    refuse_if_bot_running(settings)  # another bot (or arbiter) on this DATA_DIR
    listener = open_listener(settings.web_host, settings.web_port)
    try:
        # DATABASE_URL, else the embedded server started once, here, for every worker.
        url, close_database = await resolve_database_url(settings)
        try:
            await _create_core_tables(url)
            await Arbiter(workers, url, listener).run()
        finally:
            await close_database()
    finally:
        listener.close()
