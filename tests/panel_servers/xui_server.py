"""A 3x-ui panel's API, in memory: ``POST /login`` and ``/panel/api/inbounds``.

Follows 3x-ui's public API: login with a form sets a session cookie; API calls without it are
refused; every answer is ``{"success", "msg", "obj"}`` with HTTP 200 (failures say
``success: false``); an inbound's ``settings`` and ``streamSettings`` are JSON *strings*;
``addClient``/``updateClient`` take ``{"id": inbound_id, "settings": "{\\"clients\\": [...]}"}``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from .running import LocalServer

COOKIE = "3x-ui"


class XuiServer(LocalServer):
    def __init__(self, username: str = "admin", password: str = "secret", inbound_id: int = 1) -> None:
        super().__init__()
        self.username, self.password = username, password
        self.sessions: set[str] = set()
        self.inbound_id = inbound_id
        stream = {
            "network": "tcp",
            "security": "reality",
            "realitySettings": {
                "serverNames": ["www.example.org"],
                "shortIds": ["ab12"],
                "settings": {"publicKey": "PUBKEY", "fingerprint": "chrome"},
            },
        }
        self.inbounds: dict[int, dict[str, Any]] = {
            inbound_id: {"id": inbound_id, "port": 443, "protocol": "vless", "remark": "main", "clients": [], "stream": stream}
        }
        self.traffic: dict[str, dict[str, Any]] = {}  # email -> client traffic row
        self._next_traffic_id = 1

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_post("/login", self.login)
        base = "/panel/api/inbounds"
        r.add_get(f"{base}/get/{{id}}", self.get_inbound)
        r.add_post(f"{base}/addClient", self.add_client)
        r.add_post(f"{base}/updateClient/{{uuid}}", self.update_client)
        r.add_post(f"{base}/{{id}}/delClient/{{uuid}}", self.delete_client)
        r.add_get(f"{base}/getClientTraffics/{{email}}", self.client_traffic)
        r.add_get(f"{base}/getClientTrafficsById/{{uuid}}", self.client_traffic_by_id)
        r.add_post(f"{base}/{{id}}/resetClientTraffic/{{email}}", self.reset_traffic)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/login" and request.cookies.get(COOKIE) not in self.sessions:
            raise web.HTTPNotFound()  # 3x-ui hides its API from anonymous callers
        return await handler(request)

    def client(self, email: str) -> dict[str, Any] | None:
        for inbound in self.inbounds.values():
            for client in inbound["clients"]:
                if client["email"] == email:
                    return client
        return None

    def _inbound(self, raw: Any) -> dict[str, Any] | None:
        try:
            return self.inbounds.get(int(raw))
        except (TypeError, ValueError):
            return None

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("username") != self.username or form.get("password") != self.password:
            return _answer(False, "Invalid username or password")
        session = secrets.token_urlsafe(16)
        self.sessions.add(session)
        response = _answer(True, "Login Successfully")
        response.set_cookie(COOKIE, session, httponly=True)
        return response

    async def get_inbound(self, request: web.Request) -> web.Response:
        inbound = self._inbound(request.match_info["id"])
        if inbound is None:
            return _answer(False, "Inbound Not Found")
        return _answer(True, "", self._inbound_obj(inbound))

    def _inbound_obj(self, inbound: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": inbound["id"],
            "port": inbound["port"],
            "protocol": inbound["protocol"],
            "remark": inbound["remark"],
            "settings": json.dumps({"clients": inbound["clients"], "decryption": "none"}),
            "streamSettings": json.dumps(inbound["stream"]),
            "clientStats": [self.traffic[c["email"]] for c in inbound["clients"] if c["email"] in self.traffic],
        }

    async def _clients_body(self, request: web.Request) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        body = await request.json()
        inbound = self._inbound(body.get("id"))
        clients = json.loads(body.get("settings") or "{}").get("clients") or []
        return inbound, clients

    async def add_client(self, request: web.Request) -> web.Response:
        inbound, clients = await self._clients_body(request)
        if inbound is None:
            return _answer(False, "Inbound Not Found")
        for client in clients:
            if not client.get("email") or not client.get("id"):
                return _answer(False, "empty client ID or email")
            if self.client(client["email"]) is not None:
                return _answer(False, f"Duplicate email: {client['email']}")
        for client in clients:
            inbound["clients"].append(client)
            self.traffic[client["email"]] = {
                "id": self._next_traffic_id,
                "inboundId": inbound["id"],
                "enable": client.get("enable", True),
                "email": client["email"],
                "up": 0,
                "down": 0,
                "expiryTime": client.get("expiryTime", 0),
                "total": client.get("totalGB", 0),
            }
            self._next_traffic_id += 1
        return _answer(True, "Client(s) added Successfully")

    async def update_client(self, request: web.Request) -> web.Response:
        inbound, clients = await self._clients_body(request)
        if inbound is None or len(clients) != 1:
            return _answer(False, "Inbound Not Found" if inbound is None else "exactly one client expected")
        for index, client in enumerate(inbound["clients"]):
            if client["id"] == request.match_info["uuid"]:
                inbound["clients"][index] = clients[0]
                row = self.traffic.get(client["email"])
                if row is not None:
                    row.update(enable=clients[0].get("enable", True), expiryTime=clients[0].get("expiryTime", 0),
                               total=clients[0].get("totalGB", 0))  # fmt: skip
                return _answer(True, "Client updated Successfully")
        return _answer(False, "Client Not Found")

    async def delete_client(self, request: web.Request) -> web.Response:
        inbound = self._inbound(request.match_info["id"])
        if inbound is None:
            return _answer(False, "Inbound Not Found")
        for client in inbound["clients"]:
            if client["id"] == request.match_info["uuid"]:
                inbound["clients"].remove(client)
                self.traffic.pop(client["email"], None)
                return _answer(True, "Client deleted Successfully")
        return _answer(False, "Client Not Found")

    async def client_traffic(self, request: web.Request) -> web.Response:
        return _answer(True, "", self.traffic.get(request.match_info["email"]))

    async def client_traffic_by_id(self, request: web.Request) -> web.Response:
        rows = [
            self.traffic[c["email"]]
            for inbound in self.inbounds.values()
            for c in inbound["clients"]
            if c["id"] == request.match_info["uuid"] and c["email"] in self.traffic
        ]
        return _answer(True, "", rows)

    async def reset_traffic(self, request: web.Request) -> web.Response:
        row = self.traffic.get(request.match_info["email"])
        if row is None:
            return _answer(False, "Client Not Found")
        row.update(up=0, down=0)
        return _answer(True, "Traffic reset")


def _answer(success: bool, msg: str, obj: Any = None) -> web.Response:
    return web.json_response({"success": success, "msg": msg, "obj": obj})
