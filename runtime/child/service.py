"""Serve one module to the host.

The host speaks first with ``init`` (protocol version, module name, the bot's id and defaults,
the database URL for this module, the non-secret settings); the process sets up its bot, storage
and database, imports the module and answers with its manifest — or with the import traceback.
Then it serves, each request in its own task (the peer's):

* ``call_hook {hook, kwargs}`` → ``{results, failures}``;
* ``feed_update {update, admin, fsm}`` → ``{handled}``: the module's router on one update (``fsm``:
  ``[key, state]``, the module's FSM state the host read for it, so aiogram's FSM middleware needs no round trip);
* ``webhook {method, path, query, headers, body, remote}`` → ``{status, headers, body}``;
* ``fast_flow {event, kwargs}`` → ``None``: the module's fast-flow payment handler;
* ``ping`` → heartbeat; ``shutdown`` → finish what is in flight (bounded), run the router's
  shutdown observers (bounded), then exit.

The router's startup observers run at the end of ``init``; one that raises fails the start.

It calls the host for Bot API methods (``bot_api``), FSM storage (``fsm``) and nested hook calls
(``run_hooks``), and sends its log records as ``log`` notifications.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import site
import socket
import time
from collections.abc import Awaitable
from typing import Any

import anyio
from aiogram.types import TelegramObject, Update

from hooks import hooks as hook_registry
from hooks.results import HookResults
from ipc import PROTOCOL_VERSION, Peer, RemoteError
from runtime.aiogram_bridge.telegram_codec import telegram_codec
from runtime.calls.hook_arguments import kwargs_to_wire
from runtime.supervision.manifest import Manifest

from . import module_import
from .call_scope import CallScope
from .context import ModuleContext
from .log_forwarding import ForwardToHost, OutputForwarder
from .module_dispatcher import ModuleDispatcher
from .route_filters import describe_router
from .update_in_hand import HANDLING_UPDATE
from .webhook_request import run_webhook


class ModuleService:
    """Request handlers of one module process."""

    def __init__(self, module: str, modules_dir: str, sandbox_layers: list[str] | None = None) -> None:
        self.module = module
        self.modules_dir = modules_dir
        self.sandbox_layers = sandbox_layers or []
        self.loaded: module_import.LoadedModule | None = None
        self.context: ModuleContext | None = None
        self.dispatcher: ModuleDispatcher | None = None
        self.peer: Peer | None = None
        self.shutdown_requested = asyncio.Event()
        self.drain_timeout = 2.0

    async def handle(self, method: str, params: Any) -> Any:
        if method == "call_hook":
            return await self.call_hook(params)
        if method == "feed_update":
            return await self.feed_update(params)
        if method == "webhook":
            return await self.webhook(params)
        if method == "fast_flow":
            return await self.fast_flow(params)
        if method == "ping":
            return {"t": time.time()}
        if method == "init":
            return await self.init(params)
        if method == "shutdown":
            self.shutdown_requested.set()
            return None
        raise LookupError(f"unknown method {method!r}")

    async def init(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("protocol") != PROTOCOL_VERSION:
            raise RuntimeError(f"protocol mismatch: host speaks {params.get('protocol')}, module process {PROTOCOL_VERSION}")
        if params.get("module") != self.module:
            raise RuntimeError(f"init for {params.get('module')!r} sent to the process of {self.module!r}")
        assert self.peer is not None
        failed = [layer for layer in self.sandbox_layers if layer.startswith("FAILED: ")]
        if failed:
            raise RuntimeError(f"the sandbox could not be applied, so the module was not imported: {failed[0][8:]}")
        self.drain_timeout = float(params.get("drain_timeout", self.drain_timeout))
        hook_registry.set_dispatcher(self.run_hooks_on_host)
        self.context = context = ModuleContext.from_init(self.module, self.peer, params)
        _add_site_packages(params.get("site_packages"))
        module_import.install_modules_package(self.modules_dir)
        core_tables = _metadata_tables()
        started = time.perf_counter()
        self.loaded = loaded = module_import.load_module(self.module)
        import_seconds = time.perf_counter() - started
        await context.create_module_tables([t for name, t in _metadata_tables().items() if name not in core_tables])
        if loaded.router is not None:
            self.dispatcher = ModuleDispatcher(context, loaded.router)
            await self.dispatcher.startup()  # a failing observer fails the start, with its traceback
        return Manifest(
            protocol=PROTOCOL_VERSION,
            module=self.module,
            pid=os.getpid(),
            hooks=loaded.hooks,
            has_router=loaded.router is not None,
            webhook_path=loaded.webhook["path"] if loaded.webhook else None,
            fast_flow_key=loaded.fast_flow["payment_key"] if loaded.fast_flow else None,
            routes=describe_router(loaded.router) if loaded.router is not None else {},
            warnings=loaded.warnings,
            import_seconds=import_seconds,
        ).to_wire()

    async def call_hook(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.context is not None
        name, raw_kwargs = params["hook"], params.get("kwargs") or {}
        async with CallScope(self.context) as scope:
            kwargs = await scope.resolve_kwargs(raw_kwargs)
            # The host enforces the timeout and cancels this task when it expires.
            results, failures = await hook_registry.call_registered(name, kwargs, timeout=None)
            scope.failed = bool(failures)
        # An InlineKeyboardBuilder among the results crosses as its markup (the codec converts it).
        return {"results": results, "failures": [[f.function, f.kind, f.message, f.traceback] for f in failures]}

    async def feed_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.dispatcher is None:
            return {"handled": False}
        update = params.get("update")
        if not isinstance(update, Update):
            raise TypeError("feed_update needs the update")
        # The codec validated it once, bound to this process's bot (aiogram would re-validate an unbound one).
        admin = params.get("admin")
        sent = params.get("fsm")  # [key, state]: the FSM state the host read for this update (no round trip)
        storage = self.context.storage if self.context is not None else None
        token = None
        if storage is not None and isinstance(sent, list) and len(sent) == 2 and isinstance(sent[0], list):
            token = storage.sent_with_update(sent[0], sent[1] if isinstance(sent[1], str) else None)
        handling = HANDLING_UPDATE.set(update.update_id)  # named in the run_hooks the handler makes
        try:
            return {"handled": await self.dispatcher.feed(update, admin=admin if isinstance(admin, bool) else None)}
        finally:
            HANDLING_UPDATE.reset(handling)
            if storage is not None and token is not None:
                storage.forget_sent(token)

    async def webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.loaded is None or self.loaded.webhook is None:
            raise LookupError(f"module {self.module} serves no webhook")
        return await run_webhook(self.loaded.webhook["handler"], params)

    async def fast_flow(self, params: dict[str, Any]) -> None:
        if self.loaded is None or self.loaded.fast_flow is None or self.context is None:
            raise LookupError(f"module {self.module} has no fast-flow handler")
        event = params.get("event")
        if not isinstance(event, TelegramObject):
            raise TypeError("fast_flow needs the callback query or message that chose it")
        token = params.get("update_id")
        handling = HANDLING_UPDATE.set(token if type(token) is int else None)
        try:
            async with CallScope(self.context) as scope:
                kwargs = await scope.resolve_kwargs(params.get("kwargs") or {})
                kwargs.pop("session", None)
                await self.loaded.fast_flow["handler"](await scope.resolve(event), scope.session, **kwargs)
        finally:
            HANDLING_UPDATE.reset(handling)

    async def run_shutdown_observers(self) -> None:
        """The routers' ``@router.shutdown()`` observers, bounded like the drain (then the host kills)."""
        if self.dispatcher is None:
            return
        try:
            await asyncio.wait_for(self.dispatcher.shutdown(), self.drain_timeout)
        except TimeoutError:
            logging.getLogger("solobot").error("shutdown handlers did not finish within %.1f s", self.drain_timeout)
        except Exception:
            logging.getLogger("solobot").exception("a shutdown handler of the module's router failed")

    async def run_hooks_on_host(self, name: str, kwargs: dict[str, Any]) -> HookResults:
        assert self.peer is not None
        try:
            request = {"hook": name, "kwargs": kwargs_to_wire(kwargs), "update_id": HANDLING_UPDATE.get()}
            reply = await self.peer.request("run_hooks", request)
        except RemoteError as exc:
            logging.getLogger("solobot").error("run_hooks(%r) failed on the host: %s", name, exc)
            return HookResults(name)
        return HookResults(name, [(source, value) for source, value in reply])


