"""``run_hooks`` called by a module: which hooks it may fire, and with which arguments.

Upstream modules fire hooks themselves (COMPAT.md), so a module process may ask the host to
fan a hook out. The host knows who asks (the channel it came in on) and never takes the
module's word for what the host itself vouches for in its own calls:

- ``admin`` is the host's verdict on the user of the update the module is handling (``False``
  outside an update); ``admin_role`` is dropped unless that user is an admin;
- ``chat_id`` / ``user_id`` / ``tg_id``, while the module handles an update, must name that
  update's user or chat: a module cannot ask the others for another user's screen;
- ``state`` becomes the FSM key of that update's chat and user (each receiving module then
  reaches its own namespace for it), or is dropped outside an update; ``session`` and ``bot``
  become each receiver's own; any other host reference a module sends (the notification
  cycle's key list) is dropped;
- Telegram objects (``message``, ``callback``, a ``User``, a ``Chat``…, also inside lists and
  maps) are the host's: each becomes the object of that type the host received with the update
  the module handles (the event, its user, its message, its chat), and is dropped when there is
  none (outside an update, or a type the update has not). A module cannot hand the others a
  message "from" another user or chat, or a callback query it made up.

Which hooks: the screens of HOOKS.md group 1 that only render buttons or text, and any name
the core does not fire (modules' own events). The core's events — a payment recorded, the
admin panel and statistics, the notification cycle, a user's ``/start`` or message, the
reserved names of group 2 — only with the operator's grant: ``call_hooks = ["payment_success"]``
in ``modules.toml``. Firing ``payment_success`` itself would let a module make others credit a
payment that never happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.storage.base import StorageKey
from aiogram.types import TelegramObject

from ipc import Ref
from runtime.aiogram_bridge.fsm_keys import key_to_wire

# HOOKS.md group 1: screens any module may ask the others to fill for the user it serves.
SCREEN_HOOKS = frozenset(
    {
        "profile_menu",
        "profile_text",
        "start_menu",
        "about_menu",
        "about_text",
        "pay_menu_buttons",
        "view_key_menu",
        "key_creation_complete",
        "zero_traffic_notification",
    }
)
# The core's events (group 1 and the reserved names of group 2): the operator's grant only.
CORE_EVENTS = frozenset(
    {
        "admin_panel",
        "admin_stats",
        "admin_user_edit",
        "periodic_notifications",
        "payment_success",
        "providers_config",
        "start_entry",
        "start_link",
        "user_message",
        "gift_activation",
        "renewal_forbidden_groups",
        "admin_key_edit_menu",
        "cluster_override",
        "cluster_balancer",
        "remnawave_webapp_override",
        "happ_cryptolink_override",
        "intercept_key_creation_message",
        "process_callback_renew_key",
        "purchase_tariff_group_override",
        "renew_tariffs",
        "renewal_complete",
        "after_hwid_reset",
        "tariff_menu",
        "check_discount_validity",
        "addons_menu",
        "connect_device_menu",
        "startup",
    }
)
USER_ID_ARGUMENTS = ("chat_id", "user_id", "tg_id")
OWN_REFS = ("session", "bot")  # re-made by each receiving module as its own


class HookCallRefused(PermissionError):
    """A module's ``run_hooks`` the host does not make; ``str()`` names the module and the fix."""


@dataclass(frozen=True, slots=True)
class UpdateContext:
    """What the host knows about an update it forwarded to a module (the module cannot change it)."""

    admin: bool
    user_id: int | None
    chat_id: int | None
    bot_id: int | None = None
    messages: tuple[tuple[int, int], ...] = ()  # (chat id, message id) of the update's message
    inline_message_id: str | None = None
    # The Telegram objects the host received with it, the first of each type first: the event,
    # its user, its message, its chat (what a module's run_hooks may pass on: ``vouched_kwargs``).
    objects: tuple[TelegramObject, ...] = field(default=(), compare=False)

    def telegram_object(self, kind: type) -> TelegramObject | None:
        return next((o for o in self.objects if type(o) is kind), None)

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(i for i in (self.user_id, self.chat_id) if i is not None)

    def state_key(self) -> StorageKey | None:
        if self.bot_id is None or self.user_id is None:
            return None
        return StorageKey(self.bot_id, self.chat_id if self.chat_id is not None else self.user_id, self.user_id)


def check_hook_allowed(caller: str, hook: str, granted: tuple[str, ...]) -> None:
    if hook in CORE_EVENTS and hook not in granted:
        raise HookCallRefused(
            f"module {caller} may not fire the core's hook {hook!r}: it is the core's event; "
            f'the operator can grant it in modules.toml: [modules.{caller}] call_hooks = ["{hook}"]'
        )


