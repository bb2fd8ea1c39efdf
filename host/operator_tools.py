"""What an operator (or module developer) uses on a running bot: log buffer, control socket, hot reload.

``SolobotHost._start`` calls :func:`refuse_if_bot_running` first (before the database) and
:func:`attach_operator_tools` once the module runtime is up; each part's cleanup goes on the
host's exit stack, so they stop before the runtime does.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio

from runtime.supervision.task_owner import TaskOwner

from .control import ControlServer, ControlSocketBusy, control_socket_path, refuse_if_bot_running
from .control_catalog import CatalogCommands
from .log_buffer import ModuleLogBuffer
from .reloader import ModuleReloader

if TYPE_CHECKING:
    from .app import SolobotHost

log = logging.getLogger("solobot")


async def attach_operator_tools(host: SolobotHost, stack: AsyncExitStack, *, reload: bool) -> None:
    """Start the module log buffer, the control socket and (with ``reload``) hot reload of modules.

    Raises ``host.control.ControlSocketBusy`` (a ``ConfigError``) when another live bot serves
    the same control socket: two bots on one data folder would fight over it.
    """
    runtime = host.runtime
    if runtime is None:
        raise RuntimeError("attach_operator_tools needs the module runtime: call it at the end of SolobotHost._start")
    logs = ModuleLogBuffer()
    stack.enter_context(logs.attached())
    catalog = CatalogCommands(host.catalog) if host.catalog is not None else None
    coordination = host.coordination
    workers = coordination.status if coordination is not None else None
    server = ControlServer(runtime, logs, control_socket_path(host.settings), catalog, workers_status=workers)
    if not host.shares_data_dir:
        host.control = await stack.enter_async_context(server)
    else:
        # Workers on one machine share DATA_DIR and so the address: one serves it, the others take
        # it over when it leaves (every worker answers for all: operations reach every worker).
        turns = TaskOwner("control-socket")
        stack.push_async_callback(turns.aclose)
        turns.spawn(_serve_when_free(host, server), "control-socket")
    if reload:
        await stack.enter_async_context(ModuleReloader(runtime, runtime.modules_dir))


CONTROL_RETRY_SECONDS = 1.0


async def _serve_when_free(host: SolobotHost, server: ControlServer) -> None:
    """Serve the control socket as soon as no other worker does; until this worker stops."""
    while True:
        try:
            async with server:
                host.control = server
                await anyio.sleep_forever()
        except ControlSocketBusy:
            await anyio.sleep(CONTROL_RETRY_SECONDS)
        finally:
            host.control = None


__all__ = ["attach_operator_tools", "refuse_if_bot_running"]
