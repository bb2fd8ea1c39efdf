"""The signed, versioned, expiring documents the catalog publishes: the index and the revocation list.

Each is built from the database when its counter moved (or when half its lifetime has passed,
so a quiet catalog still re-signs before clients call it frozen), serialised once, and served
from memory with a strong ETag (SHA-256 of the body): a client's ``If-None-Match`` gets 304.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import counters
from .db.models import Module, Release
from .licences.service import revoked_ids
from .signing import CatalogSigner


@dataclass(frozen=True)
class Published:
    version: int
    signed_at: float
    body: bytes
    etag: str


class Publisher:
    def __init__(self, sessions: async_sessionmaker, signer: CatalogSigner, public_url: str, ttl: int) -> None:
        self.sessions = sessions
        self.signer = signer
        self.public_url = public_url
        self.ttl = ttl
        self._cache: dict[str, Published] = {}
        self._lock = asyncio.Lock()

    async def index(self) -> Published:
        return await self._get(counters.INDEX, self._index_payload)

    async def revocations(self) -> Published:
        return await self._get(counters.REVOCATIONS, self._revocations_payload)

    async def _get(self, name: str, build: Any) -> Published:
        async with self.sessions() as session:
            version = await counters.current(session, name)
        cached = self._cache.get(name)
        if cached is not None and cached.version == version and time.time() - cached.signed_at < self.ttl / 2:
            return cached
        async with self._lock:
            async with self.sessions() as session:
                version = await counters.current(session, name)
                payload = await build(session)
            now = int(time.time())
            payload.update({"version": version, "issued": now, "expires": now + self.ttl})
            body = json.dumps(self.signer.sign_document(payload), ensure_ascii=False, separators=(",", ":")).encode()
            published = Published(version, now, body, '"' + hashlib.sha256(body).hexdigest() + '"')
            self._cache[name] = published
            return published

    async def _index_payload(self, session: AsyncSession) -> dict[str, Any]:
        return {"kind": "index", "catalog": self.public_url, "modules": await index_modules(session, self.public_url)}

    async def _revocations_payload(self, session: AsyncSession) -> dict[str, Any]:
        return {"kind": "revocations", "revoked": await revoked_ids(session)}


async def index_modules(session: AsyncSession, public_url: str) -> dict[str, Any]:
    """Modules with at least one published (or yanked) release, releases oldest first."""
    modules = {m.name: m for m in await session.scalars(select(Module).where(Module.suspended.is_(False)))}
    releases = await session.scalars(
        select(Release).where(Release.status.in_(("published", "yanked")), Release.module.in_(list(modules))).order_by(Release.id)
    )
    listed: dict[str, Any] = {}
    for release in releases:
        module = modules[release.module]
        entry = listed.setdefault(
            module.name,
            {
                "description": module.summary,
                "paid": module.paid,
                "owner_id": module.owner_id,
                "image_url": f"{public_url}/files/{module.image_key}" if module.image_key else None,
                "page_url": f"{public_url}/modules/{module.name}",
                "releases": [],
            },
        )
        entry["releases"].append(
            {
                "version": release.version,
                "sha256": release.sha256,
                "size": release.size,
                "url": f"{public_url}/api/v1/modules/{module.name}/releases/{release.version}/download",
                "signature": release.signature,
                "requests": release.requests,
                "reasons": release.reasons,
                "changelog": release.changelog,
                "min_core": release.min_core,
                "yanked": release.status == "yanked",
            }
        )
    return listed
