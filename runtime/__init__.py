"""The module runtime: one supervised process per module, forked from a zygote."""

from .config import RuntimeConfig
from .process import ModuleLoadError
from .runtime import ModuleRuntime, UnknownModuleError
from .supervisor import ModuleState

__all__ = ["ModuleLoadError", "ModuleRuntime", "ModuleState", "RuntimeConfig", "UnknownModuleError"]