def vouched_kwargs(
    caller: str, hook: str, kwargs: dict[str, Any], update: UpdateContext | None
) -> tuple[dict[str, Any], list[str]]:
    """The arguments the host passes on, and a line per argument it did not take as sent."""
    result: dict[str, Any] = {}
    changed: list[str] = []
    for name, value in kwargs.items():
        if name == "admin":
            vouched = bool(update and update.admin)
            if value != vouched:
                changed.append(f"admin={value!r} replaced by the host's {vouched}")
            result[name] = vouched
        elif name == "admin_role":
            if update and update.admin:
                result[name] = value
            else:
                changed.append("admin_role dropped (the update it handles is not an admin's)")
        elif name == "state":
            key = update.state_key() if update else None
            if key is not None:
                result[name] = Ref("state", key_to_wire(key))
            else:
                changed.append("state dropped (it handles no update)")
        elif name in OWN_REFS:
            result[name] = Ref(name)
        elif isinstance(value, Ref):
            changed.append(f"{name} (a host reference of kind {value.kind!r}) dropped")
        elif _holds_telegram(value):
            vouched_value = _vouch_telegram(value, update, changed, name)
            if vouched_value is not _DROPPED:
                result[name] = vouched_value
        else:
            if name in USER_ID_ARGUMENTS and update is not None and update.ids and value not in update.ids:
                raise HookCallRefused(
                    f"module {caller} fired {hook!r} with {name}={value!r} while handling an update of user "
                    f"{update.user_id}: a module may only ask for the user it serves"
                )
            result[name] = value
    return result, changed


_DROPPED = object()
_CONTAINERS = (list, tuple, dict)
MAX_VOUCHED_DEPTH = 8


def _holds_telegram(value: Any, depth: int = 0) -> bool:
    if isinstance(value, TelegramObject):
        return True
    if depth >= MAX_VOUCHED_DEPTH or not isinstance(value, _CONTAINERS):
        return False
    items = value.values() if isinstance(value, dict) else value
    return any(_holds_telegram(item, depth + 1) for item in items)


def _vouch_telegram(value: Any, update: UpdateContext | None, changed: list[str], where: str, depth: int = 0) -> Any:
    """``value`` with every Telegram object replaced by the host's own of that type (or dropped)."""
    if isinstance(value, TelegramObject):
        kind = type(value).__name__
        own = update.telegram_object(type(value)) if update is not None else None
        if own is None:
            changed.append(f"{where}: a {kind} that is not the update's dropped")
            return _DROPPED
        if value != own:
            changed.append(f"{where}: a {kind} replaced by the update's own")
        return own
    if depth >= MAX_VOUCHED_DEPTH:
        return value
    if isinstance(value, dict):
        pairs = ((k, _vouch_telegram(v, update, changed, f"{where}[{k!r}]", depth + 1)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not _DROPPED}
    if isinstance(value, (list, tuple)):
        items = [_vouch_telegram(v, update, changed, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        return type(value)(v for v in items if v is not _DROPPED)
    return value


class UpdatesInFlight:
    """Updates the host has forwarded and not yet had answered, per module: what it vouches for in them."""

    def __init__(self) -> None:
        self._by_module: dict[str, dict[int, UpdateContext]] = {}

    @contextmanager
    def track(self, module: str, update_id: int, context: UpdateContext) -> Iterator[None]:
        updates = self._by_module.setdefault(module, {})
        updates[update_id] = context
        try:
            yield
        finally:
            updates.pop(update_id, None)

    def count(self, module: str) -> int:
        """How many updates ``module`` is handling now."""
        return len(self._by_module.get(module, ()))

    def get(self, module: str, update_id: Any) -> UpdateContext | None:
        """The update ``module`` says it is handling, if the host really forwarded it to that module."""
        if type(update_id) is not int:
            return None
        return self._by_module.get(module, {}).get(update_id)


def update_context(event: Any, admin: bool | None, bot_id: int | None) -> UpdateContext:
    """The user and chat of an event (message, callback query…) as the host received it from Telegram."""
    user = _field(event, "from_user")
    message = event if _field(event, "message_id") is not None else _field(event, "message")
    chat = _field(event, "chat") or _field(message, "chat")
    chat_id, message_id = _field(_field(message, "chat"), "id"), _field(message, "message_id")
    objects: list[TelegramObject] = []
    for found in (event, user, message, chat, _field(message, "from_user")):
        if isinstance(found, TelegramObject) and all(found is not seen for seen in objects):
            objects.append(found)
    return UpdateContext(
        admin=admin is True,
        user_id=_field(user, "id"),
        chat_id=_field(chat, "id"),
        bot_id=bot_id,
        messages=((chat_id, message_id),) if type(chat_id) is int and type(message_id) is int else (),
        inline_message_id=_field(event, "inline_message_id"),
        objects=tuple(objects),
    )


def _field(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)`` for Telegram objects without pydantic's slow miss.

    A name a pydantic model does not have goes through its ``__getattr__``, which builds an
    ``AttributeError`` message each time (microseconds per miss, on every forwarded update).
    """
    fields = getattr(type(obj), "__pydantic_fields__", None)
    if fields is None:
        return getattr(obj, name, None)
    return getattr(obj, name) if name in fields else None
