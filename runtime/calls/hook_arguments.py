"""What stands in for process-local objects when hook arguments cross to another process.

Upstream passes hooks the handler's own objects: ``session=session, bot=bot, state=state``.
Those cannot cross a process boundary (a connection, a client with the token, a storage
handle), so both the host and module processes (for nested ``run_hooks``) replace them with a
``Ref`` that the receiving side re-makes (``runtime.child.call_scope``). An object can name its
own stand-in by defining ``__module_ref__()`` — the notification loop's key list does, so the
keys are read by the module process instead of being shipped.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from sqlalchemy.ext.asyncio import AsyncSession

from ipc import Ref
from runtime.aiogram_bridge.fsm_keys import key_to_wire

_PLAIN = frozenset({int, str, bool, float, type(None)})  # most hook arguments: they cross as they are


def to_wire(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, AsyncSession):
        return Ref("session")
    if isinstance(value, Bot):
        return Ref("bot")
    if isinstance(value, FSMContext):
        return Ref("state", key_to_wire(value.key))
    make_ref = getattr(type(value), "__module_ref__", None)
    if make_ref is not None:
        return make_ref(value)
    return value


def kwargs_to_wire(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: to_wire(value) for name, value in kwargs.items()}


class NonFrozenKeys(list[Any]):
    """The ``keys`` of ``periodic_notifications``: a list in the host, a query for module processes.

    Shipping 100 000 keys to every subscribed module on every cycle would cost more than the
    cycle itself; a module process runs the same query on its own connection instead
    (``runtime.child.context.ModuleContext.load_keys``).
    """

    def __module_ref__(self) -> Ref:
        return Ref("keys", "non_frozen")
