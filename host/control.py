"""The control socket: how ``solobot modules ...`` talks to a running bot.

By default an *abstract* unix socket, ``@solobot-control-<sha256(resolved DATA_DIR)[:16]>``:
it has no file a module could reach, and Landlock's abstract-unix scope (ABI 6+) keeps sandboxed
module processes from connecting to abstract sockets created outside their domain, even when
they share the bot's uid. Only the bot's user (or root) is served (``SO_PEERCRED``).
``SOLOBOT_CONTROL_SOCKET`` overrides it with a path-named socket (mode 0600); Landlock does not
cover connecting to those, so a module running as the bot's user can reach an override: only
the default is module-proof. Abstract names are per network namespace: run ``solobot modules``
in the bot's. Protocol: one JSON object per line each way.

    → {"cmd": "status"}                              ← {"ok": true, "modules": [status, ...]}
    → {"cmd": "status", "module": "x"}               ← {"ok": true, "modules": [status of x]}
                                                       (several workers: also "workers": [{"instance", "slot",
                                                       "pid", "stale", "modules": {name: {"state", "pid"}}}, ...])
    → {"cmd": "list"}                                ← {"ok": true, "modules": [{"name", "state", "version", "enabled"}]}
    → {"cmd": "start"|"stop"|"restart"|"reload", "module": "x"}
                                                     ← {"progress": "reloading x…"} (then every 5 s while it runs)
                                                     ← {"ok": true, "module": status of x}
    → {"cmd": "logs", "module": "x", "lines": 100}   ← {"ok": true, "module": "x", "lines": [...]}
    → {"cmd": "logs", "module": "x", "follow": true} ← {"ok": true, ..., "follow": true}, then {"line": "..."} per new
                                                       line until the client disconnects
                                                       (several workers: every worker's lines, tagged with its
                                                       slot, and "unreachable": ["slot: why", ...] — ``worker_logs``)
    → {"cmd": "ping"}                                ← {"ok": true, "pid": ..., "modules_dir": ...}
    → {"cmd": "catalog", "action": ...}              ← see ``host.control_catalog`` (a bot with CATALOG_URL only)

Any failure is ``{"ok": false, "error": "what went wrong — what to do next"}`` (a module that
failed to load adds ``"traceback"``). A connection may send several requests in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from cli.control_address import (
    SOCKET_ENV,
    Address,
    HasDataDir,
    control_socket_path,
    describe_address,
    is_abstract,
)
from config import ConfigError
from runtime import ModuleRuntime, Operation, OperationResult, UnknownModuleError
from runtime.supervision.task_owner import TaskOwner

from .log_buffer import ModuleLogBuffer
from .worker_logs import WorkerLogs, tagged

if TYPE_CHECKING:
    from .control_catalog import CatalogCommands

log = logging.getLogger("solobot.control")

MAX_REQUEST = 64 * 1024
MAX_UNIX_PATH = 107  # sun_path is 108 bytes with the terminating NUL
PROGRESS_EVERY = 5.0  # seconds between "still reloading…" lines, so clients know the bot is alive
DEFAULT_LOG_LINES = 100
REFUSED_LINGER = 5.0  # seconds a refused client has to finish sending before the server closes
COMMANDS = ("status", "list", *(op.value for op in Operation), "logs", "ping", "catalog")


class ControlSocketBusy(ConfigError):
    """Another live bot serves the control socket; ``python bot.py`` prints this one line and exits 2."""


class ControlServer:
    """``async with ControlServer(runtime, logs, address):`` serves the control socket while inside.

    ``address`` is a path, or an abstract name (a str starting with NUL, see ``cli.control_address``).
    """

    def __init__(
        self,
        runtime: ModuleRuntime,
        logs: ModuleLogBuffer,
        path: Address | os.PathLike[str],
        catalog: CatalogCommands | None = None,
        workers_status: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None,
        worker_logs: WorkerLogs | None = None,
    ) -> None:
        """``workers_status``: every worker's state of each module (several workers), added to ``status``.
        ``worker_logs``: the other workers' lines, added to ``logs`` (the server of the shared address)."""
        self.runtime = runtime
        self.workers_status = workers_status
        self.worker_logs = worker_logs
        self.catalog = catalog  # None: the bot has no CATALOG_URL / CATALOG_PUBLIC_KEY
        self.logs = logs
        self.path: Address = path if is_abstract(path) else Path(path).absolute()
        self._server: asyncio.Server | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        # Conversations and the operations they started: the server's, ended when it closes.
        self._tasks = TaskOwner("control")

    async def __aenter__(self) -> ControlServer:
        if isinstance(self.path, Path):
            sock = _bind_private_socket(self.path)
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
        else:
            sock = _bind_abstract_socket(self.path)
        try:
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_REQUEST)
        except BaseException:
            sock.close()
            self._remove_socket_file()
            raise
        log.info("control socket on %s (`solobot modules status` talks to it)", describe_address(self.path))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()  # no new connections
        # In 3.11 Server.close() leaves accepted connections alone: they and the operations they
        # started are ours, so they end here (a follower's stream ends with the bot).
        await self._tasks.aclose()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._remove_socket_file()

    def _remove_socket_file(self) -> None:
        """Remove the socket file if it is still ours (a second bot may have replaced a stale one)."""
        if not isinstance(self.path, Path):
            return  # an abstract socket goes away with its last descriptor
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                os.unlink(self.path)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ connections

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conversation = self._tasks.spawn(self._converse(reader, writer), "connection")
        except RuntimeError:  # closing: no new conversations
            writer.close()
            return
        await conversation.wait()
        if not writer.is_closing():  # cancelled before it began
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            problem = _peer_problem(writer)
            if problem:
                await _refuse(reader, writer, problem)
                return
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_REQUEST
                    await _refuse(reader, writer, f"request longer than {MAX_REQUEST} bytes: send one short JSON object per line")
                    return
                if not line:
                    return
                if line.strip():
                    await self._handle(line, reader, writer)
        except (ConnectionError, BrokenPipeError):
            pass  # the client went away: nothing to answer
        except Exception:
            log.exception("control socket: a request failed")
            with contextlib.suppress(Exception):
                await _send(writer, _error("the bot failed to answer (see its log): try again"))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, raw: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await _send(writer, _error('the request is not a JSON object: send one per line, e.g. {"cmd": "status"}'))
            return
        cmd = request.get("cmd")
        if cmd not in COMMANDS:
            await _send(writer, _error(f"unknown command {cmd!r}: use one of {', '.join(COMMANDS)}"))
            return
        module = request.get("module")
        if module is not None and (not isinstance(module, str) or not module):
            await _send(writer, _error('"module" must be a module name, e.g. {"cmd": "reload", "module": "hello_world"}'))
            return
        if cmd == "catalog":
            await self._catalog(request, writer)
            return
        if cmd == "ping":
            await _send(writer, {"ok": True, "pid": os.getpid(), "modules_dir": str(self.runtime.modules_dir)})
        elif cmd == "list":
            modules = [{k: s[k] for k in ("name", "state", "version", "enabled")} for s in self.runtime.status()]
            await _send(writer, {"ok": True, "modules": modules})
        elif cmd == "status":
            await _send(writer, await self._status(module))
        elif module is None:
            await _send(writer, _error(f'"{cmd}" needs a module: {{"cmd": "{cmd}", "module": NAME}}; {self._known()}'))
        elif cmd == "logs":
            await self._logs(module, request, reader, writer)
        else:
            await self._operation(cmd, module, writer)

    # --------------------------------------------------------------- commands

    async def _status(self, module: str | None) -> dict[str, Any]:
        """With memory and CPU (read in a worker thread): the status table shows them. ``list`` stays cheap."""
        try:
            statuses = await self.runtime.status_with_usage(module)
        except UnknownModuleError:
            return self._unknown(module or "")
        if self.catalog is not None:  # where each module came from: the catalog's install record
            statuses = [{**s, "source": self.catalog.source_of(s["name"])} for s in statuses]
        reply: dict[str, Any] = {"ok": True, "modules": statuses}
        if self.workers_status is not None:
            try:
                reply["workers"] = await self.workers_status()
            except Exception as exc:  # the database is away: this worker's own view still helps
                reply["workers_error"] = f"the other workers' states are unavailable: {exc}"
        return reply

    async def _operation(self, cmd: str, module: str, writer: asyncio.StreamWriter) -> None:
        try:
            self.runtime.module_status(module)  # also picks up a module folder added while running
        except UnknownModuleError:
            await _send(writer, self._unknown(module))
            return
        operation = Operation(cmd)
        await self._with_progress(self._operate(operation, module), f"{operation.progressive} {module}", writer)

    async def _with_progress(self, work: Coroutine[Any, Any, dict[str, Any]], what: str, writer: asyncio.StreamWriter) -> None:
        """Run ``work`` as the server's task, telling the client every few seconds; then send its reply."""
        await _send(writer, {"progress": f"{what}…"})
        # The server owns the operation, not the connection: a client that goes away (Ctrl-C)
        # must not cancel a reload halfway; the bot's shutdown does.
        replies: list[dict[str, Any]] = []

        async def run() -> None:
            replies.append(await work)

        task = self._tasks.spawn(run(), what)
        waited = 0.0
        while True:
            with anyio.move_on_after(PROGRESS_EVERY):
                await task.wait()
            if task.done():
                break
            waited += PROGRESS_EVERY
            await _send(writer, {"progress": f"still {what}… ({waited:.0f} s)"})
        if not replies:  # failed (logged by the task owner) or cancelled by the bot's shutdown
            await _send(writer, _error(f"{what} did not finish (see the bot's log): try again"))
            return
        await _send(writer, replies[0])

    async def _catalog(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        if self.catalog is None:
            await _send(writer, _error("this bot has no catalog: set CATALOG_URL and CATALOG_PUBLIC_KEY in .env and restart it"))
            return
        problem = self.catalog.problem(request)
        if problem is not None:
            await _send(writer, _error(problem))
        elif self.catalog.is_long(request):
            what = f"catalog {request['action']} {request.get('module') or ''}".strip()
            await self._with_progress(self.catalog.handle(request), what, writer)
        else:
            await _send(writer, await self.catalog.handle(request))

    async def _operate(self, operation: Operation, module: str) -> dict[str, Any]:
        try:
            result = await self.runtime.operate(module, operation)
        except UnknownModuleError:
            return self._unknown(module)
        return self._reply(result)

    def _reply(self, result: OperationResult) -> dict[str, Any]:
        module, cmd = result.module, result.operation.value
        if result.ok:
            return {"ok": True, "module": self.runtime.module_status(module)}
        if not result.load_failed:
            return _error(f"{cmd} {module} failed: {result.error} — see the bot's log, then try again")
        if result.still_serving:
            message = (
                f"{module}: the new code failed to load; the previous version keeps serving: {result.error} — "
                f"fix it and run `solobot modules reload {module}`"
            )
        else:
            state = self.runtime.module_status(module)["state"]
            message = (
                f"{module} failed to start ({state}): {result.error} — fix it and run `solobot modules start {module}`; "
                f"`solobot modules logs {module}` shows its log"
            )
        return {**_error(message), "traceback": result.traceback}

    async def _logs(
        self, module: str, request: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if module not in self.logs.modules:
            try:
                self.runtime.module_status(module)
            except UnknownModuleError:
                await _send(writer, self._unknown(module))
                return
        count = request.get("lines", DEFAULT_LOG_LINES)
        if type(count) is not int or count < 0:
            await _send(writer, _error(f'"lines" must be a whole number ≥ 0, e.g. {DEFAULT_LOG_LINES}'))
            return
        workers = self.worker_logs
        if not request.get("follow"):
            lines = self.logs.tail(module, count)
            if workers is None:
                await _send(writer, {"ok": True, "module": module, "lines": lines})
                return
            lines, unreachable = await workers.tail(module, count, lines)
            await _send(writer, {"ok": True, "module": module, "lines": lines, "unreachable": unreachable})
            return
        async with contextlib.AsyncExitStack() as stack:
            backlog, own = await stack.enter_async_context(self.logs.follow(module, count))
            reply: dict[str, Any] = {"ok": True, "module": module, "lines": backlog, "follow": True}
            queues: list[tuple[asyncio.Queue[str], str | None]] = [(own, None)]  # (queue, the slot to tag its lines with)
            if workers is not None:
                backlog, reply["unreachable"], others = await stack.enter_async_context(workers.follow(module, count, backlog))
                reply["lines"] = backlog
                queues = [(own, workers.own_slot), (others, None)]  # the others' lines come tagged
            await _send(writer, reply)
            async with anyio.create_task_group() as group:

                async def until_client_leaves() -> None:
                    with contextlib.suppress(ConnectionError):
                        await _until_eof(reader)
                    group.cancel_scope.cancel()  # the client disconnected: stop following

                async def forward(queue: asyncio.Queue[str], slot: str | None) -> None:
                    try:
                        while True:
                            line = await queue.get()
                            await _send(writer, {"line": line if slot is None else tagged(line, slot)})
                    except ConnectionError:  # (errors in a task group would come out wrapped in a group)
                        group.cancel_scope.cancel()

                group.start_soon(until_client_leaves)
                for queue, slot in queues:
                    group.start_soon(forward, queue, slot)

    # ---------------------------------------------------------------- errors

    def _known(self) -> str:
        names = self.runtime.module_names
        return f"known modules: {', '.join(names)}" if names else f"there are no modules in {self.runtime.modules_dir}"

    def _unknown(self, module: str) -> dict[str, Any]:
        return _error(f"no module named {module!r}; {self._known()}")


# -------------------------------------------------------------------- helpers


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message, ensure_ascii=False, default=str).encode() + b"\n")
    await writer.drain()


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, problem: str) -> None:
    """Answer ``problem``, then read what the client still sends until it closes (for a while).

    Closing a socket with unread data in it resets the connection: a client still sending its
    request would get EPIPE, or lose the answer to ECONNRESET, instead of reading why it was refused.
    """
    await _send(writer, _error(problem))
    writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(REFUSED_LINGER):
            await _until_eof(reader)


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass  # a follower sends nothing more; anything it does send is ignored


