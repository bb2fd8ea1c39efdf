"""VPN panels: the interface (``VpnPanel``) and the registry the core picks a panel from.

The host registers real panels at start-up (``register_panel("3x-ui", factory)``); without any,
keys are issued by :class:`LocalPanel`. Nothing here talks to the network at import.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import ClientSpec, PanelError, VpnPanel
from .local import LocalPanel

__all__ = ("ClientSpec", "LocalPanel", "PanelError", "VpnPanel", "get_panel", "register_panel", "set_default_panel")

_factories: dict[str, Callable[[], VpnPanel]] = {}
_instances: dict[str, VpnPanel] = {}
_default: VpnPanel | None = None


def register_panel(panel_type: str, factory: Callable[[], VpnPanel]) -> None:
    """Serve servers of ``panel_type`` with the panel ``factory()`` builds (once, on first use)."""
    _factories[panel_type] = factory
    _instances.pop(panel_type, None)


def set_default_panel(panel: VpnPanel | None) -> None:
    """The panel used when a server names no registered type (``None`` restores LocalPanel)."""
    global _default
    _default = panel


def get_panel(panel_type: str | None = None) -> VpnPanel:
    global _default
    if panel_type and panel_type in _factories:
        if panel_type not in _instances:
            _instances[panel_type] = _factories[panel_type]()
        return _instances[panel_type]
    if _default is None:
        _default = LocalPanel()
    return _default
