"""Remnawave's HTTP API, under upstream's module-facing name ``panels.remnawave.RemnawaveAPI``.

Upstream ships this client compiled; the names and return conventions here follow its call
sites (``login`` → bool, ``create_user`` → the user dict or ``None``, ``update_user`` /
``delete_user`` → bool, ``get_user_hwid_devices`` → list …). Requests follow Remnawave's
public REST API: ``base_url`` is the panel's API root (``https://panel.example.com/api``), every
answer is ``{"response": ...}``, authentication is a bearer token from ``POST /auth/login`` or an
API token. Errors are logged and turned into the "failed" value, as upstream's callers expect;
``PanelError`` is raised only by :class:`RemnawavePanel` (the core's interface).

Credentials: ``login(username, password)`` as upstream; without it, the operator's configured
login or token (``panels.settings``) is used on the first request — in the host only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp

from .base import ClientSpec, PanelError, VpnPanel
from .remote import through_host
from .settings import current

log = logging.getLogger("solobot.panels")

_GB = 1024**3
PAGE_SIZE = 500


class RemnawaveAPI:
    def __init__(self, base_url: str, token: str | None = None, *, timeout: float | None = None) -> None:
        settings = current()
        self.base_url = base_url.rstrip("/")
        self.token = token or settings.remnawave_token
        self._creds: tuple[str, str] | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout or settings.timeout)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._login_lock = asyncio.Lock()
        self.last_status: int | None = None  # HTTP status of the last request (404: no such user)

    # ------------------------------------------------------------------ plumbing

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # A session belongs to the loop it was made in (a client may outlive one, e.g. in tests).
            self._session, self._session_loop = aiohttp.ClientSession(timeout=self._timeout), loop
        return self._session

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RemnawaveAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _ensure_login(self) -> bool:
        if self.token:
            return True
        creds = self._creds
        if creds is None:
            settings = current()
            if settings.remnawave_login and settings.remnawave_password:
                creds = (settings.remnawave_login, settings.remnawave_password)
        if creds is None:
            log.error("[Remnawave] %s: auth required and no credentials/token available", self.base_url)
            return False
        return await self.login(*creds)

    async def _request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None, retry: bool = True
    ) -> Any:
        """The ``response`` of a successful call; ``None`` (logged) on any failure, 404 included."""
        host = through_host("remnawave")
        if host is not None:  # a module process the operator granted Remnawave: the host sends it
            try:
                answer = await host({"panel": "remnawave", "base_url": self.base_url, "method": method, "path": path,
                                     "json": json, "params": params})  # fmt: skip
            except Exception as exc:
                log.error("[Remnawave] %s %s refused by the host: %s", method, path, exc)
                return None
            self.last_status = answer.get("status")
            return answer.get("response")
        if not await self._ensure_login():
            return None
        url = f"{self.base_url}{path}"
        try:
            async with self._client().request(method, url, json=json, params=params, headers=self._auth_headers()) as resp:
                self.last_status = resp.status
                if resp.status == 401 and self._creds is not None and retry:
                    self.token = None  # expired: log in again, once
                    if await self._ensure_login():
                        return await self._request(method, path, json=json, params=params, retry=False)
                if resp.status >= 400:
                    log.warning("[Remnawave] %s %s -> HTTP %s: %s", method, path, resp.status, (await resp.text())[:300])
                    return None
                if resp.content_type != "application/json":
                    return {}
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.error("[Remnawave] %s %s failed: %s", method, path, exc)
            return None
        return body.get("response", body) if isinstance(body, dict) else body

    # --------------------------------------------------------------------- auth

    async def login(self, username: str, password: str) -> bool:
        if through_host("remnawave") is not None:
            return True  # the host authenticates this process's calls with the operator's account
        async with self._login_lock:
            try:
                async with self._client().post(
                    f"{self.base_url}/auth/login", json={"username": username, "password": password}
                ) as resp:
                    body = await resp.json() if resp.status < 400 and resp.content_type == "application/json" else None
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.error("[Remnawave] login to %s failed: %s", self.base_url, exc)
                return False
            token = ((body or {}).get("response") or {}).get("accessToken") if isinstance(body, dict) else None
            if not token:
                log.error("[Remnawave] login to %s refused (HTTP %s)", self.base_url, status)
                return False
            self.token = token
            self._creds = (username, password)
            return True

    # -------------------------------------------------------------------- users

    async def create_user(self, user_data: dict[str, Any]) -> dict[str, Any] | None:
        return await self._request("POST", "/users", json=user_data)

    async def get_user_by_uuid(self, uuid: str) -> dict[str, Any] | None:
        return await self._request("GET", f"/users/{uuid}")

    async def update_user(
        self,
        uuid: str,
        expire_at: str | None = None,
        telegram_id: int | None = None,
        email: str | None = None,
        active_user_inbounds: list[str] | None = None,
        traffic_limit_bytes: int | None = None,
        hwid_device_limit: int | None = None,
        external_squad_uuid: str | None = None,
        traffic_limit_strategy: str | None = None,
        description: str | None = None,
    ) -> bool:
        payload: dict[str, Any] = {"uuid": uuid}
        for key, value in (
            ("expireAt", expire_at),
            ("telegramId", telegram_id),
            ("email", email),
            ("activeInternalSquads", active_user_inbounds),
            ("trafficLimitBytes", traffic_limit_bytes),
            ("hwidDeviceLimit", hwid_device_limit),
            ("externalSquadUuid", external_squad_uuid),
            ("trafficLimitStrategy", traffic_limit_strategy),
            ("description", description),
        ):
            if value is not None:
                payload[key] = value
        return await self._request("PATCH", "/users", json=payload) is not None

    async def delete_user(self, uuid: str) -> bool:
        return await self._request("DELETE", f"/users/{uuid}") is not None

    async def enable_user(self, uuid: str) -> bool:
        return await self._request("POST", f"/users/{uuid}/actions/enable") is not None

    async def disable_user(self, uuid: str) -> bool:
        return await self._request("POST", f"/users/{uuid}/actions/disable") is not None

    async def reset_user_traffic(self, uuid: str) -> bool:
        return await self._request("POST", f"/users/{uuid}/actions/reset-traffic") is not None

    async def revoke_user_subscription(self, uuid: str) -> dict[str, Any] | None:
        return await self._request("POST", f"/users/{uuid}/actions/revoke", json={})

    async def bulk_extend_expiration_date(self, uuids: list[str], days: int) -> dict[str, Any] | None:
        return await self._request("POST", "/users/bulk/extend-expiration-date", json={"uuids": uuids, "extendDays": days})

    async def get_all_users_time(self, username: str | None = None, password: str | None = None) -> list[dict[str, Any]]:
        """Every user of the panel (paged); logs in with ``username``/``password`` when given."""
        if username and password and not await self.login(username, password):
            return []
        users: list[dict[str, Any]] = []
        while True:
            page = await self._request("GET", "/users", params={"start": len(users), "size": PAGE_SIZE})
            batch = (page or {}).get("users") or [] if isinstance(page, dict) else []
            users.extend(batch)
            total = (page or {}).get("total", 0) if isinstance(page, dict) else 0
            if not batch or len(users) >= total:
                return users

    # ------------------------------------------------------------ subscriptions

    async def get_subscription_by_username(self, username: str) -> dict[str, Any] | None:
        return await self._request("GET", f"/subscriptions/by-username/{username}")

    async def get_subscription(self, short_uuid: str) -> dict[str, Any] | None:
        return await self._request("GET", f"/subscriptions/by-short-uuid/{short_uuid}")

    async def encrypt_happ_crypto_link(self, link: str) -> str | None:
        result = await self._request("POST", "/system/tools/happ/encrypt", json={"linkToEncrypt": link})
        return result.get("encryptedLink") if isinstance(result, dict) else None

    # ------------------------------------------------------------------ devices

    async def get_user_hwid_devices(self, uuid: str) -> list[dict[str, Any]]:
        result = await self._request("GET", f"/hwid/devices/{uuid}")
        return list(result.get("devices") or []) if isinstance(result, dict) else []

    async def delete_user_hwid_device(self, uuid: str, hwid: str) -> bool:
        return await self._request("POST", "/hwid/devices/delete", json={"userUuid": uuid, "hwid": hwid}) is not None

    async def clear_all_hwid_devices(self, uuid: str) -> bool:
        return await self._request("POST", "/hwid/devices/delete-all", json={"userUuid": uuid}) is not None

    # -------------------------------------------------------------------- nodes

    async def get_all_nodes(self) -> list[dict[str, Any]]:
        result = await self._request("GET", "/nodes")
        return list(result) if isinstance(result, list) else []

    async def get_hosts(self) -> list[dict[str, Any]]:
        result = await self._request("GET", "/hosts")
        return list(result) if isinstance(result, list) else []


async def get_vless_link_for_remnawave_by_username(api: RemnawaveAPI, username: str, remark: str | None = None) -> str | None:
    """The first ``vless://`` link of the user's subscription (named ``remark`` when given)."""
    data = await api.get_subscription_by_username(username)
    for link in (data or {}).get("links") or [] if isinstance(data, dict) else []:
        if isinstance(link, str) and link.startswith("vless://"):
            return f"{link.split('#', 1)[0]}#{remark}" if remark else link
    return None


