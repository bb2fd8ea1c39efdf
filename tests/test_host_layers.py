"""The host's layers as the operator reads them (`solobot modules status NAME`, the admin card)."""

from __future__ import annotations

from runtime.aiogram_bridge.callback_ownership import CallbackClaims, ModuleRouting, module_claims
from runtime.aiogram_bridge.host_layers import describe_host_layers
from sandbox.permissions import ModulePermissions


def test_status_names_routing_scope_database_limits_and_network() -> None:
    permissions = ModulePermissions(
        override=("about_vpn",),
        bot_api=("setMyCommands",),
        bot_api_rate=5,
        db_statement_seconds=10,
        db_idle_seconds=20,
        disk_mb=100,
        network=True,
        destinations=("api.example.com:443",),
    )
    routing = ModuleRouting(
        "shop", module_claims("shop", CallbackClaims(frozenset({"shop|open"})), ("buy:",)), ("about_vpn",), ("buy:",)
    )
    network = "network by address: database 127.0.0.1:5432; api.example.com:443; 3 allowed, 1 refused"
    layers = describe_host_layers("shop", permissions, routing, None, network)
    assert "callbacks: shop|open, buy:…, shop|…, shop:…" in layers
    assert "routing declared in module.toml: buy:" in layers
    assert "overrides core screens: about_vpn" in layers
    scope = next(line for line in layers if line.startswith("bot api scope: "))
    assert scope.endswith("; 5 calls/s; methods beyond the default: setMyCommands")
    assert "database limits: 10 connections, statements ≤ 10 s, idle in transaction ≤ 20 s, temp files ≤ 100 MB" in layers
    assert network in layers


def test_any_address_is_said_plainly_and_trusted_modules_have_no_host_layers() -> None:
    layers = describe_host_layers("free", ModulePermissions(network=True), None, None, None)
    assert "network: any address and port (network = true)" in layers
    assert describe_host_layers("t", ModulePermissions(trust="trusted"), None, None, None) == [
        "host services: trusted (upstream's routing, every Bot API call on any chat)"
    ]
