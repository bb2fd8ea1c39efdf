"""The host's own layers around a sandboxed module, as lines for its status (CLI, admin card, log).

The kernel layers are reported by the module process itself; these are what the host's
services enforce for it (FSM, ``run_hooks``, callback routing, webhooks, the Bot API scope,
database limits, network by address).
"""

from __future__ import annotations

from sandbox.db_roles import CONNECTION_LIMIT
from sandbox.permissions import ModulePermissions

from .callback_ownership import ModuleRouting


def describe_host_layers(
    name: str,
    permissions: ModulePermissions | None,
    routing: ModuleRouting | None,
    webhook_path: str | None,
    network: str | None = None,
) -> list[str]:
    """``network``: what the host's network supervisor lets it reach and has refused (``None``: not supervised)."""
    if permissions is None:
        return []  # a bare runtime: the module process reports "NOT sandboxed"
    if permissions.trusted:
        return ["host services: trusted (upstream's routing, every Bot API call on any chat)"]
    layers = ["fsm: own namespace", "run_hooks: admin, user ids and state vouched by the host"]
    if permissions.call_hooks:
        layers[-1] += f"; may fire core events {', '.join(permissions.call_hooks)}"
    if routing is not None:
        claims = sorted(routing.claims.exact) + [f"{p}…" for p in routing.claims.prefixes]
        shown = ", ".join(claims[:8]) + (f" (+{len(claims) - 8})" if len(claims) > 8 else "")
        layers.append(f"callbacks: {shown}")
        if routing.declared:
            layers.append(f"routing declared in module.toml: {', '.join(routing.declared)}")
    if permissions.override:
        layers.append(f"overrides core screens: {', '.join(permissions.override)}")
    if webhook_path:
        own = webhook_path.startswith(f"/modules/{name}/")
        granted = webhook_path in permissions.webhook_paths
        verdict = "own" if own else "granted" if granted else "not its own: not served (grant webhook_paths)"
        layers.append(f"webhook {webhook_path}: {verdict}")
    scope = "bot api scope: its own messages and its update's, sends to this bot's users and its update's chat"
    if permissions.send_to_chats:
        scope += f", chats {', '.join(map(str, permissions.send_to_chats))}"
    scope += f"; {permissions.bot_api_rate:g} calls/s"
    if permissions.bot_api:
        scope += f"; methods beyond the default: {', '.join(permissions.bot_api)}"
    layers.append(scope)
    layers.append(
        f"database limits: {CONNECTION_LIMIT} connections, statements ≤ {permissions.db_statement_seconds:g} s, "
        f"idle in transaction ≤ {permissions.db_idle_seconds:g} s, temp files ≤ {permissions.disk_mb} MB"
    )
    if network is not None:
        layers.append(network)
    elif permissions.network and not permissions.tcp_ports and not permissions.destinations:
        layers.append("network: any address and port (network = true)")
    layers.append(f"updates in flight: at most {permissions.max_updates_in_flight}, more answered unavailable")
    layers.append("references users(tg_id): " + ("granted" if permissions.references_users else "not granted"))
    return layers
