"""What the host vouches for when a module fires a hook (runtime/calls/module_hook_calls.py)."""

from __future__ import annotations

import pytest

from ipc import Ref
from runtime.calls.module_hook_calls import (
    CORE_EVENTS,
    SCREEN_HOOKS,
    HookCallRefused,
    UpdateContext,
    UpdatesInFlight,
    check_hook_allowed,
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
