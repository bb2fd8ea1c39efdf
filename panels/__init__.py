"""VPN panels: the interface (``VpnPanel``) and how the core picks the panel serving a cluster.

``get_panel(panel_type, servers)`` gives the panel for a cluster's enabled servers (rows of the
``servers`` table): ``"remnawave"`` → :class:`RemnawavePanel` (``panels.remnawave``), ``"3x-ui"``
→ :class:`XuiPanel` (``panels._3xui``), both with the operator's credentials
(``panels.settings``, host only). Without servers, or for ``"local"``, keys are issued by
:class:`LocalPanel` (the demo's stand-in). ``register_panel`` adds another panel type.
Nothing here talks to the network at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._3xui import XuiPanel
from .base import ClientSpec, PanelError, VpnPanel
from .local import LocalPanel
from .remnawave import RemnawavePanel
from .settings import PanelSettings, configure, from_config

__all__ = (
    "ClientSpec",
    "LocalPanel",
    "PanelError",
    "PanelSettings",
    "RemnawavePanel",
    "VpnPanel",
    "XuiPanel",
    "configure",
    "from_config",
    "get_panel",
    "register_panel",
    "set_default_panel",
)

ServerRows = Sequence[Mapping[str, Any]]
PanelFactory = Callable[[list[dict[str, Any]]], VpnPanel]

_factories: dict[str, PanelFactory] = {"remnawave": RemnawavePanel, "3x-ui": XuiPanel}
_default: VpnPanel | None = None


def register_panel(panel_type: str, factory: PanelFactory) -> None:
    """Serve servers whose ``panel_type`` is ``panel_type`` with ``factory(servers)``."""
    _factories[panel_type.lower()] = factory


def set_default_panel(panel: VpnPanel | None) -> None:
    """The panel used when no servers are configured (``None`` restores LocalPanel)."""
    global _default
    _default = panel


def get_panel(panel_type: str | None = None, servers: ServerRows | None = None) -> VpnPanel:
    """The panel for a cluster: ``servers`` are its enabled rows of the ``servers`` table."""
    global _default
    kind = (panel_type or "").strip().lower()
    if kind and kind != "local":
        factory = _factories.get(kind)
        if factory is None:
            raise PanelError(f"no panel of type {panel_type!r}: known types are {', '.join(sorted(_factories))}, local")
        if not servers:
            raise PanelError(f"a {panel_type} panel needs the cluster's servers (api_url, inbound_id)")
        return factory([dict(s) for s in servers])
    if _default is None:
        _default = LocalPanel()
    return _default
