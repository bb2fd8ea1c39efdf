"""The VPN panel interface the core issues keys through.

A panel is where a subscription really lives (3x-ui, Remnawave, ...); the ``keys`` table only
mirrors it. The core speaks to panels through this small protocol so that a concrete panel can
be added without touching handlers: it gets the identifiers the core chose (``client_id`` is a
UUID, ``email`` the key name) and returns the subscription link to show the user.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """What to create or extend on a panel. ``expiry_ms`` is ms since the epoch (the ``keys`` unit)."""

    client_id: str
    email: str
    tg_id: int
    expiry_ms: int
    device_limit: int | None = None
    traffic_limit_gb: int | None = None


class PanelError(RuntimeError):
    """The panel refused or could not be reached; the message is safe to log, not to show."""


class VpnPanel(ABC):
    """One panel (or a cluster behind one API). Implementations must be safe to call concurrently."""

    #: ``servers.panel_type`` value this implementation serves ("local", "3x-ui", "remnawave").
    panel_type: str = ""

    @abstractmethod
    async def create_client(self, spec: ClientSpec) -> str:
        """Create the client and return its subscription link."""

    @abstractmethod
    async def extend(self, spec: ClientSpec) -> None:
        """Move the client's expiry to ``spec.expiry_ms`` (and apply new limits, when given)."""

    @abstractmethod
    async def delete(self, client_id: str, email: str) -> None:
        """Remove the client; deleting a client that does not exist is not an error."""
