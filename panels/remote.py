"""The module-process side of panel access through the host (``panels.gateway``).

When the operator granted a module panels, its process installs the host as the transport
(:func:`use_host`) before the module is imported: upstream's ``RemnawaveAPI`` and 3x-ui
functions then send each API request to the host instead of the panel, and ``login()`` needs no
password (the host authenticates). Without a grant nothing is installed and the clients speak
HTTP themselves, which works only with a network grant and the module's own panel account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

HostCall = Callable[[dict[str, Any]], Awaitable[Any]]

_host: HostCall | None = None
_granted: frozenset[str] = frozenset()


def use_host(call: HostCall | None, granted: list[str] | tuple[str, ...] = ()) -> None:
    global _host, _granted
    _host, _granted = call, frozenset(granted)


def through_host(panel: str) -> HostCall | None:
    """The host transport when this process was granted ``panel``, else ``None`` (speak HTTP)."""
    return _host if _host is not None and panel in _granted else None
