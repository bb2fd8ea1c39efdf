"""A real ``redis-server`` (Debian's binary) for tests of state shared by several bot workers.

One server per pytest session (per xdist worker), listening on a unix socket in the session's
temp folder only (``port 0``: no TCP port to race another run for), persisting nothing
(``save ""``, ``appendonly no``). Each test gets a database number of its own (``redis_url``),
so tests never see each other's keys and nothing needs flushing.

A test that takes Redis away mid-run (an outage) starts a private :class:`RedisServer` and
calls ``stop()``/``start()`` on it: the socket path stays the same, so clients reconnect to the
same URL.

``redis-server`` must be installed (``.ci/run`` installs Debian's ``redis-server`` when missing).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

REDIS_SERVER = "redis-server"
DATABASES = 4096  # one per test of a session; more than a session ever needs
START_WAIT = 10.0  # seconds for the socket to accept connections


class RedisServer:
    """``with RedisServer(folder) as server: server.url(db)`` — a throwaway redis-server in ``folder``."""

    def __init__(self, folder: Path, tcp_port: int | None = None) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.tcp_port = tcp_port  # also listen on 127.0.0.1:<port> (benchmarks: what a worker elsewhere uses)
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"unix://{self.socket}?db={db}"

    def tcp_url(self, db: int = 0) -> str:
        assert self.tcp_port is not None, "started without tcp_port"
        return f"redis://127.0.0.1:{self.tcp_port}/{db}"

    def start(self) -> None:
        binary = shutil.which(REDIS_SERVER)
        if binary is None:
            raise RuntimeError(f"{REDIS_SERVER} is not installed: apt-get install redis-server (.ci/run does)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        argv = [
            binary,
            "--port", str(self.tcp_port or 0),
            "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--databases", str(DATABASES),
            "--dir", str(self.folder),
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + START_WAIT
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self._process.returncode}:\n{log}")
            try:
                with redis.Redis(unix_socket_path=str(self.socket)) as client:
                    if client.ping():
                        return
            except (redis.ConnectionError, FileNotFoundError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not accept connections on {self.socket} in {START_WAIT} s")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's (xdist worker's) redis-server."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


_database_numbers = itertools.count(1)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A Redis URL with a database of its own for this test (emptied after it); sync, so any test can use it."""
    import redis

    db = next(_database_numbers) % DATABASES or next(_database_numbers)
    url = redis_server.url(db)
    yield url
    if redis_server.running:
        with redis.Redis.from_url(url) as client:
            client.flushdb()
