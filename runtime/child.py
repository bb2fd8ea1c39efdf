"""The module process: serve one module's hooks to the host over the IPC channel.

Entered from the zygote right after fork (``main``). The host speaks first with ``init``
(protocol version, module name, settings); the process imports the module and answers with
its manifest, or with the import traceback. Then it serves:

* ``call_hook {hook, kwargs}`` → ``{results, failures}``: the module's functions for that hook;
* ``ping`` → heartbeat;
* ``shutdown`` → finish what is in flight (bounded), then exit.

It calls the host for ``run_hooks`` (nested hook calls from module code) and sends its log
records as ``log`` notifications.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from hooks import hooks as hook_registry
from hooks.results import HookResults
from ipc import PROTOCOL_VERSION, Peer, RemoteError

from . import module_loader
from .protocol import Manifest

MAX_LOG_MESSAGE = 8_000


class ModuleService:
    """Request handlers of one module process."""

    def __init__(self, module: str, modules_dir: str) -> None:
        self.module = module
        self.modules_dir = modules_dir
        self.loaded: module_loader.LoadedModule | None = None
        self.peer: Peer | None = None
        self.shutdown_requested = asyncio.Event()
        self.drain_timeout = 2.0

    async def handle(self, method: str, params: Any) -> Any:
        if method == "call_hook":
            return await self.call_hook(params)
        if method == "ping":
            return {"t": time.time()}
        if method == "init":
            return self.init(params)
        if method == "shutdown":
            self.shutdown_requested.set()
            return None
        raise LookupError(f"unknown method {method!r}")

    def init(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("protocol") != PROTOCOL_VERSION:
            raise RuntimeError(f"protocol mismatch: host speaks {params.get('protocol')}, module process {PROTOCOL_VERSION}")
        if params.get("module") != self.module:
            raise RuntimeError(f"init for {params.get('module')!r} sent to the process of {self.module!r}")
        self.drain_timeout = float(params.get("drain_timeout", self.drain_timeout))
        hook_registry.set_dispatcher(self.run_hooks_on_host)
        module_loader.install_modules_package(self.modules_dir)
        started = time.perf_counter()
        self.loaded = module_loader.load_module(self.module)
        loaded = self.loaded
        return Manifest(
            protocol=PROTOCOL_VERSION,
            module=self.module,
            pid=os.getpid(),
            hooks=loaded.hooks,
            has_router=loaded.router is not None,
            webhook_path=loaded.webhook["path"] if loaded.webhook else None,
            fast_flow_key=loaded.fast_flow["payment_key"] if loaded.fast_flow else None,
            warnings=loaded.warnings,
            import_seconds=time.perf_counter() - started,
        ).to_wire()

    async def call_hook(self, params: dict[str, Any]) -> dict[str, Any]:
        name, kwargs = params["hook"], params.get("kwargs") or {}
        # The host enforces the timeout and cancels this task when it expires.
        results, failures = await hook_registry.call_registered(name, kwargs, timeout=None)
        return {
            "results": [_wire_safe(value) for value in results],
            "failures": [[f.function, f.kind, f.message, f.traceback] for f in failures],
        }

    async def run_hooks_on_host(self, name: str, kwargs: dict[str, Any]) -> HookResults:
        assert self.peer is not None
        try:
            reply = await self.peer.request("run_hooks", {"hook": name, "kwargs": kwargs})
        except RemoteError as exc:
            logging.getLogger("solobot").error("run_hooks(%r) failed on the host: %s", name, exc)
            return HookResults(name)
        return HookResults(name, [(source, value) for source, value in reply])


def _wire_safe(value: Any) -> Any:
    """Convert what module code commonly returns but cannot cross the wire as-is."""
    if isinstance(value, InlineKeyboardBuilder):
        return InlineKeyboardMarkup(inline_keyboard=value.export())
    if isinstance(value, (list, tuple)):
        return [_wire_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire_safe(v) for k, v in value.items()}
    return value


class ForwardToHost(logging.Handler):
    """Send this process's log records to the host, which tags them with the module name."""

    def __init__(self, peer: Peer) -> None:
        super().__init__(logging.DEBUG)
        self.peer = peer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            self.peer.notify(
                "log",
                {"level": record.levelno, "logger": record.name, "message": message[:MAX_LOG_MESSAGE], "time": record.created},
            )
        except Exception:
            self.handleError(record)


async def serve(channel_fd: int, module: str, modules_dir: str) -> int:
    service = ModuleService(module, modules_dir)
    sock = socket.socket(fileno=channel_fd)
    peer = await Peer.connect(sock, f"module {module}", service.handle)
    service.peer = peer
    root = logging.getLogger()
    root.handlers[:] = [ForwardToHost(peer)]
    root.setLevel(logging.INFO)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, service.shutdown_requested.set)

    shutdown = asyncio.ensure_future(service.shutdown_requested.wait())
    await asyncio.wait([shutdown, peer.closed], return_when=asyncio.FIRST_COMPLETED)
    if shutdown.done() and not peer.is_closed:
        await _drain(peer, service.drain_timeout)
    shutdown.cancel()
    peer.close("module process exiting")
    return 0


async def _drain(peer: Peer, timeout: float) -> None:
    """Let in-flight requests (other than the shutdown itself) finish, for at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while peer.serving_count > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # let the shutdown answer go out


def main(channel_fd: int, module: str, modules_dir: str) -> int:
    return asyncio.run(serve(channel_fd, module, modules_dir))
