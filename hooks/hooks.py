"""``register_hook`` / ``run_hooks``: the hook API modules and core code use (upstream names).

The registry ``_hooks`` holds the functions registered *in this process*. Which process that
is decides what ``run_hooks`` does:

* in a module process, the registry holds that module's hooks; the host asks the process to
  run them (``call_registered``), and a ``run_hooks`` from module code goes to the host;
* in the host, ``run_hooks`` fans out to every running module through the ``ModuleRuntime``
  that installed itself as the dispatcher, after any hooks registered in-process;
* with no dispatcher installed (plain scripts, tests), it behaves exactly as upstream:
  every registered function in turn, each with a timeout, errors logged and swallowed.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from logger import logger

from .constants import DEFAULT_HOOK_TIMEOUT
from .results import HookResults

HookFunc = Callable[..., Any]
Dispatcher = Callable[[str, dict[str, Any]], Awaitable[HookResults]]


@dataclass(frozen=True, slots=True)
class HookFailure:
    """One registered function that raised or timed out."""

    function: str
    kind: str
    message: str
    traceback: str


_hooks: dict[str, list[HookFunc]] = {}
_dispatcher: Dispatcher | None = None


def register_hook(name: str, func: HookFunc | None = None) -> Any:
    """Subscribe ``func`` to hook ``name``; without ``func`` it is a decorator."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"hook name must be a non-empty string, got {name!r}")
    if func is None:

        def decorator(f: HookFunc) -> HookFunc:
            _register(name, f)
            return f

        return decorator
    _register(name, func)
    return None


def _register(name: str, func: HookFunc) -> None:
    if not callable(func):
        raise TypeError(f"register_hook({name!r}, ...) needs a function, got {type(func).__name__}")
    _hooks.setdefault(name, []).append(func)
    logger.debug("[Hook] registered %r: %s", name, getattr(func, "__qualname__", func))


def unregister_hook(name: str, func: HookFunc) -> None:
    """Forget ``func`` for hook ``name`` (the host's own subscribers, on shutdown)."""
    funcs = [f for f in _hooks.get(name, []) if f is not func]
    if funcs:
        _hooks[name] = funcs
    else:
        _hooks.pop(name, None)


def has_registered(name: str) -> bool:
    """Whether this process itself has a function for ``name`` (a dict look-up: hot path)."""
    return bool(_hooks.get(name))


def registered_hook_names() -> list[str]:
    """Names with at least one function registered in this process, in registration order."""
    return [name for name, funcs in _hooks.items() if funcs]


def unregister_module_hooks(module_name: str) -> None:
    """Forget the hooks registered by ``modules.<module_name>`` (upstream name)."""
    prefix = f"modules.{module_name}"
    for name, funcs in list(_hooks.items()):
        kept = [f for f in funcs if not _defined_in(f, prefix)]
        if kept:
            _hooks[name] = kept
        else:
            del _hooks[name]


def _defined_in(func: HookFunc, package: str) -> bool:
    module = getattr(func, "__module__", "") or ""
    return module == package or module.startswith(package + ".")


def set_dispatcher(dispatcher: Dispatcher | None) -> Dispatcher | None:
    """Install the process's hook dispatcher (the runtime does this); returns the previous one."""
    global _dispatcher
    previous, _dispatcher = _dispatcher, dispatcher
    return previous


async def run_hooks(name: str, require_enabled: bool = True, **kwargs: Any) -> HookResults:
    """Call every subscriber of ``name`` with ``kwargs``; return the truthy results in order.

    ``require_enabled`` is accepted for upstream compatibility: disabled modules have no
    process here, so they are never called.
    """
    if _dispatcher is not None:
        return await _dispatcher(name, kwargs)
    results, failures = await call_registered(name, kwargs)
    log_failures(name, failures)
    return HookResults(name, [("", value) for value in results])


def log_failures(name: str, failures: list[HookFailure]) -> None:
    for failure in failures:
        logger.error("[HOOK:%s] %s failed: %s: %s\n%s", name, failure.function, failure.kind, failure.message, failure.traceback)


async def call_registered(
    name: str, kwargs: dict[str, Any], timeout: float | None = DEFAULT_HOOK_TIMEOUT
) -> tuple[list[Any], list[HookFailure]]:
    """Run this process's functions for ``name`` one after another, as upstream does.

    Returns the truthy results and the failures; nothing is raised for a failing function,
    so one bad function does not hide the results of the others.
    """
    results: list[Any] = []
    failures: list[HookFailure] = []
    for func in list(_hooks.get(name, ())):
        try:
            if timeout is None:  # the caller bounds the call (a module process: the host cancels it)
                value = await _result_of(func, kwargs)
            else:
                async with asyncio.timeout(timeout):
                    value = await _result_of(func, kwargs)
        except TimeoutError:
            failures.append(HookFailure(_func_name(func), "TimeoutError", f"no result within {timeout} s", ""))
            continue
        except Exception as exc:
            failures.append(HookFailure(_func_name(func), type(exc).__name__, str(exc), traceback.format_exc()))
            continue
        if value:
            results.append(value)
    return results, failures


async def _result_of(func: HookFunc, kwargs: dict[str, Any]) -> Any:
    """What ``func`` returns, awaited if it is awaitable (upstream allows plain functions too)."""
    value = func(**kwargs)
    return await value if inspect.isawaitable(value) else value


def _func_name(func: HookFunc) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
