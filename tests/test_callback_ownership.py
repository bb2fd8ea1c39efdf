"""Whose buttons are whose (runtime/aiogram_bridge/callback_ownership.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.aiogram_bridge.callback_ownership import (
    CallbackClaims,
    ModuleRouting,
    collisions,
    module_claims,
    owner_of,
)
from runtime.aiogram_bridge.routing_declaration import declaration_collisions, load_routing_declaration
from runtime.aiogram_bridge.update_forwarding import core_callback_claims
from sandbox.permissions import PermissionsError
from tests.conftest import ModuleFolder
from tests.shared_zygote import ThreadedZygote

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


# --- [routing] callback_prefixes in module.toml (runtime/aiogram_bridge/routing_declaration.py) ----


def test_declared_prefixes_are_read_and_checked(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    assert load_routing_declaration(folder) == ()  # no module.toml
    (folder / "module.toml").write_text('[routing]\ncallback_prefixes = ["buy:", "cart|", "buy:"]\n')
    assert load_routing_declaration(folder) == ("buy:", "cart|")
    (folder / "module.toml").write_text('[request]\nnetwork = true\n\n[routing]\ncallback_prefix = ["buy:"]\n')
    with pytest.raises(PermissionsError, match=r"shop/module.toml:5: module 'shop': unknown key 'callback_prefix'"):
        load_routing_declaration(folder)
    (folder / "module.toml").write_text('[routing]\ncallback_prefixes = [""]\n')
    with pytest.raises(PermissionsError, match=r"shop/module.toml:2: .*1-63 bytes"):
        load_routing_declaration(folder)


def test_a_declared_prefix_another_module_claims_is_a_collision_naming_both() -> None:
    others = {"rival": ("buy:",), "victim": ()}
    [line] = declaration_collisions("shop", ("buy:", "shop:"), others)
    assert "'buy:' of module shop collides with 'buy:' of module rival (declared in its module.toml)" in line
    [line] = declaration_collisions("squat", ("victim|",), {"victim": ()})
    assert "'victim|' of module squat collides with 'victim|' of module victim (its name prefix)" in line
    assert declaration_collisions("shop", ("b",), {"rival": ("buy:",)})  # a shorter prefix covers theirs
    assert declaration_collisions("shop", ("shop:",), others) == []


SHOP_ROUTER = """
from aiogram import F, Router
from aiogram.types import CallbackQuery

router = Router()

@router.callback_query(lambda query: query.data.split(":")[0] in ("{prefix}",))  # unreadable to the host
async def on_buy(query: CallbackQuery) -> None:
    await query.answer("bought")
"""


@pytest.mark.anyio
async def test_the_runtime_owns_declared_prefixes_and_refuses_colliding_modules(shared_zygote: ThreadedZygote) -> None:
    """Real module processes: a declared prefix is the module's; a collision keeps both declarers from starting."""
    from runtime import ModuleRuntime
    from runtime.supervision.sandbox_setup import ModuleSandboxes
    from sandbox.bot_api_policy import BotApiPolicy
    from tests.solobot_harness import traversable_dir

    with traversable_dir("solobot-routing-") as root:
        folder = ModuleFolder(root / "modules")
        folder.add("shop", SHOP_ROUTER.format(prefix="shopbuy"), module__toml='[routing]\ncallback_prefixes = ["shopbuy:"]\n')
        folder.add("left", SHOP_ROUTER.format(prefix="deal"), module__toml='[routing]\ncallback_prefixes = ["deal:"]\n')
        folder.add("right", SHOP_ROUTER.format(prefix="deal"), module__toml='[routing]\ncallback_prefixes = ["deal"]\n')
        folder.add("squat", SHOP_ROUTER.format(prefix="shop"), module__toml='[routing]\ncallback_prefixes = ["shop:"]\n')
        sandboxes = ModuleSandboxes(modules_dir=folder.root, data_dir=root / "storage", policy=BotApiPolicy())
        runtime = ModuleRuntime(folder.root, state_file=root / "state.json", sandboxes=sandboxes, zygote=shared_zygote)
        async with runtime as rt:
            status = {name: rt.module_status(name) for name in ("shop", "left", "right", "squat")}
            assert status["shop"]["state"] == "running", status["shop"]["last_error"]
            routing = rt.routing_of("shop")
            assert routing is not None and routing.declared == ("shopbuy:",)
            core = CallbackClaims(frozenset({"about_vpn"}))
            assert routing.may_receive("shopbuy:42", core) and not routing.may_receive("deal:1", core)
            assert "routing declared in module.toml: shopbuy:" in status["shop"]["sandbox"]
            for name, other in (("left", "right"), ("right", "left")):
                assert status[name]["state"] == "failed"
                error = status[name]["last_error"]
                assert f"of module {name} collides with" in error and f"of module {other} (declared in its module.toml)" in error
            assert status["squat"]["state"] == "failed"
            assert "collides with 'shop:' of module shop (its name prefix)" in status["squat"]["last_error"]
