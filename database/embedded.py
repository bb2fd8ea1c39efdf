"""An embedded PostgreSQL server for when no ``DATABASE_URL`` is configured.

Built on the binaries of the ``pgserver`` wheel (PostgreSQL shipped inside a Python package),
but started here with ``pg_ctl`` rather than through ``pgserver.get_server``, which hard-codes
"no TCP": module processes run as their own unprivileged uid and reach the database only over
TCP ``127.0.0.1:<port>`` (their Landlock ruleset allows connecting to that one port), so the
server listens on

* a unix socket in its data folder (mode 0700): the host's own connections (:attr:`url`);
* TCP on 127.0.0.1, on a port free at start (:attr:`port`): module roles (``sandbox.db_roles``).

Every connection authenticates with a password (SCRAM-SHA-256; ``pg_hba.conf`` is rewritten at
each start, so a folder made by an older version that trusted everyone is tightened too). The
owner ``postgres`` gets a random password on first start, kept in ``owner.password`` (0600) in
the data folder; the owner URL carries it. Why the owner needs one although its socket lives
in a 0700 folder: when the bot does not run as root, module processes share the bot's uid and
Landlock does not restrict connecting to a unix socket, so ``trust`` on the socket would let a
module connect as the owner. The password is read from a file Landlock does forbid them.

When running as root the postmaster runs as the system user ``pgserver`` (PostgreSQL refuses to
run as root), as ``pgserver`` itself does, and the data folder's parents are made traversable.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import secrets
import shlex
import socket
import subprocess
import tempfile
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
START_WAIT = 30  # seconds pg_ctl waits for the server to accept connections
START_ATTEMPTS = 3  # a port found free can be taken before the postmaster binds it: try another
OWNER = "postgres"
PASSWORD_FILE = "owner.password"
LISTEN_HOST = "127.0.0.1"
SYSTEM_USER = "pgserver"  # runs the postmaster when we are root
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for ".s.PGSQL.<port>"

PG_HBA = """\
# Written by database/embedded.py at every start: edits here are lost.
# The host connects over the unix socket, module roles over TCP 127.0.0.1; all with a password.
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
"""


class EmbeddedPostgres:
    """``with EmbeddedPostgres(folder) as pg: pg.url`` — a private PostgreSQL kept in ``folder``.

    ``start`` initialises the folder on first use (``initdb``) and starts the postmaster, or
    adopts one this class started on that folder before (a previous run that died); ``stop``
    shuts it down and waits until the process is really gone.
    """

    def __init__(self, data_dir: str | Path, database: str = "postgres") -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.database = database
        self._pid: int | None = None
        self._port: int | None = None
        self._socket_dir: Path | None = None
        self._password: str | None = None
        self._system_user: str | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def running(self) -> bool:
        return self._pid is not None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while started."""
        return self._pid

    @property
    def socket_dir(self) -> Path:
        self._require()
        assert self._socket_dir is not None
        return self._socket_dir

    @property
    def host(self) -> str:
        """The TCP address module processes connect to."""
        return LISTEN_HOST

    @property
    def port(self) -> int:
        """The TCP port (also the socket's number)."""
        self._require()
        assert self._port is not None
        return self._port

    @property
    def url(self) -> str:
        """The owner's SQLAlchemy URL of :attr:`database` (``postgresql+asyncpg``, over the unix socket)."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        # asyncpg takes a socket folder as "host"; SQLAlchemy passes URL query items through to
        # asyncpg.connect, so "?host=/folder&port=N" is how a unix socket goes into an asyncpg URL.
        self._require()
        return (
            f"postgresql+asyncpg://{OWNER}:{quote(self._password or '', safe='')}@/{quote(database, safe='')}"
            f"?host={quote(str(self.socket_dir), safe='/')}&port={self.port}"
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EmbeddedPostgres:
        if self._pid is not None:
            return self
        with warnings.catch_warnings():
            # platformdirs (imported by pgserver) warns when XDG_RUNTIME_DIR is unset (services,
            # containers); pgserver's lock file then goes to /tmp/runtime-<uid>, which is fine.
            warnings.simplefilter("ignore")
            import pgserver  # noqa: F401  heavy (psutil, platformdirs, fasteners): only when really needed
        from pgserver._commands import initdb

        self._system_user = SYSTEM_USER if os.geteuid() == 0 else None
        self._prepare_folder()
        logger.info("starting embedded PostgreSQL in %s", self.data_dir)

        running = _postmaster_info(self.data_dir)
        password = self._read_password()
        if running is not None:
            if password is not None and running.hostname == LISTEN_HOST and running.port and running.socket_dir:
                self._adopt(running, password)
                return self
            logger.info("embedded PostgreSQL (pid %s) runs without TCP or password: restarting it", running.pid)
            self._pg_ctl_stop(running.pid)

        if not (self.data_dir / "PG_VERSION").exists():
            initdb(["--auth=trust", "--encoding=utf8", "-U", OWNER], pgdata=self.data_dir, user=self._system_user)
        if password is None:
            password = secrets.token_urlsafe(24)
            self._set_owner_password(password)
        self._write_hba()
        self._password = password
        self._launch()
        atexit.register(self._at_exit)
        return self

    def stop(self) -> None:
        """Stop the postmaster (fast shutdown) and wait for it to exit; kill it if it will not."""
        pid, self._pid = self._pid, None
        if pid is None:
            return
        atexit.unregister(self._at_exit)
        logger.info("stopping embedded PostgreSQL (pid %s)", pid)
        self._pg_ctl_stop(pid)

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    def _require(self) -> None:
        if self._pid is None:
            raise RuntimeError("embedded PostgreSQL is not started")

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ steps

    def _prepare_folder(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if self._system_user is None:
            return
        import pwd
        import stat

        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self._system_user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(self._system_user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def _read_password(self) -> str | None:
        try:
            text = (self.data_dir / PASSWORD_FILE).read_text().strip()
        except FileNotFoundError:
            return None
        return text or None

    def _set_owner_password(self, password: str) -> None:
        """Set the owner's password in single-user mode (the server is not running), then save it."""
        from pgserver._commands import POSTGRES_BIN_PATH

        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "--single",
                "-D",
                str(self.data_dir),
                "-F",
                "-c",
                "password_encryption=scram-sha-256",
                OWNER,
            ],
            input=f"ALTER ROLE {OWNER} PASSWORD '{password}';\n",
            capture_output=True,
            text=True,
            timeout=60,
            user=self._system_user,
            check=False,
        )
        if result.returncode != 0 or "ERROR:" in result.stderr:
            raise RuntimeError(f"could not set the embedded PostgreSQL owner's password: {result.stderr.strip()[-2000:]}")
        path = self.data_dir / PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")

    def _write_hba(self) -> None:
        path = self.data_dir / "pg_hba.conf"
        path.write_text(PG_HBA)
        if self._system_user is not None:
            import pwd

            entry = pwd.getpwnam(self._system_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o600)

    def _socket_folder(self) -> Path:
        if len(str(self.data_dir)) <= SOCKET_PATH_MAX - len("/.s.PGSQL.65535"):
            return self.data_dir
        # Too long for a unix socket path: a private folder under the temp dir, named after the data folder.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"solobot-pg-{digest}"
        folder.mkdir(mode=0o700, exist_ok=True)
        if self._system_user is not None:
            import pwd

            entry = pwd.getpwnam(self._system_user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        folder.chmod(0o700)
        return folder

    def _launch(self) -> None:
        from pgserver._commands import pg_ctl

        socket_dir = self._socket_folder()
        log = self.data_dir / "log"
        error: Exception | None = None
        for _ in range(START_ATTEMPTS):
            port = _free_port(LISTEN_HOST)
            options = f"-h {LISTEN_HOST} -p {port} -k {shlex.quote(str(socket_dir))} -c password_encryption=scram-sha-256"
            try:
                pg_ctl(
                    ["-w", "-t", str(START_WAIT), "-o", options, "-l", str(log), "start"],
                    pgdata=self.data_dir,
                    user=self._system_user,
                    timeout=START_WAIT + 10,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                error = exc
                logger.warning("embedded PostgreSQL did not start on port %s: %s", port, _log_tail(log))
                continue
            info = _postmaster_info(self.data_dir)
            if info is None:
                raise RuntimeError(f"embedded PostgreSQL started but wrote no postmaster.pid; log: {_log_tail(log)}")
            self._pid, self._port, self._socket_dir = info.pid, port, socket_dir
            logger.info("embedded PostgreSQL (pid %s) on %s:%s and %s", info.pid, LISTEN_HOST, port, socket_dir)
            return
        raise RuntimeError(f"embedded PostgreSQL would not start: {error}; log: {_log_tail(log)}")

    def _adopt(self, info: Any, password: str) -> None:
        from pgserver._commands import pg_ctl

        logger.info("adopting the embedded PostgreSQL already running (pid %s)", info.pid)
        self._write_hba()
        with contextlib.suppress(Exception):
            pg_ctl(["reload"], pgdata=self.data_dir, user=self._system_user, timeout=STOP_WAIT)
        self._pid, self._port, self._socket_dir, self._password = info.pid, info.port, info.socket_dir, password
        atexit.register(self._at_exit)

    def _pg_ctl_stop(self, pid: int | None) -> None:
        """``pg_ctl stop -m fast``; if that fails (e.g. the ``pgserver`` user lost access to a parent
        folder), SIGINT (fast shutdown) to the postmaster, then SIGKILL. A zombie counts as gone."""
        import signal

        import psutil
        from pgserver._commands import pg_ctl

        stopped = False
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._system_user, timeout=STOP_WAIT)
                stopped = True
        if pid is None:
            return
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        for sig in (None if stopped else signal.SIGINT, signal.SIGKILL):
            if sig is not None:
                if sig == signal.SIGKILL:
                    logger.warning("embedded PostgreSQL (pid %s) did not shut down: killing it", pid)
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(sig)
            if _wait_gone(process, STOP_WAIT):
                return
        logger.warning("embedded PostgreSQL (pid %s) is still there after SIGKILL", pid)


def _wait_gone(process: Any, timeout: float) -> bool:
    """Wait until ``process`` has exited (or is a zombie nobody reaped yet)."""
    import time

    import psutil

    deadline = time.monotonic() + timeout
    while True:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _postmaster_info(data_dir: Path) -> Any:
    """``pgserver.utils.PostmasterInfo`` of a postmaster running on ``data_dir``, else ``None``."""
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(data_dir)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not info.is_running() or info.process is None:
        return None
    try:
        cmdline = " ".join(info.process.cmdline())
    except Exception:
        return None
    return info if str(data_dir) in cmdline else None  # a recycled pid is not our postmaster


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def module_host_port(url: str) -> tuple[str, int]:
    """``(host, port)`` of a TCP database URL, for a module's Landlock TCP rule (port 5432 when absent).

    A unix-socket URL (the embedded owner URL) is refused: module processes reach the database
    only over TCP; pass the module's own DSN (``sandbox.db_roles.ensure_module_role``).
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    if not host or str(host).startswith("/"):
        raise ValueError(
            f"database URL {parsed.render_as_string(hide_password=True)} is not a TCP address (unix socket or no host)"
        )
    port = parsed.port or parsed.query.get("port") or 5432
    return str(host), int(port[0] if isinstance(port, tuple) else port)


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
