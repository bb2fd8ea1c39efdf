"""A Remnawave panel's REST API (``/api``), in memory: users, subscriptions, HWID devices.

Follows Remnawave's public API: ``POST /api/auth/login`` gives a JWT-like bearer token; every
other call needs ``Authorization: Bearer <token>`` (a login token or the panel's API token);
answers are ``{"response": ...}``; errors are ``{"message", "errorCode"}`` with 400/401/404.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid as uuid_lib
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from .running import LocalServer

_USERNAME = re.compile(r"^[A-Za-z0-9_-]{3,36}$")


class RemnawaveServer(LocalServer):
    def __init__(self, username: str = "admin", password: str = "secret", api_token: str | None = None) -> None:
        super().__init__()
        self.username, self.password = username, password
        self.tokens: set[str] = {api_token} if api_token else set()
        self.users: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, list[dict[str, Any]]] = {}
        self.squads = {str(uuid_lib.uuid4()): "Default-Squad"}
        self.requests: list[tuple[str, str]] = []

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def squad(self) -> str:
        return next(iter(self.squads))

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_post("/api/auth/login", self.login)
        r.add_post("/api/users", self.create_user)
        r.add_patch("/api/users", self.update_user)
        r.add_get("/api/users", self.list_users)
        r.add_post("/api/users/bulk/extend-expiration-date", self.bulk_extend)
        r.add_get("/api/users/{uuid}", self.get_user)
        r.add_delete("/api/users/{uuid}", self.delete_user)
        r.add_post("/api/users/{uuid}/actions/{action}", self.user_action)
        r.add_get("/api/subscriptions/by-username/{username}", self.subscription_by_username)
        r.add_get("/api/hwid/devices/{uuid}", self.get_devices)
        r.add_post("/api/hwid/devices/delete", self.delete_device)
        r.add_get("/api/sub/{short}", self.subscription_page)
        return app

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.path in ("/api/auth/login",) or request.path.startswith("/api/sub/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return _error(401, "Unauthorized", "A001")
        return await handler(request)

    def _user(self, request: web.Request) -> dict[str, Any]:
        user = self.users.get(request.match_info["uuid"])
        if user is None:
            body = json.dumps({"message": "User not found", "errorCode": "A063"})
            raise web.HTTPNotFound(text=body, content_type="application/json")
        return user

    def _public(self, user: dict[str, Any]) -> dict[str, Any]:
        return {
            **user,
            "subscriptionUrl": f"{self.url}/api/sub/{user['shortUuid']}",
            "activeInternalSquads": [{"uuid": s, "name": self.squads.get(s, "?")} for s in user["activeInternalSquads"]],
        }

    # ---------------------------------------------------------------- endpoints

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("username") != self.username or body.get("password") != self.password:
            return _error(401, "Invalid credentials", "A003")
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return _ok({"accessToken": token})

    async def create_user(self, request: web.Request) -> web.Response:
        body = await request.json()
        username = body.get("username")
        if not isinstance(username, str) or not _USERNAME.match(username):
            return _error(400, "username: 3-36 letters, digits, _ or -", "VALIDATION")
        expire_at = _parse_date(body.get("expireAt"))
        if expire_at is None:
            return _error(400, "expireAt: an ISO 8601 date is required", "VALIDATION")
        if any(u["username"] == username for u in self.users.values()):
            return _error(400, "User username already exists", "A019")
        squads = body.get("activeInternalSquads") or []
        unknown = [s for s in squads if s not in self.squads]
        if unknown:
            return _error(400, f"internal squads not found: {unknown}", "A101")
        user_uuid = str(body.get("uuid") or uuid_lib.uuid4())
        if user_uuid in self.users:
            return _error(400, "User uuid already exists", "A019")
        user = {
            "uuid": user_uuid,
            "shortUuid": body.get("shortUuid") or secrets.token_urlsafe(12),
            "username": username,
            "status": "ACTIVE",
            "expireAt": body["expireAt"],
            "telegramId": body.get("telegramId"),
            "email": body.get("email"),
            "trafficLimitBytes": int(body.get("trafficLimitBytes") or 0),
            "trafficLimitStrategy": body.get("trafficLimitStrategy", "NO_RESET"),
            "hwidDeviceLimit": body.get("hwidDeviceLimit"),
            "activeInternalSquads": list(squads),
            "userTraffic": {"usedTrafficBytes": 0},
        }
        self.users[user_uuid] = user
        return _ok(self._public(user), status=201)

    async def update_user(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self.users.get(body.get("uuid", ""))
        if user is None:
            return _error(404, "User not found", "A063")
        if "expireAt" in body and _parse_date(body["expireAt"]) is None:
            return _error(400, "expireAt: an ISO 8601 date is required", "VALIDATION")
        for key in ("expireAt", "telegramId", "email", "trafficLimitBytes", "hwidDeviceLimit", "trafficLimitStrategy"):
            if key in body:
                user[key] = body[key]
        if "activeInternalSquads" in body:
            user["activeInternalSquads"] = list(body["activeInternalSquads"])
        return _ok(self._public(user))

    async def list_users(self, request: web.Request) -> web.Response:
        start, size = int(request.query.get("start", 0)), int(request.query.get("size", 25))
        users = list(self.users.values())
        return _ok({"users": [self._public(u) for u in users[start : start + size]], "total": len(users)})

    async def get_user(self, request: web.Request) -> web.Response:
        return _ok(self._public(self._user(request)))

    async def delete_user(self, request: web.Request) -> web.Response:
        user = self._user(request)
        del self.users[user["uuid"]]
        return _ok({"isDeleted": True})

    async def user_action(self, request: web.Request) -> web.Response:
        user, action = self._user(request), request.match_info["action"]
        if action == "enable":
            user["status"] = "ACTIVE"
        elif action == "disable":
            user["status"] = "DISABLED"
        elif action == "reset-traffic":
            user["userTraffic"] = {"usedTrafficBytes": 0}
        elif action == "revoke":
            user["shortUuid"] = secrets.token_urlsafe(12)
        else:
            raise web.HTTPNotFound()
        return _ok(self._public(user))

    async def bulk_extend(self, request: web.Request) -> web.Response:
        body = await request.json()
        affected = 0
        for user_uuid in body.get("uuids") or []:
            user = self.users.get(user_uuid)
            if user is not None:
                expire = _parse_date(user["expireAt"]) + timedelta(days=int(body["extendDays"]))
                user["expireAt"] = expire.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
                affected += 1
        return _ok({"affectedRows": affected})

    async def subscription_by_username(self, request: web.Request) -> web.Response:
        username = request.match_info["username"]
        user = next((u for u in self.users.values() if u["username"] == username), None)
        if user is None:
            return _error(404, "User not found", "A063")
        link = f"vless://{user['uuid']}@vpn.example.org:443?type=tcp&security=reality#{username}"
        public = self._public(user)
        return _ok({"isFound": True, "user": public, "links": [link], "subscriptionUrl": public["subscriptionUrl"]})

    async def get_devices(self, request: web.Request) -> web.Response:
        devices = self.devices.get(request.match_info["uuid"], [])
        return _ok({"total": len(devices), "devices": devices})

    async def delete_device(self, request: web.Request) -> web.Response:
        body = await request.json()
        devices = self.devices.get(body.get("userUuid", ""), [])
        self.devices[body.get("userUuid", "")] = [d for d in devices if d.get("hwid") != body.get("hwid")]
        return _ok({"total": len(self.devices[body.get("userUuid", "")]), "devices": self.devices[body.get("userUuid", "")]})

    async def subscription_page(self, request: web.Request) -> web.Response:
        return web.Response(text="vless://...")


def _parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ok(response: Any, status: int = 200) -> web.Response:
    return web.json_response({"response": response}, status=status)


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"message": message, "errorCode": code, "statusCode": status}, status=status)
