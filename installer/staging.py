"""A downloaded release, unpacked and checked in a staging folder before it may become ``modules/<name>``.

The same rules as the catalog's upload checks, by the same code: ``catalog.uploads.archive``
(zip slip, bombs, links, devices), the seed's layout, ``module.toml``/``VERSION`` via
``catalog.uploads.manifest`` and the project's checker with the catalog's blocking rules.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from catalog.config import UploadLimits
from catalog.uploads.archive import ArchiveRejected, extract_module
from catalog.uploads.checks import BLOCKING_RULES, LAYOUT_FILES
from catalog.uploads.manifest import Manifest, ManifestError, read_manifest
from catalog.verify import Release
from modcheck import check_module

from .errors import InstallRefused


@dataclass(frozen=True)
class Staged:
    folder: Path
    manifest: Manifest
    warnings: list[str]


def _stage(data: bytes, release: Release, target: Path, limits: UploadLimits) -> Staged:
    label = f"{release.module} {release.version}"
    try:
        extract_module(data, release.module, target, limits)
    except ArchiveRejected as exc:
        raise InstallRefused(f"{label}: архив небезопасен — {exc}") from None
    missing = [name for name in LAYOUT_FILES if not (target / name).is_file()]
    if missing:
        raise InstallRefused(f"{label}: в архиве нет {', '.join(missing)} — это не модуль.")
    try:
        manifest = read_manifest(target)
    except ManifestError as exc:
        raise InstallRefused(f"{label}: {exc}") from None
    if manifest.version != release.version:
        raise InstallRefused(f"{label}: внутри архива версия {manifest.version}, а в подписанном индексе {release.version}.")
    blocking: list[str] = []
    warnings: list[str] = []
    for finding in check_module(target):
        (blocking if finding.rule in BLOCKING_RULES else warnings).append(f"{finding.rule} {finding.message}")
    if blocking:
        raise InstallRefused(f"{label}: проверка solobot modules check не пройдена — " + "; ".join(blocking[:5]))
    return Staged(target, manifest, warnings)


async def stage_release(data: bytes, release: Release, target: Path, limits: UploadLimits | None = None) -> Staged:
    """Unpack and check ``data`` into ``target`` (must not exist); on refusal nothing is left behind."""
    try:
        return await asyncio.to_thread(_stage, data, release, target, limits or UploadLimits())
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, target, True)
        raise
