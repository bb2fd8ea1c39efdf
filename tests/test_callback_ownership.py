"""Whose buttons are whose (runtime/aiogram_bridge/callback_ownership.py)."""

from __future__ import annotations

from runtime.aiogram_bridge.callback_ownership import (
    CallbackClaims,
    ModuleRouting,
    collisions,
    module_claims,
    owner_of,
)
from runtime.aiogram_bridge.update_forwarding import core_callback_claims

CORE = CallbackClaims(frozenset({"about_vpn", "profile"}), ("pay_",))


def routing(
    name: str, exact: tuple[str, ...] = (), prefixes: tuple[str, ...] = (), overrides: tuple[str, ...] = ()
) -> ModuleRouting:
    return ModuleRouting(name, module_claims(name, CallbackClaims(frozenset(exact), prefixes)), overrides)


def test_a_module_receives_its_named_data_and_its_name_prefix_only() -> None:
    hello = routing("hello_world", exact=("hello|open",), prefixes=("greet|",))
    assert hello.may_receive("hello|open", CORE) and hello.may_receive("greet|x", CORE)
    assert hello.may_receive("hello_world|anything", CORE) and hello.may_receive("hello_world:1", CORE)
    assert not hello.may_receive("victim|open", CORE) and not hello.may_receive("hello|other", CORE)


def test_core_screens_need_the_override_grant() -> None:
    squatter = routing("squat", exact=("about_vpn", "pay_card"))
    assert not squatter.may_receive("about_vpn", CORE) and not squatter.may_receive("pay_card", CORE)
    granted = routing("squat", exact=("about_vpn",), overrides=("about_vpn",))
    assert granted.may_receive("about_vpn", CORE)


def test_a_disputed_button_goes_to_its_name_owner_or_to_nobody() -> None:
    assert owner_of("victim|open", ["attacker", "victim"]) == "victim"
    assert owner_of("shared|x", ["a", "b"]) is None
    assert owner_of("x", ["a"]) == "a" and owner_of("x", []) is None
    lines = collisions(routing("attacker", exact=("victim|open",)), [routing("victim", exact=("victim|open",))])
    assert len(lines) == 1 and "only victim gets it" in lines[0] and "'attacker|…'" in lines[0]
    lines = collisions(routing("a", prefixes=("shop|",)), [routing("b", exact=("shop|buy",))])
    assert len(lines) == 1 and "neither module gets it" in lines[0]
    assert collisions(routing("a", exact=("a|1",)), [routing("b", exact=("b|1",))]) == []


def test_the_cores_claims_are_read_from_its_routers() -> None:
    from handlers import core_routers

    core = core_callback_claims(core_routers())
    assert core.accepts("about_vpn") and core.accepts("profile")
    assert not core.accepts("victim|open")
