"""What the host vouches for when a module fires a hook (runtime/calls/module_hook_calls.py)."""

from __future__ import annotations

import datetime

import pytest
from aiogram.types import CallbackQuery, Chat, Message, User

from ipc import Ref
from runtime.calls.module_hook_calls import (
    CORE_EVENTS,
    SCREEN_HOOKS,
    HookCallRefused,
    UpdateContext,
    UpdatesInFlight,
    check_hook_allowed,
    update_context,
    vouched_kwargs,
)
from sandbox.permissions import load_operator_config

ADMIN_UPDATE = UpdateContext(admin=True, user_id=7, chat_id=7, bot_id=42)
USER_UPDATE = UpdateContext(admin=False, user_id=8, chat_id=-100, bot_id=42)


def test_admin_and_admin_role_are_the_hosts_verdict() -> None:
    forged = {"admin": True, "admin_role": "superadmin", "chat_id": 8}
    assert vouched_kwargs("m", "profile_menu", forged, USER_UPDATE)[0] == {"admin": False, "chat_id": 8}
    assert vouched_kwargs("m", "profile_menu", forged, None)[0] == {"admin": False, "chat_id": 8}
    kwargs, changed = vouched_kwargs("m", "profile_menu", {"admin": True, "admin_role": "support"}, ADMIN_UPDATE)
    assert kwargs == {"admin": True, "admin_role": "support"} and changed == []


def test_user_ids_must_be_the_updates_and_references_are_remade() -> None:
    for name in ("chat_id", "user_id", "tg_id"):
        with pytest.raises(HookCallRefused, match=f"{name}=9 while handling an update of user 8"):
            vouched_kwargs("m", "profile_menu", {name: 9}, USER_UPDATE)
        assert vouched_kwargs("m", "profile_menu", {name: -100}, USER_UPDATE)[0] == {name: -100}  # its chat
    kwargs, changed = vouched_kwargs(
        "m",
        "profile_menu",
        {"state": Ref("state", [1, 2, 3, None, None, "x"]), "session": Ref("forged", 1), "keys": Ref("keys", "all")},
        USER_UPDATE,
    )
    assert kwargs == {"state": Ref("state", [42, -100, 8, None, None, "default"]), "session": Ref("session")}
    assert changed == ["keys (a host reference of kind 'keys') dropped"]
    assert vouched_kwargs("m", "profile_menu", {"state": Ref("state", [])}, None)[0] == {}


def test_core_events_need_a_grant_screens_and_own_events_do_not(tmp_path) -> None:
    assert not SCREEN_HOOKS & CORE_EVENTS
    for hook in ("profile_menu", "my_module_event"):
        check_hook_allowed("m", hook, ())
    with pytest.raises(HookCallRefused, match=r'call_hooks = \["payment_success"\]'):
        check_hook_allowed("m", "payment_success", ())
    check_hook_allowed("m", "payment_success", ("payment_success",))
    path = tmp_path / "modules.toml"
    path.write_text('[modules.m]\ncall_hooks = ["payment_success"]\n[modules.n]\ncall_hooks = ["not a name"]\n')
    config = load_operator_config(path, ("m", "n"))
    assert config.permissions("m").call_hooks == ("payment_success",)
    assert "call_hooks: holds hook names" in str(config.error("n"))


def test_only_updates_forwarded_to_that_module_are_vouched_for() -> None:
    in_flight = UpdatesInFlight()
    with in_flight.track("m", 5, USER_UPDATE):
        assert in_flight.get("m", 5) is USER_UPDATE
        assert in_flight.get("other", 5) is None and in_flight.get("m", 6) is None and in_flight.get("m", "5") is None
    assert in_flight.get("m", 5) is None


def _callback_update(user_id: int, chat_id: int) -> tuple[CallbackQuery, UpdateContext]:
    chat = Chat(id=chat_id, type="private")
    user = User(id=user_id, is_bot=False, first_name="real")
    message = Message(
        message_id=5, date=datetime.datetime(2026, 1, 1), chat=chat, from_user=User(id=42, is_bot=True, first_name="bot")
    )
    query = CallbackQuery(id="q1", from_user=user, chat_instance="c", data="victim|open", message=message)
    return query, update_context(query, False, 42)


def test_telegram_objects_are_the_updates_own_or_dropped() -> None:
    """A module's run_hooks cannot hand the others a message from another user, or a made-up callback query."""
    query, context = _callback_update(8, 8)
    admin = User(id=7, is_bot=False, first_name="the admin")
    forged_message = Message(
        message_id=99, date=datetime.datetime(2026, 1, 1), chat=Chat(id=7, type="private"), from_user=admin, text="/admin"
    )
    forged_query = CallbackQuery(id="x", from_user=admin, chat_instance="c", data="admin_mod:stop")
    sent = {
        "message": forged_message,
        "callback": forged_query,
        "user": admin,
        "items": [admin, 1],
        "deep": {"m": forged_message},
    }
    kwargs, changed = vouched_kwargs("attacker", "profile_menu", sent, context)
    assert kwargs["message"] is query.message and kwargs["callback"] is query and kwargs["user"] is query.from_user
    assert kwargs["items"] == [query.from_user, 1] and kwargs["deep"] == {"m": query.message}
    assert len(changed) == 5 and all("replaced by the update's own" in line for line in changed), changed
    # The update's own objects pass unchanged, without a line
    kwargs, changed = vouched_kwargs("victim", "profile_menu", {"callback": query, "message": query.message}, context)
    assert kwargs == {"callback": query, "message": query.message} and changed == []
    # Outside an update there is nothing to vouch for: dropped
    kwargs, changed = vouched_kwargs("attacker", "profile_menu", sent, None)
    assert kwargs == {"items": [1], "deep": {}}
    assert sum("that is not the update's dropped" in line for line in changed) == 5, changed


def test_update_context_reads_the_same_ids_from_every_kind_of_event() -> None:
    # ``update_context`` skips pydantic's slow attribute miss (``_field``): it must still find the
    # user, chat and message of each kind of event, and nothing on an event without them.
    from aiogram.types import CallbackQuery, Chat, InlineQuery, Message, User

    from runtime.calls.module_hook_calls import update_context

    user, chat = User(id=7, is_bot=False, first_name="U"), Chat(id=-100, type="supergroup")
    message = Message(message_id=3, date=0, chat=chat, from_user=user, text="x")
    by_callback = update_context(CallbackQuery(id="1", from_user=user, chat_instance="c", message=message), True, 42)
    assert (by_callback.admin, by_callback.user_id, by_callback.chat_id, by_callback.messages) == (True, 7, -100, ((-100, 3),))
    by_message = update_context(message, None, 42)
    assert (by_message.admin, by_message.user_id, by_message.chat_id, by_message.messages) == (False, 7, -100, ((-100, 3),))
    inline = update_context(CallbackQuery(id="2", from_user=user, chat_instance="c", inline_message_id="im"), False, 42)
    assert (inline.user_id, inline.chat_id, inline.messages, inline.inline_message_id) == (7, None, (), "im")
    query = update_context(InlineQuery(id="q", from_user=user, query="", offset=""), False, 42)
    assert (query.user_id, query.chat_id, query.messages) == (7, None, ())
    assert update_context(object(), False, 42).user_id is None  # not a Telegram object: plain getattr