def _add_site_packages(path: Any) -> None:
    """The module's own installed requirements (``solobot modules deps``), after the bot's libraries.

    Appended, so the core's packages always win; ``.pth`` files there are honoured, as pip's
    packages expect. Only this process ever has it: the zygote and other modules never do.
    """
    if path is None:
        return
    if not isinstance(path, str) or not os.path.isabs(path):
        raise TypeError(f"site_packages must be an absolute path, got {path!r:.100}")
    site.addsitedir(path)
    importlib.invalidate_caches()


def _metadata_tables() -> dict[str, Any]:
    from database.models import Base

    return dict(Base.metadata.tables)


async def serve(
    channel_fd: int, module: str, modules_dir: str, sandbox_layers: list[str] | None = None, output_fd: int | None = None
) -> int:
    service = ModuleService(module, modules_dir, sandbox_layers)
    sock = socket.socket(fileno=channel_fd)
    # An update from the host arrives bound to this process's bot (once it has one).
    codec = telegram_codec(lambda: service.context.bot if service.context is not None else None)
    peer = await Peer.connect(sock, f"module {module}", service.handle, codec=codec)
    service.peer = peer
    # Reported before any module code runs here, so module code cannot rewrite it.
    peer.notify("sandbox", {"layers": service.sandbox_layers})
    root = logging.getLogger()
    root.handlers[:] = [ForwardToHost(peer)]
    root.setLevel(logging.INFO)
    logging.raiseExceptions = False  # a failing log handler must not print (stderr is forwarded too)
    if output_fd is not None:
        OutputForwarder(output_fd).attach(asyncio.get_running_loop())
    # aiogram logs every update it handles at INFO; forwarded, those lines would use up the
    # module's log budget and crowd out its own warnings and errors.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, service.shutdown_requested.set)

    async with anyio.create_task_group() as group:  # until the host asks us to stop, or the channel closes

        async def stop_when(event: Awaitable[object]) -> None:
            await event
            group.cancel_scope.cancel()

        group.start_soon(stop_when, service.shutdown_requested.wait())
        group.start_soon(stop_when, asyncio.shield(peer.closed))
    if service.shutdown_requested.is_set() and not peer.is_closed:
        await _drain(peer, service.drain_timeout)
        await service.run_shutdown_observers()
    peer.close("module process exiting")
    if service.context is not None:
        await service.context.aclose()
    return 0


async def _drain(peer: Peer, timeout: float) -> None:
    """Let in-flight requests (other than the shutdown itself) finish, for at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while peer.serving_count > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)  # let the shutdown answer go out


def main(
    channel_fd: int, module: str, modules_dir: str, sandbox_layers: list[str] | None = None, output_fd: int | None = None
) -> int:
    return asyncio.run(serve(channel_fd, module, modules_dir, sandbox_layers, output_fd))
