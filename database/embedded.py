"""An embedded PostgreSQL server for when no ``DATABASE_URL`` is configured.

Built on the ``pgserver`` wheel (PostgreSQL binaries shipped inside a Python package). The
server listens on a unix socket inside its data folder only (no TCP port), with ``trust``
authentication for the local ``postgres`` user, so the socket folder's permissions are the
access control. When running as root, pgserver runs the postmaster as a system user
``pgserver`` (PostgreSQL refuses to run as root) and makes the data folder's parents traversable.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from logger import logger

if TYPE_CHECKING:
    from config import Settings

STOP_WAIT = 10.0  # seconds to wait for the postmaster to exit before killing it


class EmbeddedPostgres:
    """``with EmbeddedPostgres(folder) as pg: pg.url`` — a private PostgreSQL kept in ``folder``.

    ``start`` initialises the folder on first use (``initdb``) and starts the postmaster, or
    adopts one already running on that folder (a previous run that died); ``stop`` shuts it down
    and waits until the process is really gone.
    """

    def __init__(self, data_dir: str | Path, database: str = "postgres") -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.database = database
        self._server: Any = None
        self._pid: int | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while started."""
        return self._pid

    @property
    def socket_dir(self) -> Path:
        info = self._require().get_postmaster_info()
        return Path(info.socket_dir)

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of :attr:`database` (``postgresql+asyncpg``, over the unix socket)."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        # asyncpg takes a socket folder as "host"; SQLAlchemy passes URL query items through to
        # asyncpg.connect, so "?host=/folder" is how a unix socket goes into an asyncpg URL.
        return f"postgresql+asyncpg://postgres@/{quote(database, safe='')}?host={quote(str(self.socket_dir), safe='/')}"

    def start(self) -> EmbeddedPostgres:
        if self._server is not None:
            return self
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (services, containers) and falls back
            # to /tmp/runtime-<uid> for pgserver's lock file, which is fine here.
            warnings.simplefilter("ignore")
            import pgserver  # heavy (psutil, platformdirs, fasteners): only when really needed

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        logger.info("starting embedded PostgreSQL in %s", self.data_dir)
        _forget_dead_handles(self.data_dir)
        # stop() does the real work; cleanup_mode="stop" only adds pgserver's atexit hook as a
        # backstop for an interpreter that exits without calling stop().
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        self._pid = self._server.get_pid()
        return self

    def stop(self) -> None:
        """Stop the postmaster (fast shutdown) and wait for it to exit; kill it if it will not."""
        server, self._server = self._server, None
        if server is None:
            return
        import psutil
        from pgserver._commands import pg_ctl

        pid, self._pid = self._pid, None
        logger.info("stopping embedded PostgreSQL (pid %s)", pid)
        with contextlib.suppress(Exception):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=server.system_user, timeout=STOP_WAIT)
        with contextlib.suppress(Exception):
            # Forget pgserver's per-folder handle so a later start() in this process is fresh.
            server.global_process_id_list.put([])
            type(server)._instances.pop(self.data_dir, None)
        if pid is None:
            return
        try:
            process = psutil.Process(pid)
            process.wait(STOP_WAIT)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            logger.warning("embedded PostgreSQL (pid %s) ignored pg_ctl stop: killing it", pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
                process.wait(STOP_WAIT)

    def _require(self) -> Any:
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return self._server

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _forget_dead_handles(data_dir: Path) -> None:
    """Drop pids of dead processes from pgserver's handle list in ``data_dir``.

    pgserver stops the server at exit only when the exiting process is the last pid listed; a
    process that was killed stays listed for ever and would keep the server running after us.
    """
    import psutil

    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))
    except (OSError, ValueError, TypeError):
        pass  # no list yet (fresh folder) or unreadable: pgserver recreates it


Closer = Callable[[], Awaitable[None]]


async def resolve_database_url(settings: Settings) -> tuple[str, Closer]:
    """The URL the host should bind to, and an async ``close()`` to call at shutdown.

    ``DATABASE_URL`` set → that URL, nothing to close. Absent → an embedded server under
    ``<data_dir>/postgres`` is started (in a worker thread: initdb takes a few seconds) and the
    closer stops it.
    """
    if settings.database_url:

        async def nothing() -> None:
            return None

        return settings.database_url, nothing

    import anyio

    pg = EmbeddedPostgres(Path(settings.data_dir) / "postgres")
    await anyio.to_thread.run_sync(pg.start)

    async def close() -> None:
        await anyio.to_thread.run_sync(pg.stop)

    return pg.url, close