def _peer_problem(writer: asyncio.StreamWriter) -> str | None:
    """Only our own user (or root) may operate the bot: the only check on an abstract socket, behind 0600 on a path."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    if uid in (os.getuid(), 0):
        return None
    return f"uid {uid} may not control this bot: run solobot as the bot's user"


def _bind_private_socket(path: Path) -> socket.socket:
    """A listening-ready unix socket at ``path`` that only our user can connect to.

    The socket is bound inside a fresh 0700 folder, chmod-ed to 0600 and only then linked to
    its public name: there is never a moment when another user could connect, and no
    process-wide umask change (other threads create files too). ``link`` refuses to replace a
    file, so two bots starting at once cannot both win.
    """
    parent = path.parent
    if not parent.exists():
        parent.mkdir(parents=True, mode=0o700)
        os.chmod(parent, 0o700)  # mkdir's mode is filtered by the umask
    _claim(path)
    staging = tempfile.mkdtemp(prefix=".s", dir=parent)
    temporary = os.path.join(staging, "s")
    if len(os.fsencode(temporary)) > MAX_UNIX_PATH:
        os.rmdir(staging)
        raise ConfigError(
            f"control socket path {path} is too long for a unix socket: "
            f"set {SOCKET_ENV} to a shorter path (e.g. /tmp/solobot.sock)"
        )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(temporary)
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise _busy(path) from None
    except BaseException:
        sock.close()
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        os.rmdir(staging)
    return sock


def _bind_abstract_socket(name: str) -> socket.socket:
    """A listening-ready abstract unix socket; the kernel refuses a name a live bot holds (EADDRINUSE)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(name)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _busy(name) from None
        raise
    return sock


