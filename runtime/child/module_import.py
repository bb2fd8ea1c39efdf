"""Importing ``modules.<name>`` inside a module process, exactly as the seed lays a module out.

``modules`` is made a package whose ``__path__`` is the configured modules folder (any folder,
not only the project's ``modules/``). Module code is always compiled from source, never from a
``__pycache__``: a reload must run the file as it is now, even when an edit kept the size and
the modification second of the old one.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Router

from hooks import hooks as hook_registry
from runtime.discovery import is_valid_module_name

MODULES_PACKAGE = "modules"


@dataclass
class LoadedModule:
    """What a module registered at import time."""

    name: str
    package: types.ModuleType
    router: Router | None
    hooks: list[str]
    webhook: dict[str, Any] | None = None
    fast_flow: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


class ModuleCodeError(Exception):
    """Module code raised while the process set the module up.

    ``str()`` is ``prefix`` plus the last line of the traceback ("ZeroDivisionError: division by
    zero"); ``remote_traceback`` is the whole traceback, which the IPC layer sends to the host.
    """

    prefix = ""

    def __init__(self, traceback_text: str) -> None:
        lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
        super().__init__(self.prefix + (lines[-1] if lines else traceback_text))
        self.remote_traceback = traceback_text

    @classmethod
    def from_exception(cls, exc: BaseException) -> ModuleCodeError:
        return cls(module_traceback(exc))


class ModuleImportError(ModuleCodeError):
    """The module raised (or exited) while being imported."""


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        return compile(self.get_data(path), path, "exec", dont_inherit=True)


def install_modules_package(modules_dir: str | Path) -> None:
    root = os.path.realpath(modules_dir)
    package = types.ModuleType(MODULES_PACKAGE, "Solobot modules (set up by the module process)")
    package.__path__ = [root]
    package.__package__ = MODULES_PACKAGE
    sys.modules[MODULES_PACKAGE] = package

    def source_only_finder(path: str) -> importlib.machinery.FileFinder:
        real = os.path.realpath(path)
        if real == root or real.startswith(root + os.sep):
            return importlib.machinery.FileFinder(path, (_SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES))
        raise ImportError("not under the modules folder")

    sys.path_hooks.insert(0, source_only_finder)
    sys.path_importer_cache.clear()
    sys.dont_write_bytecode = True


def load_module(name: str) -> LoadedModule:
    """Import ``modules.<name>`` (and its ``router`` submodule) and collect its registrations."""
    if not is_valid_module_name(name):
        raise ModuleImportError(f"invalid module name {name!r}: it must be a Python identifier")
    package_name = f"{MODULES_PACKAGE}.{name}"
    try:
        package = importlib.import_module(package_name)
        router_module = _import_router_module(package_name) or package
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # sys.exit() at import is a load error too
        raise ModuleImportError.from_exception(exc) from None

    loaded = LoadedModule(name, package, None, hook_registry.registered_hook_names())
    router = getattr(router_module, "router", None) or getattr(package, "router", None)
    if isinstance(router, Router):
        loaded.router = router
    else:
        loaded.warnings.append(f"modules.{name} exports no aiogram Router named 'router' (in router.py or __init__.py)")
    loaded.webhook = _optional_integration(loaded, router_module, "get_webhook_data", ("path", "handler"))
    loaded.fast_flow = _optional_integration(loaded, router_module, "get_fast_flow_handler", ("payment_key", "handler"))
    if loaded.router is None and not (loaded.hooks or loaded.webhook or loaded.fast_flow):
        loaded.warnings.append(
            f"modules.{name} registers nothing (no router in router.py or __init__.py, no hooks, webhook or "
            "fast flow), so it does nothing: is its code in the folder the bot loads?"
        )
    return loaded


def module_traceback(exc: BaseException) -> str:
    """The traceback from the module's first frame on: the import machinery is noise to its author."""
    roots = tuple(os.path.realpath(p) + os.sep for p in sys.modules[MODULES_PACKAGE].__path__)
    tb = exc.__traceback__
    while tb is not None and not os.path.realpath(tb.tb_frame.f_code.co_filename).startswith(roots):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _import_router_module(package_name: str) -> types.ModuleType | None:
    spec = importlib.util.find_spec(f"{package_name}.router")
    return importlib.import_module(f"{package_name}.router") if spec is not None else None


def _optional_integration(
    loaded: LoadedModule, module: types.ModuleType, function: str, keys: tuple[str, str]
) -> dict[str, Any] | None:
    factory = getattr(module, function, None) or getattr(loaded.package, function, None)
    if factory is None:
        return None
    try:
        data = factory()
    except Exception as exc:
        loaded.warnings.append(f"{function}() raised {type(exc).__name__}: {exc}")
        return None
    if data is None:
        return None
    if not (isinstance(data, dict) and all(k in data for k in keys)):
        loaded.warnings.append(f"{function}() must return a dict with {' and '.join(keys)}, got {data!r:.100}")
        return None
    if not callable(data[keys[1]]) or not isinstance(data[keys[0]], str) or not data[keys[0]]:
        loaded.warnings.append(f"{function}() returned a bad {keys[0]!r} or a non-callable handler")
        return None
    return data
