"""A panel that lives in this process: for demos, tests and bots without a real VPN server.

It issues links of the form ``https://sub.local/<client_id>`` and remembers clients in memory,
which is all the core needs to exercise the whole key life cycle.
"""

from __future__ import annotations

from .base import ClientSpec, VpnPanel


class LocalPanel(VpnPanel):
    panel_type = "local"

    def __init__(self, base_url: str = "https://sub.local") -> None:
        self.base_url = base_url.rstrip("/")
        self.clients: dict[str, ClientSpec] = {}

    async def create_client(self, spec: ClientSpec) -> str:
        self.clients[spec.client_id] = spec
        return f"{self.base_url}/{spec.client_id}"

    async def extend(self, spec: ClientSpec) -> None:
        self.clients[spec.client_id] = spec

    async def delete(self, client_id: str, email: str) -> None:
        self.clients.pop(client_id, None)
