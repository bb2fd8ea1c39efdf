"""Release versions: semantic versioning (``MAJOR.MINOR.PATCH`` with an optional pre-release), compared by ``packaging``."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-(alpha|beta|rc|a|b)\.?(0|[1-9]\d*))?$")


class VersionError(ValueError):
    pass


def parse_version(text: str) -> Version:
    """A release version; VersionError (message in Russian, for the developer) when it is not semantic."""
    if not SEMVER.fullmatch(text or ""):
        raise VersionError(
            f"Версия {text[:40]!r} не по семантическому версионированию: нужно MAJOR.MINOR.PATCH, например 1.2.0 или 1.2.0-rc.1."
        )
    try:
        return Version(text)
    except InvalidVersion as exc:  # pragma: no cover - the pattern only lets PEP 440-compatible forms through
        raise VersionError(str(exc)) from None


def check_newer(version: str, earlier: list[str]) -> None:
    """``version`` must be strictly greater than every earlier release's (yanked ones count: versions are never reused)."""
    new = parse_version(version)
    for old in earlier:
        if Version(old) >= new:
            raise VersionError(
                f"Версия {version} не больше загруженной {old}: релизы неизменяемы, нужна больше {max(earlier, key=Version)}."
            )
