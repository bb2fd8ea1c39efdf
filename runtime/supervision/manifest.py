"""The handshake manifest: what a module process reports once its module is imported.

Decoded on the host from an untrusted process, so ``from_wire`` validates shape, types and
sizes and raises ``ProtocolError`` on anything else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ipc import PROTOCOL_VERSION, ProtocolError

MAX_HOOKS = 200
MAX_NAME = 100
MAX_WARNINGS = 20
MAX_TEXT = 2_000


@dataclass(frozen=True)
class Manifest:
    """What a module process reports once its module is imported."""

    protocol: int
    module: str
    pid: int
    hooks: list[str]
    has_router: bool
    webhook_path: str | None = None
    fast_flow_key: str | None = None
    routes: dict[str, Any] = field(default_factory=dict)  # validated into a RouteIndex by the host
    warnings: list[str] = field(default_factory=list)
    import_seconds: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, raw: Any, expected_module: str) -> Manifest:
        if not isinstance(raw, dict):
            raise ProtocolError(f"handshake must be a map, got {type(raw).__name__}")
        if raw.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolError(f"handshake protocol {raw.get('protocol')!r}, host speaks {PROTOCOL_VERSION}")
        if raw.get("module") != expected_module:
            raise ProtocolError(f"handshake claims module {raw.get('module')!r}, expected {expected_module!r}")
        hooks = raw.get("hooks")
        if not (isinstance(hooks, list) and len(hooks) <= MAX_HOOKS and all(_short_str(h) for h in hooks)):
            raise ProtocolError("handshake 'hooks' must be a list of hook names")
        warnings = raw.get("warnings") or []
        if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
            raise ProtocolError("handshake 'warnings' must be a list of strings")
        for key in ("webhook_path", "fast_flow_key"):
            if raw.get(key) is not None and not _short_str(raw[key], 200):
                raise ProtocolError(f"handshake {key!r} must be a short string")
        if type(raw.get("pid")) is not int or type(raw.get("has_router")) is not bool:
            raise ProtocolError("handshake 'pid' and 'has_router' are required")
        routes = raw.get("routes") or {}
        if not isinstance(routes, dict):
            raise ProtocolError("handshake 'routes' must be a map")
        seconds = raw.get("import_seconds", 0.0)
        return cls(
            protocol=PROTOCOL_VERSION,
            module=expected_module,
            pid=raw["pid"],
            hooks=list(dict.fromkeys(hooks)),
            has_router=raw["has_router"],
            webhook_path=raw.get("webhook_path"),
            fast_flow_key=raw.get("fast_flow_key"),
            routes=routes,
            warnings=[w[:MAX_TEXT] for w in warnings[:MAX_WARNINGS]],
            import_seconds=float(seconds) if isinstance(seconds, (int, float)) else 0.0,
        )


def _short_str(value: Any, limit: int = MAX_NAME) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit
