"""Operator operations on one module — start, stop, restart, reload — and what came of them.

The control socket (``solobot modules ...``), the admin panel and the web chat all run an
operation through ``ModuleRuntime.operate(name, op)`` and show its ``OperationResult`` in their
own words; none of them maps the runtime's exceptions by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from runtime.supervision.process import ModuleLoadError
from runtime.supervision.supervisor import ModuleState

if TYPE_CHECKING:
    from runtime.supervision.supervisor import ModuleSupervisor

log = logging.getLogger("solobot.runtime")


class Operation(StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    RELOAD = "reload"

    @property
    def progressive(self) -> str:
        """``"reloading"``: for "still reloading x…" lines."""
        return {"start": "starting", "stop": "stopping", "restart": "restarting", "reload": "reloading"}[self.value]


@dataclass(frozen=True)
class OperationResult:
    module: str
    operation: Operation
    ok: bool
    error: str = ""  # why it failed, for the operator
    traceback: str = ""  # the module's traceback when its code failed to load
    load_failed: bool = False  # the module's code failed to load (as opposed to the host failing)
    still_serving: bool = False  # a failed reload left the previous version serving


async def operate(supervisor: ModuleSupervisor, operation: Operation) -> OperationResult:
    """Run ``operation`` on the module; every failure becomes a result, logged with the module's name."""
    name = supervisor.name
    try:
        if operation is Operation.START:
            await supervisor.start()
        elif operation is Operation.STOP:
            await supervisor.stop()
        elif operation is Operation.RESTART:
            await supervisor.restart()
        else:
            await supervisor.reload()
    except ModuleLoadError as exc:  # logged by the supervisor with its state transition
        serving = operation is Operation.RELOAD and supervisor.state is ModuleState.RUNNING
        return OperationResult(name, operation, False, exc.message, exc.traceback, load_failed=True, still_serving=serving)
    except Exception as exc:  # the zygote died, the state file is unwritable, ...
        log.exception("[modules] %s: %s failed", name, operation.value)
        return OperationResult(name, operation, False, str(exc) or type(exc).__name__)
    return OperationResult(name, operation, True)
