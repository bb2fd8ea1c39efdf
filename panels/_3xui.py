"""3x-ui's HTTP API, under upstream's module-facing names (``panels._3xui``).

Upstream wraps the ``py3xui`` library; modules call ``get_xui_instance(api_url)`` and hand the
result to ``add_client`` / ``extend_client_key`` / ``delete_client`` / ``toggle_client`` /
``get_client_traffic`` / ``get_vless_link_for_client``, with the same return conventions
(dicts with a ``status``, ``True``/``False``/``None``). py3xui itself is not used: it is not on
this deployment's package index, and the part of it those functions need — log in, and six
endpoints of ``/panel/api/inbounds`` — is small; :class:`XuiAPI` keeps py3xui's shape
(``xui.client.add/get_by_email/update/delete/reset_stats/get_traffic_by_id``,
``xui.inbound.get_by_id``) so upstream code written against it reads the same.

Every 3x-ui answer is ``{"success": bool, "msg": str, "obj": ...}``; ``success: false`` raises
:class:`XuiError` with the panel's message (e.g. "Duplicate email"), which the functions turn
into their failure values as upstream does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .base import ClientSpec, PanelError, VpnPanel
from .remote import through_host
from .settings import current

log = logging.getLogger("solobot.panels")

SESSION_TTL = 1800
_GB = 1024**3


class XuiError(RuntimeError):
    """The panel answered ``success: false`` (or not at all); ``str()`` is its message."""


@dataclass
class Client:
    """py3xui's ``Client``: the fields of one client in an inbound's settings."""

    id: str | int | None = None
    email: str = ""
    enable: bool = True
    expiry_time: int = 0
    limit_ip: int = 0
    total_gb: int = 0
    tg_id: str | int = ""
    sub_id: str = ""
    flow: str = ""
    inbound_id: int | None = None
    up: int = 0
    down: int = 0
    reset: int = 0

    def to_settings(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "enable": self.enable,
            "expiryTime": self.expiry_time,
            "limitIp": self.limit_ip,
            "totalGB": self.total_gb,
            "tgId": self.tg_id,
            "subId": self.sub_id,
            "flow": self.flow,
            "reset": self.reset,
        }

    @classmethod
    def from_panel(cls, data: dict[str, Any]) -> Client:
        return cls(
            id=data.get("id"),
            email=str(data.get("email", "")),
            enable=bool(data.get("enable", True)),
            expiry_time=int(data.get("expiryTime") or 0),
            limit_ip=int(data.get("limitIp") or 0),
            total_gb=int(data.get("totalGB") or data.get("total") or 0),
            tg_id=data.get("tgId", ""),
            sub_id=str(data.get("subId", "")),
            flow=str(data.get("flow", "")),
            inbound_id=data.get("inboundId"),
            up=int(data.get("up") or 0),
            down=int(data.get("down") or 0),
        )


@dataclass
class StreamSettings:
    security: str = ""
    network: str = ""
    reality_settings: dict[str, Any] = field(default_factory=dict)
    ws_settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class InboundSettings:
    clients: list[Client] = field(default_factory=list)


@dataclass
class Inbound:
    """py3xui's ``Inbound``, as far as link building needs it."""

    id: int
    port: int
    protocol: str
    remark: str
    settings: InboundSettings
    stream_settings: StreamSettings

    @classmethod
    def from_panel(cls, data: dict[str, Any]) -> Inbound:
        settings = _json_field(data.get("settings"))
        stream = _json_field(data.get("streamSettings"))
        return cls(
            id=int(data.get("id") or 0),
            port=int(data.get("port") or 0),
            protocol=str(data.get("protocol", "")),
            remark=str(data.get("remark", "")),
            settings=InboundSettings([Client.from_panel(c) for c in settings.get("clients") or [] if isinstance(c, dict)]),
            stream_settings=StreamSettings(
                security=str(stream.get("security", "")),
                network=str(stream.get("network", "")),
                reality_settings=stream.get("realitySettings") or {},
                ws_settings=stream.get("wsSettings") or {},
            ),
        )


