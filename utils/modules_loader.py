"""Upstream's module-loader names, answered by the running module runtime.

Upstream imports every module here. In this project the host never imports module code:
``load_modules_from_folder`` returns the one router that forwards updates to module processes,
``load_module_webhooks`` the webhook table, ``load_module_fast_flow_handlers`` proxies that run
each module's fast-flow handler in its process. The running runtime is registered by the host
(``use_runtime``) — the one piece of process-wide state these upstream-shaped functions need.
The host's own screens get the runtime as ``dp["module_runtime"]`` instead.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router

from runtime import ModuleRuntime
from runtime.aiogram_bridge.fast_flows import FastFlowHandler, fast_flow_handlers

_runtime: ModuleRuntime | None = None


def use_runtime(runtime: ModuleRuntime | None) -> None:
    global _runtime
    _runtime = runtime


def load_modules_from_folder() -> list[Router]:
    from runtime.aiogram_bridge.update_forwarding import modules_router

    return [modules_router(_runtime)] if _runtime is not None else []


def load_module_webhooks() -> list[dict[str, Any]]:
    if _runtime is None:
        return []
    return [
        {"path": s.last_manifest.webhook_path, "module": s.name}
        for s in _runtime.supervisors
        if s.last_manifest is not None and s.last_manifest.webhook_path
    ]


def load_module_fast_flow_handlers() -> dict[str, FastFlowHandler]:
    return fast_flow_handlers(_runtime) if _runtime is not None else {}
