"""The module runtime: one supervised process per module, forked from a zygote."""

from .config import RuntimeConfig
from .host_services import HostServices
from .process import ModuleLoadError
from .runtime import ModuleRuntime, UnknownModuleError
from .supervisor import ModuleState

__all__ = ["HostServices", "ModuleLoadError", "ModuleRuntime", "ModuleState", "RuntimeConfig", "UnknownModuleError"]