def _json_field(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


class XuiAPI:
    """One 3x-ui panel: ``login()`` then ``.client`` / ``.inbound`` calls (py3xui's ``AsyncApi`` shape)."""

    def __init__(
        self, host: str, username: str | None, password: str | None, token: str | None = None, *, timeout: float | None = None
    ) -> None:
        self.host = host.rstrip("/")
        self.username, self.password, self.token = username, password, token
        self._timeout = aiohttp.ClientTimeout(total=timeout or current().timeout)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self.client = _ClientApi(self)
        self.inbound = _InboundApi(self)

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # The login cookie belongs to the panel's host; an unsafe jar keeps it for IP addresses too.
            jar = aiohttp.CookieJar(unsafe=True)
            self._session, self._session_loop = aiohttp.ClientSession(timeout=self._timeout, cookie_jar=jar), loop
        return self._session

    async def login(self) -> None:
        if self.token or through_host("3x-ui") is not None:
            return  # a token needs no session; through the host, the host logs in
        if not (self.username and self.password):
            raise XuiError(f"3x-ui {self.host}: no credentials configured (XUI_USERNAME / XUI_PASSWORD)")
        await self._call("POST", "/login", form={"username": self.username, "password": self.password})

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, *, body: Any = None, form: dict[str, str] | None = None, retry: bool = True
    ) -> Any:
        host = through_host("3x-ui")
        if host is not None:  # a module process the operator granted 3x-ui: the host sends it
            try:
                answer = await host({"panel": "3x-ui", "base_url": self.host, "method": method, "path": path, "json": body})
            except Exception as exc:
                raise XuiError(f"{path}: refused by the host: {exc}") from exc
            if "error" in answer:
                raise XuiError(str(answer["error"]))
            return answer.get("obj")
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with self._http().request(method, f"{self.host}{path}", json=body, data=form, headers=headers) as resp:
                if resp.status in (401, 404) and retry and path != "/login" and self.username and not self.token:
                    # 3x-ui hides its API from a session it no longer knows (expired, or a new client
                    # session): log in again, once.
                    await self.login()
                    return await self._call(method, path, body=body, form=form, retry=False)
                if resp.status >= 400:
                    raise XuiError(f"HTTP {resp.status} from {path}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise XuiError(f"{path}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict) or not answer.get("success"):
            raise XuiError(str((answer or {}).get("msg") or f"{path} failed") if isinstance(answer, dict) else f"{path} failed")
        return answer.get("obj")


class _ClientApi:
    def __init__(self, api: XuiAPI) -> None:
        self._api = api

    async def add(self, inbound_id: int, clients: list[Client]) -> Any:
        settings = json.dumps({"clients": [c.to_settings() for c in clients]})
        return await self._api._call("POST", "/panel/api/inbounds/addClient", body={"id": inbound_id, "settings": settings})

    async def get_by_email(self, email: str) -> Client | None:
        obj = await self._api._call("GET", f"/panel/api/inbounds/getClientTraffics/{email}")
        return Client.from_panel(obj) if isinstance(obj, dict) else None

    async def get_traffic_by_id(self, client_id: str) -> list[Client]:
        obj = await self._api._call("GET", f"/panel/api/inbounds/getClientTrafficsById/{client_id}")
        return [Client.from_panel(o) for o in obj or [] if isinstance(o, dict)]

    async def update(self, client_uuid: str, client: Client) -> Any:
        settings = json.dumps({"clients": [client.to_settings()]})
        body = {"id": client.inbound_id, "settings": settings}
        return await self._api._call("POST", f"/panel/api/inbounds/updateClient/{client_uuid}", body=body)

    async def delete(self, inbound_id: int, client_uuid: str) -> Any:
        return await self._api._call("POST", f"/panel/api/inbounds/{inbound_id}/delClient/{client_uuid}")

    async def reset_stats(self, inbound_id: int, email: str) -> Any:
        return await self._api._call("POST", f"/panel/api/inbounds/{inbound_id}/resetClientTraffic/{email}")


class _InboundApi:
    def __init__(self, api: XuiAPI) -> None:
        self._api = api

    async def get_by_id(self, inbound_id: int) -> Inbound | None:
        obj = await self._api._call("GET", f"/panel/api/inbounds/get/{inbound_id}")
        return Inbound.from_panel(obj) if isinstance(obj, dict) else None


# ------------------------------------------------------------- upstream's functions


@dataclass
class ClientConfig:
    """Конфигурация клиента для добавления/обновления (upstream's name and fields)."""

    client_id: str
    email: str
    tg_id: str
    limit_ip: int
    total_gb: int
    expiry_time: int
    enable: bool
    flow: str
    inbound_id: int
    sub_id: str


_xui_instance_cache: dict[str, tuple[XuiAPI, float]] = {}


