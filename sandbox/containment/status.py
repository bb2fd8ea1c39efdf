"""The one status line about a module's containment, picked from its sandbox layers (CLI, admin card)."""

from __future__ import annotations

from typing import Any


def cgroup_line(layers: Any) -> str | None:
    """Its cgroup (``cgroup v…: backend, limits``) or why it has none (``NOT cgroup…``)."""
    if not isinstance(layers, list):
        return None
    return next((str(x) for x in layers if str(x).startswith(("cgroup v", "NOT cgroup"))), None)
