"""Talking to the catalog over HTTP: the signed index and revocation list, release archives, images.

Every document is verified before it is believed or remembered (``catalog.verify``): an index
older than one already accepted is a replay, one past its expiry a freeze; a 304 answer re-checks
the cached body (it may have expired since). Archives are read up to the size the signed index
states and must match its SHA-256 and the catalog's detached signature.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catalog.verify import (
    Index,
    Release,
    Revocations,
    VerificationError,
    verify_archive,
    verify_archive_signature,
    verify_index,
    verify_revocations,
)

from .errors import InstallRefused
from .state import ClientState

log = logging.getLogger("solobot.installer")

TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)
MAX_DOCUMENT = 8 * 1024 * 1024
MAX_IMAGE = 5 * 1024 * 1024


class CatalogUnreachable(InstallRefused):
    """The catalog did not answer (network, HTTP error): nothing was changed."""


class CatalogFeed:
    def __init__(self, url: str, key: Ed25519PublicKey, state: ClientState) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.state = state

    async def index(self) -> Index:
        return await self._document("index")

    async def revocations(self) -> Revocations:
        return await self._document("revocations")

    async def index_or_cached(self) -> tuple[Index, bool]:
        """The live index, or — when the catalog does not answer — the last verified one still valid.

        The flag says the answer is the cached one (screens show «офлайн»); without a usable cache
        the catalog's refusal is raised.
        """
        try:
            return await self.index(), False
        except InstallRefused:
            cached = self.cached_index()
            if cached is None:
                raise
            return cached, True

    def cached_index(self) -> Index | None:
        """The last verified index if it is still valid (not expired), without asking the catalog."""
        _etag, body = self.state.cached("index")
        if body is None:
            return None
        try:
            return verify_index(json.loads(body), self.key, seen_version=self.state.seen_version("index"))
        except (ValueError, VerificationError):
            return None

    def cached_revocations(self) -> Revocations | None:
        _etag, body = self.state.cached("revocations")
        if body is None:
            return None
        try:
            return verify_revocations(json.loads(body), self.key, seen_version=self.state.seen_version("revocations"))
        except (ValueError, VerificationError):
            return None

    async def _document(self, kind: str) -> Any:
        etag, cached = self.state.cached(kind)
        headers = {"If-None-Match": etag} if etag and cached is not None else {}
        url = f"{self.url}/api/v1/{kind}"
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url, headers=headers) as response:
                if response.status == 304 and cached is not None:
                    body, etag_now = cached, etag
                elif response.status == 200:
                    body = await _read_limited(response, MAX_DOCUMENT, url)
                    etag_now = response.headers.get("ETag")
                else:
                    raise CatalogUnreachable(f"Каталог ответил {response.status} на {url}: попробуйте позже.")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CatalogUnreachable(f"Каталог {self.url} недоступен ({exc.__class__.__name__}: {exc}).") from None
        try:
            payload = json.loads(body)
        except ValueError:
            raise InstallRefused(f"Каталог прислал не JSON вместо подписанного документа {kind}.") from None
        verify = verify_index if kind == "index" else verify_revocations
        try:
            document = verify(payload, self.key, seen_version=self.state.seen_version(kind))
        except VerificationError as exc:
            raise InstallRefused(f"Каталог прислал документ, которому нельзя верить: {exc}") from None
        self.state.accept(kind, document.version, etag_now, body)
        return document

    async def download(self, release: Release) -> bytes:
        """The release's archive, verified against the signed index (size, SHA-256) and its detached signature."""
        if not release.url.startswith(("https://", "http://")):
            raise InstallRefused(f"{release.module} {release.version}: в индексе нет адреса архива.")
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(release.url) as response:
                if response.status != 200:
                    raise CatalogUnreachable(
                        f"{release.module} {release.version}: каталог ответил {response.status} на скачивание архива."
                    )
                data = await _read_limited(response, release.size + 1, release.url)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CatalogUnreachable(f"{release.module} {release.version}: архив не скачался ({exc}).") from None
        try:
            verify_archive(data, release)
            verify_archive_signature(data, release, self.key)
        except VerificationError as exc:
            raise InstallRefused(f"Архив отклонён: {exc}") from None
        return data

    async def image(self, url: str | None) -> bytes | None:
        """A module's image (already re-encoded by the catalog), or None when there is none or it fails."""
        if not url or not url.startswith(("https://", "http://")):
            return None
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url) as response:
                if response.status != 200:
                    return None
                return await _read_limited(response, MAX_IMAGE, url)
        except (aiohttp.ClientError, TimeoutError, OSError, InstallRefused):
            return None


async def _read_limited(response: aiohttp.ClientResponse, limit: int, url: str) -> bytes:
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise InstallRefused(f"{url}: ответ больше {limit} байт — больше, чем заявлено; загрузка прервана.")
        chunks.append(chunk)
    return b"".join(chunks)
