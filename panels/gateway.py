"""What the host does with a module's panel calls: ``PanelGateway`` (the host side of ``panels.remote``).

A module the operator granted ``panels = ["remnawave"]`` (or ``"3x-ui"``) in ``modules.toml``
uses upstream's clients unchanged (``RemnawaveAPI(server["api_url"])``, ``get_xui_instance``);
in its process they hand each request to the host, which sends it with the operator's
credentials — so a module gets the panel, never the password. Everything in a request is
untrusted and checked here, with the module named in every refusal:

* the panel type must be granted to the module;
* the address must be one of the bot's servers of that panel type (the ``servers`` table), so a
  module cannot make the host call anywhere else;
* the method and path must be one of the panel API calls upstream's module-facing clients make
  (users, subscriptions, devices; 3x-ui's client endpoints) — not the panel's settings, admins
  or nodes management.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger("solobot.panels")

ServerLister = Callable[[], Awaitable[list[Mapping[str, Any]]]]

_UUID = r"[0-9A-Za-z-]{1,64}"
_NAME = r"[^/?#\s]{1,128}"
ALLOWED_CALLS: Mapping[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "remnawave": tuple(
        (method, re.compile(pattern))
        for method, pattern in (
            ("POST", r"/users"),
            ("PATCH", r"/users"),
            ("GET", r"/users"),
            ("GET", rf"/users/{_UUID}"),
            ("DELETE", rf"/users/{_UUID}"),
            ("POST", rf"/users/{_UUID}/actions/(enable|disable|reset-traffic|revoke)"),
            ("POST", r"/users/bulk/extend-expiration-date"),
            ("GET", rf"/subscriptions/by-username/{_NAME}"),
            ("GET", rf"/subscriptions/by-short-uuid/{_NAME}"),
            ("POST", r"/system/tools/happ/encrypt"),
            ("GET", rf"/hwid/devices/{_UUID}"),
            ("POST", r"/hwid/devices/delete(-all)?"),
            ("GET", r"/nodes"),
            ("GET", r"/hosts"),
        )
    ),
    "3x-ui": tuple(
        (method, re.compile(pattern))
        for method, pattern in (
            ("GET", r"/panel/api/inbounds/get/\d{1,9}"),
            ("POST", r"/panel/api/inbounds/addClient"),
            ("POST", rf"/panel/api/inbounds/updateClient/{_UUID}"),
            ("POST", rf"/panel/api/inbounds/\d{{1,9}}/delClient/{_UUID}"),
            ("GET", rf"/panel/api/inbounds/getClientTraffics/{_NAME}"),
            ("GET", rf"/panel/api/inbounds/getClientTrafficsById/{_UUID}"),
            ("POST", rf"/panel/api/inbounds/\d{{1,9}}/resetClientTraffic/{_NAME}"),
        )
    ),
}
SERVERS_TTL = 5.0  # seconds the servers table is trusted for, so a burst of calls reads it once


class PanelAccessError(PermissionError):
    """A module's panel call was refused; ``str()`` names the module and what to change."""


class PanelGateway:
    def __init__(self, servers: ServerLister | None = None) -> None:
        self._servers = servers or _servers_from_database
        self._grants: dict[str, frozenset[str]] = {}
        self._cached: tuple[float, list[Mapping[str, Any]]] | None = None
        self._remnawave: dict[str, Any] = {}  # base_url -> RemnawaveAPI, logged in once, reused

    async def aclose(self) -> None:
        for api in self._remnawave.values():
            await api.aclose()
        self._remnawave.clear()

    def configure(self, module: str, panels: Iterable[str], *, trusted: bool = False) -> None:
        self._grants[module] = frozenset(ALLOWED_CALLS) if trusted else frozenset(panels)

    def configure_from(self, module: str, permissions: Any) -> None:
        """:meth:`configure` from a ``sandbox.permissions.ModulePermissions``."""
        self.configure(module, permissions.panels, trusted=permissions.trusted)

    def granted(self, module: str) -> list[str]:
        return sorted(self._grants.get(module, ()))

    async def call(self, module: str, params: Any) -> dict[str, Any]:
        panel, base_url, method, path, body, query = self._check_shape(module, params)
        if panel not in self._grants.get(module, ()):
            raise PanelAccessError(
                f"module {module} may not use {panel} panels: the operator grants it with "
                f'panels = ["{panel}"] in its [modules.{module}] table of modules.toml'
            )
        if not any(m == method and p.fullmatch(path) for m, p in ALLOWED_CALLS[panel]):
            raise PanelAccessError(f"module {module}: {method} {path} is not a {panel} call modules may make")
        if base_url not in await self._addresses(panel):
            raise PanelAccessError(f"module {module}: {base_url} is not one of the bot's {panel} servers (the servers table)")
        if panel == "remnawave":
            return await self._call_remnawave(base_url, method, path, body, query)
        return await _xui(base_url, method, path, body)

    async def _call_remnawave(self, base_url: str, method: str, path: str, body: Any, query: dict[str, Any] | None) -> dict:
        from .remnawave import RemnawaveAPI

        api = self._remnawave.get(base_url)
        if api is None:
            api = self._remnawave[base_url] = RemnawaveAPI(base_url)
        response = await api._request(method, path, json=body, params=query)
        return {"status": api.last_status, "response": response}

    def _check_shape(self, module: str, params: Any) -> tuple[str, str, str, str, Any, dict[str, Any] | None]:
        if not isinstance(params, dict):
            raise PanelAccessError(f"module {module}: a panel call is a map")
        panel, base_url, method, path = (params.get(k) for k in ("panel", "base_url", "method", "path"))
        query = params.get("params")
        if (
            not isinstance(panel, str)
            or panel not in ALLOWED_CALLS
            or not isinstance(base_url, str)
            or not isinstance(method, str)
            or not isinstance(path, str)
        ):
            raise PanelAccessError(f"module {module}: a panel call needs panel, base_url, method and path")
        if query is not None and not (isinstance(query, dict) and all(isinstance(v, (str, int)) for v in query.values())):
            raise PanelAccessError(f"module {module}: panel call params must be a map of strings or numbers")
        return panel, base_url.rstrip("/"), method.upper(), path, params.get("json"), query

    async def _addresses(self, panel: str) -> set[str]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > SERVERS_TTL:
            self._cached = (now, await self._servers())
        return {
            str(s.get("api_url") or "").rstrip("/")
            for s in self._cached[1]
            if str(s.get("panel_type") or "").lower() == panel and s.get("api_url")
        }


async def _servers_from_database() -> list[Mapping[str, Any]]:
    from database import async_session_maker, get_servers

    async with async_session_maker() as session:
        clusters = await get_servers(session, include_enabled=True)
    return [server for servers in clusters.values() for server in servers]


async def _xui(base_url: str, method: str, path: str, body: Any) -> dict[str, Any]:
    from ._3xui import XuiError, get_xui_instance

    try:
        xui = await get_xui_instance(base_url)
        return {"obj": await xui._call(method, path, body=body)}
    except XuiError as exc:
        return {"error": str(exc)}
