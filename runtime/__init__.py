"""The module runtime: one supervised process per module, forked from a zygote."""

from runtime.aiogram_bridge.host_services import HostServices
from runtime.supervision.process import ModuleLoadError
from runtime.supervision.supervisor import ModuleState

from .config import RuntimeConfig
from .module_runtime import ModuleRuntime, UnknownModuleError
from .operations import Operation, OperationResult

__all__ = [
    "HostServices",
    "ModuleLoadError",
    "ModuleRuntime",
    "ModuleState",
    "Operation",
    "OperationResult",
    "RuntimeConfig",
    "UnknownModuleError",
]
