"""Offline verification of what the catalog publishes — the code the bot side runs.

Everything here needs only the catalog's pinned public key (``CATALOG_PUBLIC_KEY``, base64url of
the raw Ed25519 key) and ``cryptography``; nothing is fetched and nothing else of the catalog is
imported, so the bot's installer (issue 13) uses this module as is::

    key = load_public_key(pinned)
    index = verify_index(envelope, key, seen_version=state.index_version)   # rollback / freeze refused
    release = index.release("my_module", "1.2.0"); verify_archive(data, release)
    revoked = verify_revocations(rev_envelope, key, seen_version=state.revocations_version)
    licence = verify_licence(token, key, module="my_module", user_ids=ADMIN_IDS, bot_id=bot.id, revoked=revoked.ids)

Every failure is a :class:`VerificationError` whose message says what is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAX_TOKEN_LENGTH = 4096


class VerificationError(ValueError):
    """A signed document, archive or licence that must not be trusted; the message says why."""


class RollbackError(VerificationError):
    """A document older than one already accepted (a replayed index or revocation list)."""


class ExpiredError(VerificationError):
    """A document or licence past its expiry (a frozen index, an expired licence)."""


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text or len(text) > MAX_TOKEN_LENGTH * 2:
        raise VerificationError(f"{what}: not base64url text")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise VerificationError(f"{what}: not base64url text") from None


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """The catalog's public key from its pinned text form (base64url of 32 raw bytes)."""
    raw = _unb64(text.strip() if isinstance(text, str) else text, "catalog public key")
    if len(raw) != 32:
        raise VerificationError("catalog public key: an Ed25519 key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _check_signature(key: Ed25519PublicKey, signature: bytes, data: bytes, what: str) -> None:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise VerificationError(f"{what}: the signature does not match the catalog's key (forged or altered)") from None


def verify_document(envelope: Any, key: Ed25519PublicKey, kind: str) -> dict[str, Any]:
    """The payload of a signed ``{"payload", "signature"}`` envelope of ``kind``; VerificationError otherwise."""
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("payload"), Mapping):
        raise VerificationError(f"{kind}: not a signed catalog document")
    payload = dict(envelope["payload"])
    try:
        data = _canonical(payload)
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"{kind}: payload is not canonical JSON ({exc})") from None
    _check_signature(key, _unb64(envelope.get("signature"), f"{kind} signature"), data, kind)
    if payload.get("kind") != kind:
        raise VerificationError(f"{kind}: the signed document is a {payload.get('kind')!r}, not a {kind!r}")
    return payload


def _int(payload: Mapping[str, Any], field: str, what: str) -> int:
    value = payload.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerificationError(f"{what}: {field} must be a non-negative integer")
    return value


def _fresh(payload: Mapping[str, Any], what: str, seen_version: int | None, now: float | None) -> int:
    version = _int(payload, "version", what)
    expires = _int(payload, "expires", what)
    if seen_version is not None and version < seen_version:
        raise RollbackError(f"{what}: version {version} is older than version {seen_version} already accepted (replayed)")
    moment = time.time() if now is None else now
    if expires <= moment:
        raise ExpiredError(f"{what}: expired at {expires} (now {int(moment)}); the catalog has not re-signed it (frozen)")
    return version


@dataclass(frozen=True)
class Release:
    module: str
    version: str
    sha256: str
    size: int
    url: str
    yanked: bool
    requests: Mapping[str, Any]
    min_core: str | None
    signature: str = ""  # detached Ed25519 signature of the archive (base64url), see verify_archive_signature
    changelog: str = ""
    reasons: Mapping[str, str] | None = None  # why each request is made (from the release's module.toml)


@dataclass(frozen=True)
class Index:
    version: int
    expires: int
    modules: Mapping[str, Any]

    def release(self, module: str, version: str) -> Release:
        entry = self.modules.get(module)
        if not isinstance(entry, Mapping):
            raise VerificationError(f"index: no module {module!r}")
        for item in entry.get("releases") or []:
            if isinstance(item, Mapping) and item.get("version") == version:
                return _release(module, item)
        raise VerificationError(f"index: module {module!r} has no release {version!r}")

    def latest(self, module: str) -> Release | None:
        """The newest release not yanked (releases are listed oldest first)."""
        entry = self.modules.get(module)
        if not isinstance(entry, Mapping):
            return None
        live = [item for item in entry.get("releases") or [] if isinstance(item, Mapping) and not item.get("yanked")]
        return _release(module, live[-1]) if live else None

    def releases(self, module: str) -> list[Release]:
        """Every release of ``module`` the index lists (yanked ones too), oldest first."""
        entry = self.modules.get(module)
        if not isinstance(entry, Mapping):
            return []
        return [_release(module, item) for item in entry.get("releases") or [] if isinstance(item, Mapping)]


def _release(module: str, item: Mapping[str, Any]) -> Release:
    sha = item.get("sha256")
    size = item.get("size")
    if not isinstance(sha, str) or len(sha) != 64 or not isinstance(size, int):
        raise VerificationError(f"index: release {item.get('version')!r} of {module!r} has no valid sha256/size")
    return Release(
        module,
        str(item.get("version")),
        sha,
        size,
        str(item.get("url") or ""),
        bool(item.get("yanked")),
        dict(item.get("requests") or {}),
        item.get("min_core") if isinstance(item.get("min_core"), str) else None,
        _text(item.get("signature")),
        _text(item.get("changelog")),
        {str(k): str(v) for k, v in item["reasons"].items()} if isinstance(item.get("reasons"), Mapping) else None,
    )


def verify_index(envelope: Any, key: Ed25519PublicKey, *, seen_version: int | None = None, now: float | None = None) -> Index:
    """The catalog's index, if signed by ``key``, not older than ``seen_version`` and not expired."""
    payload = verify_document(envelope, key, "index")
    version = _fresh(payload, "index", seen_version, now)
    modules = payload.get("modules")
    if not isinstance(modules, Mapping):
        raise VerificationError("index: modules must be an object")
    return Index(version, payload["expires"], modules)


def verify_archive(data: bytes, release: Release) -> None:
    """The downloaded archive is exactly the release the index lists (size and SHA-256)."""
    if len(data) != release.size:
        raise VerificationError(
            f"{release.module} {release.version}: archive is {len(data)} bytes, the index says {release.size}"
        )
    if hashlib.sha256(data).hexdigest() != release.sha256:
        raise VerificationError(f"{release.module} {release.version}: archive SHA-256 differs from the signed index (tampered)")


def verify_archive_signature(data: bytes, release: Release, key: Ed25519PublicKey) -> None:
    """The catalog's detached signature of the archive (over its raw SHA-256 digest) matches ``key``.

    A second check beside the index's SHA-256: an archive re-signed by another key is refused even
    where the index was obtained some other way.
    """
    if not release.signature:
        raise VerificationError(f"{release.module} {release.version}: the index lists no signature for the archive")
    digest = hashlib.sha256(data).digest()
    _check_signature(key, _unb64(release.signature, "archive signature"), digest, f"{release.module} {release.version} archive")


@dataclass(frozen=True)
class Revocations:
    version: int
    expires: int
    ids: frozenset[str]


def verify_revocations(
    envelope: Any, key: Ed25519PublicKey, *, seen_version: int | None = None, now: float | None = None
) -> Revocations:
    payload = verify_document(envelope, key, "revocations")
    version = _fresh(payload, "revocations", seen_version, now)
    ids = payload.get("revoked")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise VerificationError("revocations: revoked must be a list of licence ids")
    return Revocations(version, payload["expires"], frozenset(ids))


@dataclass(frozen=True)
class Licence:
    licence_id: str
    module: str
    user_id: int
    bot_id: int | None
    not_after: int | None
    issued_at: int


def licence_claims(token: str) -> Licence:
    """The claims of a licence token WITHOUT checking its signature (for display only)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise VerificationError("licence: not a licence token (payload.signature)")
    body = _unb64(token.split(".")[0], "licence payload")
    try:
        claims = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise VerificationError("licence: the payload is not JSON") from None
    if not isinstance(claims, dict) or claims.get("kind") != "licence":
        raise VerificationError("licence: the token is not a licence")
    user_id = claims.get("user_id")
    bot_id = claims.get("bot_id")
    not_after = claims.get("not_after")
    issued = claims.get("issued_at")
    if not isinstance(claims.get("licence_id"), str) or not isinstance(claims.get("module"), str):
        raise VerificationError("licence: licence_id and module must be text")
    if not _is_int(user_id) or not _is_int(issued) or not (bot_id is None or _is_int(bot_id)):
        raise VerificationError("licence: user_id, issued_at and bot_id must be integers")
    if not (not_after is None or _is_int(not_after)):
        raise VerificationError("licence: not_after must be an integer or null")
    return Licence(claims["licence_id"], claims["module"], user_id, bot_id, not_after, issued)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def verify_licence(
    token: str,
    key: Ed25519PublicKey,
    *,
    module: str,
    user_ids: Iterable[int],
    bot_id: int | None = None,
    revoked: Iterable[str] = (),
    now: float | None = None,
) -> Licence:
    """The licence in ``token`` if the catalog signed it for ``module``, one of ``user_ids`` and this bot, still valid."""
    licence = licence_claims(token)
    body, signature = token.split(".")
    _check_signature(key, _unb64(signature, "licence signature"), _unb64(body, "licence payload"), "licence")
    if licence.module != module:
        raise VerificationError(f"licence {licence.licence_id}: issued for module {licence.module!r}, not {module!r}")
    allowed = set(user_ids)
    if licence.user_id not in allowed:
        raise VerificationError(f"licence {licence.licence_id}: issued to user {licence.user_id}, not to this bot's admins")
    if licence.bot_id is not None and licence.bot_id != bot_id:
        raise VerificationError(f"licence {licence.licence_id}: bound to bot {licence.bot_id}, not to bot {bot_id}")
    moment = time.time() if now is None else now
    if licence.not_after is not None and licence.not_after <= moment:
        raise ExpiredError(f"licence {licence.licence_id}: expired at {licence.not_after}")
    if licence.licence_id in set(revoked):
        raise VerificationError(f"licence {licence.licence_id}: revoked by the developer")
    return licence