async def get_xui_instance(api_url: str) -> XuiAPI:
    """A logged-in client for ``api_url`` with the operator's credentials, re-used for 30 minutes."""
    settings = current()
    key = f"{api_url}|{settings.xui_username}"
    cached = _xui_instance_cache.get(key)
    now = time.time()
    if cached is not None:
        xui, logged_in_at = cached
        if now - logged_in_at < SESSION_TTL:
            return xui
        await xui.login()
        _xui_instance_cache[key] = (xui, now)
        return xui
    xui = XuiAPI(api_url, settings.xui_username, settings.xui_password, token=settings.xui_token)
    await xui.login()
    _xui_instance_cache[key] = (xui, now)
    return xui


async def add_client(xui: XuiAPI, config: ClientConfig) -> dict[str, Any]:
    client = Client(
        id=config.client_id,
        email=config.email.lower(),
        limit_ip=config.limit_ip if config.limit_ip is not None else 0,
        total_gb=config.total_gb,
        expiry_time=config.expiry_time,
        enable=config.enable,
        tg_id=config.tg_id,
        sub_id=config.sub_id,
        flow=config.flow,
    )
    try:
        response = await xui.client.add(config.inbound_id, [client])
        log.info("3x-ui: client %s added with id %s", config.email, config.client_id)
        return response if response else {"status": "success"}
    except XuiError as exc:
        if "Duplicate email" in str(exc):
            log.warning("3x-ui: duplicate email %s, skipped: %s", config.email, exc)
            return {"status": "duplicate", "email": config.email}
        log.error("3x-ui: adding client %s failed: %s", config.email, exc)
        return {"status": "failed", "error": str(exc)}


async def extend_client_key(
    xui: XuiAPI,
    inbound_id: int,
    email: str,
    new_expiry_time: int,
    client_id: str,
    total_gb: int,
    sub_id: str,
    tg_id: int,
    limit_ip: int = 0,
) -> bool | None:
    try:
        client = await xui.client.get_by_email(email)
        if not client or not client.id:
            log.warning("3x-ui: client %s not found", email)
            return None
        client.id = client_id
        client.expiry_time = new_expiry_time
        client.flow = "xtls-rprx-vision"
        client.sub_id = sub_id
        client.total_gb = total_gb
        client.enable = True
        client.limit_ip = limit_ip
        client.inbound_id = inbound_id
        client.tg_id = tg_id
        await xui.client.update(client_id, client)
        await xui.client.reset_stats(inbound_id, email)
        return True
    except XuiError as exc:
        log.error("3x-ui: extending client %s failed: %s", email, exc)
        return False


async def delete_client(xui: XuiAPI, inbound_id: int, email: str, client_id: str) -> bool:
    try:
        if current().supernode:
            await xui.client.delete(inbound_id, client_id)
            return True
        client = await xui.client.get_by_email(email)
        if not client:
            log.warning("3x-ui: client %s (%s) not found", email, client_id)
            return False
        await xui.client.delete(inbound_id, client_id)
        return True
    except XuiError as exc:
        log.error("3x-ui: deleting client %s failed: %s", client_id, exc)
        return False


async def get_client_traffic(xui: XuiAPI, client_id: str) -> dict[str, Any]:
    try:
        traffic = await xui.client.get_traffic_by_id(client_id)
    except XuiError as exc:
        return {"status": "error", "error": str(exc)}
    if not traffic:
        return {"status": "not_found", "client_id": client_id}
    return {"status": "success", "client_id": client_id, "traffic": traffic}


async def toggle_client(xui: XuiAPI, inbound_id: int, email: str, client_id: str, enable: bool = True) -> bool:
    try:
        client = await xui.client.get_by_email(email)
        if not client:
            return False
        client.sub_id = email
        client.enable = enable
        client.id = client_id
        client.flow = "xtls-rprx-vision"
        client.limit_ip = 0
        client.inbound_id = inbound_id
        await xui.client.update(client_id, client)
        return True
    except XuiError as exc:
        log.error("3x-ui: toggling client %s failed: %s", email, exc)
        return False