def refuse_if_bot_running(settings: HasDataDir) -> None:
    """Raise :class:`ControlSocketBusy` if a live bot already serves this data folder's control socket.

    Side-effect free, so ``SolobotHost._start`` can call it first: a second bot on the same
    DATA_DIR must stop before it shares (and, leaving, stops) the embedded PostgreSQL or polls
    with the same token. Binding the socket later still refuses, should two start at once.
    """
    address = control_socket_path(settings)
    if isinstance(address, Path):
        address = address.absolute()
    if _probe(address) == "live":
        raise _busy(address)


def _claim(path: Path) -> None:
    """Refuse a path a live bot serves; remove a stale socket left by a bot that died."""
    state = _probe(path)
    if state == "live":
        raise _busy(path)
    if state == "stale":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        log.info("removed the stale control socket %s (its bot is gone)", path)


def _probe(path: Address) -> str:
    """``"absent"``, ``"stale"`` (a socket nobody listens on) or ``"live"``."""
    if isinstance(path, Path):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return "absent"
        if not stat.S_ISSOCK(st.st_mode):
            raise ConfigError(f"{path} exists and is not a socket: move it away, or set {SOCKET_ENV} to another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        return "stale" if isinstance(path, Path) else "absent"  # nobody holds the abstract name
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "live"  # a timeout (backlog full) or permission denied: someone live holds it
    finally:
        probe.close()
    return "live"


def _busy(path: Address) -> ControlSocketBusy:
    shown = describe_address(path)
    return ControlSocketBusy(
        f"another bot is already running with the control socket {shown}: stop it first "
        f"(`solobot modules status --socket {shown}` talks to it), or give this bot its own DATA_DIR or {SOCKET_ENV}"
    )
