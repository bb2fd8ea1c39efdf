"""What an operator (or module developer) uses on a running bot: log buffer, control socket, hot reload.

``SolobotHost._start`` calls :func:`refuse_if_bot_running` first (before the database) and
:func:`attach_operator_tools` once the module runtime is up; each part's cleanup goes on the
host's exit stack, so they stop before the runtime does.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING

import anyio

from cli.control_address import Address
from runtime.supervision.task_owner import TaskOwner

from .control import ControlServer, ControlSocketBusy, control_socket_path, refuse_if_bot_running
from .control_catalog import CatalogCommands
from .log_buffer import ModuleLogBuffer
from .reloader import ModuleReloader
from .worker_logs import OtherWorker, WorkerLogs, worker_address

if TYPE_CHECKING:
    from workers.coordination import WorkerCoordination

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
    address = control_socket_path(host.settings)
    if not host.shares_data_dir or coordination is None:
        server = ControlServer(runtime, logs, address, catalog, workers_status=workers)
        host.control = await stack.enter_async_context(server)
    else:
        # Workers on one machine share DATA_DIR and so the address: one serves it, the others take
        # it over when it leaves (every worker answers for all: operations reach every worker).
        # Each also serves its own address, where the one serving the shared address asks it for
        # its module log lines (``worker_logs``).
        identity = coordination.identity
        own_address = worker_address(address, identity.pid)
        try:
            await stack.enter_async_context(ControlServer(runtime, logs, own_address, catalog, workers_status=workers))
        except ControlSocketBusy as exc:  # (pid namespaces differ, the socket folder or network namespace is shared)
            log.warning("this worker's own control address is taken (%s): `modules logs` will not show its lines", exc)
        others = WorkerLogs(identity.slot, partial(_other_workers_here, coordination, address))
        server = ControlServer(runtime, logs, address, catalog, workers_status=workers, worker_logs=others)
        turns = TaskOwner("control-socket")
        stack.push_async_callback(turns.aclose)
        turns.spawn(_serve_when_free(host, server), "control-socket")
    if reload:
        await stack.enter_async_context(ModuleReloader(runtime, runtime.modules_dir))


CONTROL_RETRY_SECONDS = 1.0


async def _other_workers_here(coordination: WorkerCoordination, shared: Address) -> list[OtherWorker]:
    """The live workers of this machine but this one (the heartbeats), with their own control addresses."""
    me = coordination.identity
    return [
        OtherWorker(worker["slot"], worker_address(shared, worker["pid"]))
        for worker in await coordination.status()
        if not worker["stale"] and worker["pid"] != me.pid and worker["slot"].rpartition("-")[0] == me.hostname
    ]


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