def expire_at_iso(expiry_ms: int) -> str:
    """Remnawave's ``expireAt``: ISO 8601 UTC with ``Z``, as upstream builds it from ms."""
    return datetime.fromtimestamp(expiry_ms / 1000, UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class RemnawavePanel(VpnPanel):
    """The core's panel interface over one Remnawave panel; a cluster's servers are its squads."""

    panel_type = "remnawave"

    def __init__(self, servers: list[dict[str, Any]]) -> None:
        if not servers:
            raise PanelError("remnawave: the cluster has no servers")
        self.api_url = str(servers[0].get("api_url") or "")
        self.squads = [str(s["inbound_id"]) for s in servers if s.get("inbound_id")]
        if not self.api_url:
            raise PanelError(f"remnawave: server {servers[0].get('server_name')!r} has no api_url")

    async def create_client(self, spec: ClientSpec) -> str:
        user_data: dict[str, Any] = {
            "username": spec.email,
            "trafficLimitStrategy": "NO_RESET",
            "expireAt": expire_at_iso(spec.expiry_ms),
            "telegramId": spec.tg_id,
            "activeInternalSquads": self.squads,
            "uuid": spec.client_id,
            "hwidDeviceLimit": spec.device_limit or 0,
        }
        if spec.traffic_limit_gb:
            user_data["trafficLimitBytes"] = spec.traffic_limit_gb * _GB
        async with RemnawaveAPI(self.api_url) as api:
            result = await api.create_user(user_data)
        if not result or not result.get("subscriptionUrl"):
            raise PanelError(f"remnawave {self.api_url}: could not create user {spec.email}")
        return str(result["subscriptionUrl"])

    async def extend(self, spec: ClientSpec) -> None:
        async with RemnawaveAPI(self.api_url) as api:
            updated = await api.update_user(
                uuid=spec.client_id,
                expire_at=expire_at_iso(spec.expiry_ms),
                active_user_inbounds=self.squads,
                traffic_limit_bytes=(spec.traffic_limit_gb or 0) * _GB,
                hwid_device_limit=spec.device_limit or 0,
            )
        if not updated:
            raise PanelError(f"remnawave {self.api_url}: could not extend user {spec.email}")

    async def delete(self, client_id: str, email: str) -> None:
        async with RemnawaveAPI(self.api_url) as api:
            if await api.delete_user(client_id) or api.last_status == 404:
                return  # deleted, or already gone
        raise PanelError(f"remnawave {self.api_url}: could not delete user {email}")
