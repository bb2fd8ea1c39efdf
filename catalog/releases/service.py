"""What a module's owner and the moderators do to a module and its releases.

Every function takes the acting person's ID and checks they may act (the owner for their own
module; moderators where the catalog says so); another developer's module is "not found", as
if it did not exist. Each change is audited and bumps the index version when it alters it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, counters
from ..config import UploadLimits
from ..db.models import Module, Release, utcnow
from ..errors import NotFound, Refused
from ..images import normalise_image
from ..markdown import MAX_DESCRIPTION
from ..signing import CatalogSigner
from ..storage import Storage
from ..uploads.archive import archive_kind
from ..uploads.checks import UploadChecker
from ..uploads.manifest import grows_beyond
from ..uploads.report import Report
from ..versions import VersionError, check_newer

LIVE = ("published", "awaiting_moderation")


async def owned_module(session: AsyncSession, name: str, user_id: int, *, moderator: bool = False, lock: bool = False) -> Module:
    module = await session.get(Module, name, with_for_update=lock)
    if module is None or (module.owner_id != user_id and not moderator):
        raise NotFound(name)
    return module


async def modules_of(session: AsyncSession, user_id: int) -> list[Module]:
    return list(await session.scalars(select(Module).where(Module.owner_id == user_id).order_by(Module.name)))


async def releases_of(session: AsyncSession, module: str) -> list[Release]:
    return list(await session.scalars(select(Release).where(Release.module == module).order_by(Release.id)))


async def update_text(session: AsyncSession, name: str, user_id: int, *, summary: str, description: str, paid: bool) -> Module:
    module = await owned_module(session, name, user_id, lock=True)
    if len(description) > MAX_DESCRIPTION:
        raise Refused(f"Описание длиннее {MAX_DESCRIPTION} символов.")
    if not 10 <= len(summary.strip()) <= 300:
        raise Refused("Краткое описание: 10–300 символов.")
    module.summary, module.description, module.paid, module.updated_at = summary.strip(), description, paid, utcnow()
    await counters.bump(session, counters.INDEX)
    audit.record(session, user_id, "module.update", f"module:{name}", paid=paid, description_chars=len(description))
    return module


async def set_image(
    session: AsyncSession, storage: Storage, limits: UploadLimits, name: str, user_id: int, data: bytes, filename: str
) -> str:
    """Check, re-encode and store the module's 16:9 image (ImageRejected says why not); its storage key."""
    module = await owned_module(session, name, user_id, lock=True)
    stored = normalise_image(data, max_bytes=limits.image_bytes, max_pixels=limits.image_pixels, filename=filename)
    key = f"images/{name}/{hashlib.sha256(stored).hexdigest()[:20]}.jpg"
    storage.put(key, stored)
    module.image_key, module.updated_at = key, utcnow()
    await counters.bump(session, counters.INDEX)
    audit.record(session, user_id, "module.image", f"module:{name}", key=key)
    return key


@dataclass
class UploadOutcome:
    report: Report
    release: Release | None = None
    refusal: str | None = None  # why nothing was stored, beyond the report's errors