def build_vless_link_from_inbound(
    inbound: Inbound,
    user_uuid: str,
    email: str,
    external_host: str,
    port: int,
    remark: str | None = None,
    client_flow: str | None = None,
) -> str:
    name = remark or email
    security = (inbound.stream_settings.security or "").lower()
    network = (inbound.stream_settings.network or "").lower()
    base = f"vless://{user_uuid}@{external_host}:{port}"
    if security == "reality" and network == "tcp":
        rs = inbound.stream_settings.reality_settings or {}
        inner = rs.get("settings") or {}
        pbk = inner.get("publicKey") or rs.get("publicKey") or ""
        sni = _first(rs.get("serverNames") or inner.get("serverNames") or rs.get("serverName") or inner.get("serverName"))
        sid = _first(rs.get("shortIds") or inner.get("shortIds") or rs.get("shortId") or inner.get("shortId"))
        fp = rs.get("fingerprint") or inner.get("fingerprint") or ""
        query = "?type=tcp&security=reality" + "".join(
            f"&{key}={value}" for key, value in (("pbk", pbk), ("fp", fp), ("sni", sni), ("sid", sid)) if value
        )
        return f"{base}{query}&spx=%2F" + (f"&flow={client_flow}" if client_flow else "") + f"#{name}"
    if network == "ws":
        path = ((inbound.stream_settings.ws_settings or {}).get("path") or "/").strip() or "/"
        if security == "tls":
            return f"{base}?type=ws&security=tls&host={external_host}&sni={external_host}&path={path}#{name}"
        return f"{base}?type=ws&path={path}#{name}"
    if security == "tls":
        return f"{base}?type=tcp&security=tls&sni={external_host}#{name}"
    return f"{base}?type=tcp#{name}"


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value or "")


async def get_vless_link_for_client(
    xui: XuiAPI, inbound_id: int, email: str, external_host: str, port: int, remark: str | None = None
) -> str | None:
    try:
        inbound = await xui.inbound.get_by_id(inbound_id)
    except XuiError as exc:
        log.error("3x-ui: reading inbound %s failed: %s", inbound_id, exc)
        return None
    if inbound is None:
        return None
    for client in inbound.settings.clients:
        if client.email == email and client.id:
            return build_vless_link_from_inbound(inbound, str(client.id), email, external_host, port, remark, client.flow or None)
    return None


class XuiPanel(VpnPanel):
    """The core's panel interface over a cluster of 3x-ui servers: every server gets the client."""

    panel_type = "3x-ui"

    def __init__(self, servers: list[dict[str, Any]]) -> None:
        self.servers = [s for s in servers if s.get("api_url") and s.get("inbound_id")]
        if not self.servers:
            raise PanelError("3x-ui: the cluster has no server with an api_url and an inbound_id")

    def _link(self, spec: ClientSpec) -> str:
        public = current().public_link
        if public:
            return f"{public}{spec.email}/{spec.tg_id}"
        subscription = str(self.servers[0].get("subscription_url") or "").rstrip("/")
        if not subscription:
            raise PanelError("3x-ui: set PUBLIC_LINK or the servers' subscription_url, so keys have a link")
        return f"{subscription}/{spec.email}"

    def _config(self, spec: ClientSpec, server: dict[str, Any]) -> ClientConfig:
        return ClientConfig(
            client_id=spec.client_id,
            email=spec.email,
            tg_id=str(spec.tg_id),
            limit_ip=spec.device_limit or 0,
            total_gb=(spec.traffic_limit_gb or 0) * _GB,
            expiry_time=spec.expiry_ms,
            enable=True,
            flow="xtls-rprx-vision",
            inbound_id=int(server["inbound_id"]),
            sub_id=spec.email,
        )

    async def create_client(self, spec: ClientSpec) -> str:
        link = self._link(spec)
        for server in self.servers:
            result = await add_client(await _instance(server), self._config(spec, server))
            if isinstance(result, dict) and result.get("status") in ("failed",):
                raise PanelError(f"3x-ui {server['api_url']}: could not add {spec.email}: {result.get('error')}")
        return link

    async def extend(self, spec: ClientSpec) -> None:
        for server in self.servers:
            config = self._config(spec, server)
            done = await extend_client_key(
                await _instance(server),
                config.inbound_id,
                spec.email,
                spec.expiry_ms,
                spec.client_id,
                config.total_gb,
                config.sub_id,
                spec.tg_id,
                config.limit_ip,
            )
            if not done:
                raise PanelError(f"3x-ui {server['api_url']}: could not extend {spec.email}")

    async def delete(self, client_id: str, email: str) -> None:
        for server in self.servers:
            xui = await _instance(server)
            try:
                await xui.client.delete(int(server["inbound_id"]), client_id)
            except XuiError as exc:
                if "not found" not in str(exc).lower():  # deleting what does not exist is not an error
                    raise PanelError(f"3x-ui {server['api_url']}: could not delete {email}: {exc}") from exc


async def _instance(server: dict[str, Any]) -> XuiAPI:
    try:
        return await get_xui_instance(str(server["api_url"]))
    except XuiError as exc:
        raise PanelError(f"3x-ui {server['api_url']}: login failed: {exc}") from exc
