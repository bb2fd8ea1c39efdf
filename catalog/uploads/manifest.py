"""What a release declares about itself: its version (``VERSION`` and/or ``[module] version`` in
``module.toml``), the minimum core version, and its permission requests (``[request]``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.module_requests import load_module_requests
from sandbox.permissions import PermissionsError

from ..versions import VersionError, parse_version


class ManifestError(ValueError):
    """The module's VERSION or module.toml is unusable; the message is for the developer."""


@dataclass(frozen=True)
class Manifest:
    version: str
    min_core: str | None = None
    requests: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """JSON the signer accepts: tuples become lists, floats (``bot_api_rate``) integers or text."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else repr(value)
    return value


def read_manifest(folder: Path) -> Manifest:
    from_file = None
    version_path = folder / "VERSION"
    if version_path.is_file():
        lines = version_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        from_file = lines[0].strip() if lines else ""
    table: dict[str, Any] = {}
    toml_path = folder / "module.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"module.toml не читается: {exc}") from None
        table = data.get("module", {}) if isinstance(data.get("module", {}), dict) else {}
    from_toml = table.get("version")
    if from_toml is not None and not isinstance(from_toml, str):
        raise ManifestError('module.toml: [module] version должна быть строкой, например version = "1.2.0".')
    if from_file is not None and from_toml is not None and from_file != from_toml:
        raise ManifestError(f"Версия в VERSION ({from_file!r}) и в module.toml ({from_toml!r}) различаются: укажите одну.")
    version = from_toml if from_toml is not None else from_file
    if version is None:
        raise ManifestError('Нет версии: добавьте файл VERSION (например, 1.0.0) или [module] version = "1.0.0" в module.toml.')
    try:
        parse_version(version)
    except VersionError as exc:
        raise ManifestError(str(exc)) from None
    min_core = table.get("min_core")
    if min_core is not None and not isinstance(min_core, str):
        raise ManifestError('module.toml: [module] min_core должна быть строкой, например min_core = "1.0".')
    try:
        requests = load_module_requests(folder)
    except PermissionsError as exc:
        raise ManifestError(f"module.toml: {exc}") from None
    return Manifest(
        version,
        min_core,
        {key: _plain(value) for key, value in requests.requested.items()},
        dict(requests.reasons),
    )


def grows_beyond(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """Requests in ``new`` that ``old`` did not make (or made smaller): these need a moderator."""
    grown = []
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, list):
            extra = sorted(set(map(str, value)) - set(map(str, before or [])))
            if extra:
                grown.append(f"{key}: {', '.join(extra)}")
        elif isinstance(value, bool):
            if value and not before:
                grown.append(key)
        elif isinstance(value, int | float) and (before is None or value > before):
            grown.append(f"{key} = {value}")
    return grown