async def upload_release(
    session: AsyncSession,
    storage: Storage,
    checker: UploadChecker,
    signer: CatalogSigner,
    name: str,
    user_id: int,
    data: bytes,
    changelog: str = "",
) -> UploadOutcome:
    """Check an uploaded archive; when clean and newer than every release, store, sign and publish it (or queue it)."""
    module = await owned_module(session, name, user_id)
    if module.suspended:
        raise Refused("Модуль приостановлен модератором: загрузка новых версий недоступна.")
    report = await checker.check(data, name)
    if not report.ok or report.version is None:
        return UploadOutcome(report)
    module = await owned_module(session, name, user_id, lock=True)  # serialise uploads of one module
    earlier = await releases_of(session, name)
    try:
        check_newer(report.version, [r.version for r in earlier])
    except VersionError as exc:
        return UploadOutcome(report, refusal=str(exc))
    sha = hashlib.sha256(data).hexdigest()
    kind = archive_kind(data)
    key = f"releases/{name}/{report.version}.{'zip' if kind == 'zip' else 'tar.gz'}"
    previous = next((r for r in reversed(earlier) if r.status in ("published", "yanked")), None)
    reasons = []
    if previous is not None:
        grown = grows_beyond(report.requests, previous.requests)
        if grown:
            reasons.append("запрошено больше разрешений, чем в " + previous.version + ": " + "; ".join(grown))
        if previous.owner_id != module.owner_id:
            reasons.append("модуль сменил владельца")
    storage.put(key, data)
    release = Release(
        module=name,
        version=report.version,
        sha256=sha,
        size=len(data),
        storage_key=key,
        archive_kind=kind,
        signature=signer.sign_bytes(bytes.fromhex(sha)),
        changelog=changelog[:20_000],
        requests=report.requests,
        reasons=report.reasons,
        min_core=report.min_core,
        report=report.to_json(),
        status="awaiting_moderation" if reasons else "published",
        moderation_note="; ".join(reasons) or None,
        uploaded_by=user_id,
        owner_id=module.owner_id,
    )
    session.add(release)
    await session.flush()
    if release.status == "published":
        await counters.bump(session, counters.INDEX)
    audit.record(session, user_id, "release.upload", f"module:{name}", version=release.version, sha256=sha, status=release.status)
    return UploadOutcome(report, release)


async def set_changelog(session: AsyncSession, name: str, version: str, user_id: int, changelog: str) -> Release:
    await owned_module(session, name, user_id)
    release = await _release(session, name, version)
    release.changelog = changelog[:20_000]
    audit.record(session, user_id, "release.changelog", f"module:{name}", version=version)
    return release


async def _release(session: AsyncSession, name: str, version: str) -> Release:
    release = await session.scalar(select(Release).where(Release.module == name, Release.version == version).with_for_update())
    if release is None:
        raise NotFound(f"{name} {version}")
    return release


async def yank(session: AsyncSession, name: str, version: str, user_id: int, *, moderator: bool, reason: str) -> Release:
    await owned_module(session, name, user_id, moderator=moderator)
    release = await _release(session, name, version)
    if release.status == "yanked":
        raise Refused("Версия уже отозвана.")
    release.status, release.yanked_at, release.decision_reason = "yanked", utcnow(), reason.strip()[:2000] or None
    await counters.bump(session, counters.INDEX)
    audit.record(session, user_id, "release.yank", f"module:{name}", version=version, reason=reason[:2000])
    return release


async def moderate(session: AsyncSession, release_id: int, moderator_id: int, approve: bool, reason: str) -> Release:
    release = await session.get(Release, release_id, with_for_update=True)
    if release is None or release.status != "awaiting_moderation":
        raise Refused("Релиз не найден или уже рассмотрен.")
    if not approve and not reason.strip():
        raise Refused("Укажите причину отказа: разработчик её увидит.")
    release.status, release.decision_reason = ("published" if approve else "rejected"), reason.strip()[:2000] or None
    if approve:
        await counters.bump(session, counters.INDEX)
    audit.record(
        session, moderator_id, "release.approve" if approve else "release.reject", f"module:{release.module}",
        version=release.version, reason=reason[:2000],
    )  # fmt: skip
    return release


async def awaiting(session: AsyncSession) -> list[Release]:
    return list(await session.scalars(select(Release).where(Release.status == "awaiting_moderation").order_by(Release.id)))


async def transfer(session: AsyncSession, name: str, new_owner: int, moderator_id: int) -> Module:
    """A moderator hands a module to another account; its next release then waits for moderation."""
    module = await owned_module(session, name, moderator_id, moderator=True, lock=True)
    old, module.owner_id = module.owner_id, new_owner
    audit.record(session, moderator_id, "module.transfer", f"module:{name}", old_owner=old, new_owner=new_owner)
    return module
