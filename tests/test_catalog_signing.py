"""Signatures and their offline verification (``catalog.verify``, what the bot side runs).

Forged and altered documents, replayed (older) and frozen (expired) indexes, a revocation list
passed off as an index, tampered archives, licences for another module, user or bot, expired and
revoked licences — each refused with a message that says why.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catalog.db.models import Licence
from catalog.licences.service import licence_token
from catalog.signing import CatalogSigner, b64url, canonical_json, unb64url
from catalog.verify import (
    ExpiredError,
    RollbackError,
    VerificationError,
    licence_claims,
    load_public_key,
    verify_archive,
    verify_document,
    verify_index,
    verify_licence,
    verify_revocations,
)

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> CatalogSigner:
    signer, created = CatalogSigner.load_or_create(tmp_path_factory.mktemp("key"))
    assert created
    return signer


@pytest.fixture(scope="module")
def key(signer: CatalogSigner) -> Ed25519PublicKey:
    """The pinned public key, parsed from its text form as the bot does."""
    return load_public_key(signer.public_key_text)


ARCHIVE = b"PK\x03\x04 pretend archive bytes"


def index_payload(version: int, expires: int = NOW + 3600) -> dict:
    return {
        "kind": "index",
        "version": version,
        "issued": NOW,
        "expires": expires,
        "modules": {
            "weather": {
                "paid": False,
                "releases": [
                    {
                        "version": "1.0.0",
                        "sha256": hashlib.sha256(ARCHIVE).hexdigest(),
                        "size": len(ARCHIVE),
                        "url": "u",
                        "yanked": True,
                    },
                    {
                        "version": "1.1.0",
                        "sha256": hashlib.sha256(ARCHIVE).hexdigest(),
                        "size": len(ARCHIVE),
                        "url": "u",
                        "yanked": False,
                    },
                ],
            }
        },
    }


def test_key_file_is_private_and_reused(tmp_path: Path) -> None:
    first, created = CatalogSigner.load_or_create(tmp_path)
    assert created and stat.S_IMODE(os.stat(tmp_path / "catalog.key").st_mode) == 0o600
    again, created_again = CatalogSigner.load_or_create(tmp_path)
    assert not created_again and again.public_key_text == first.public_key_text
    os.chmod(tmp_path / "catalog.key", 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        CatalogSigner.load_or_create(tmp_path)


def test_canonical_json_is_stable_and_refuses_floats() -> None:
    assert canonical_json({"b": 1, "a": [2, "я"]}) == '{"a":[2,"я"],"b":1}'.encode()
    with pytest.raises(TypeError):
        canonical_json({"a": 1.5})
    assert unb64url(b64url(b"\x00\xff")) == b"\x00\xff"
    with pytest.raises(ValueError):
        unb64url("not base64!")


def test_a_signed_index_verifies(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    index = verify_index(signer.sign_document(index_payload(7)), key, seen_version=7, now=NOW)
    assert index.version == 7
    assert index.latest("weather").version == "1.1.0"  # 1.0.0 is yanked: hidden from new installs
    release = index.release("weather", "1.0.0")
    verify_archive(ARCHIVE, release)


def test_forged_or_altered_index_is_refused(signer: CatalogSigner, key: Ed25519PublicKey, tmp_path: Path) -> None:
    envelope = signer.sign_document(index_payload(3))
    altered = copy.deepcopy(envelope)
    altered["payload"]["modules"]["weather"]["releases"][1]["sha256"] = "0" * 64
    with pytest.raises(VerificationError, match="forged or altered"):
        verify_index(altered, key, now=NOW)
    other, _ = CatalogSigner.load_or_create(tmp_path)  # a key pair of someone else
    with pytest.raises(VerificationError, match="forged or altered"):
        verify_index(other.sign_document(index_payload(3)), key, now=NOW)
    with pytest.raises(VerificationError):
        verify_index({"payload": index_payload(3), "signature": "AAAA"}, key, now=NOW)
    with pytest.raises(VerificationError, match="not a signed catalog document"):
        verify_index(json.loads("[1, 2]"), key, now=NOW)


def test_replayed_older_index_is_refused(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    old = signer.sign_document(index_payload(4))
    with pytest.raises(RollbackError, match="older than version 5"):
        verify_index(old, key, seen_version=5, now=NOW)


def test_expired_index_is_refused(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    with pytest.raises(ExpiredError, match="frozen"):
        verify_index(signer.sign_document(index_payload(9, expires=NOW - 1)), key, now=NOW)


def test_a_revocation_list_is_not_an_index(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    revocations = signer.sign_document({"kind": "revocations", "version": 2, "expires": NOW + 60, "revoked": ["lic_1"]})
    with pytest.raises(VerificationError, match="not a 'index'"):
        verify_index(revocations, key, now=NOW)
    assert verify_revocations(revocations, key, seen_version=2, now=NOW).ids == {"lic_1"}
    with pytest.raises(RollbackError):
        verify_revocations(revocations, key, seen_version=3, now=NOW)


def test_tampered_archive_is_refused(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    release = verify_index(signer.sign_document(index_payload(1)), key, now=NOW).release("weather", "1.1.0")
    with pytest.raises(VerificationError, match="tampered"):
        verify_archive(ARCHIVE[:-1] + b"X", release)
    with pytest.raises(VerificationError, match="bytes"):
        verify_archive(ARCHIVE + b"X", release)


def make_licence(
    signer: CatalogSigner, *, user_id: int = 42, bot_id: int | None = None, not_after: datetime | None = None
) -> str:
    licence = Licence(
        id="lic_abc",
        module="weather",
        user_id=user_id,
        bot_id=bot_id,
        not_after=not_after,
        issued_at=datetime(2026, 1, 1),
        issued_by=1,
    )
    return licence_token(signer, licence)


def test_licence_for_this_user_and_bot_verifies(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    token = make_licence(signer, bot_id=777, not_after=datetime(2027, 1, 1))
    licence = verify_licence(token, key, module="weather", user_ids=[1, 42], bot_id=777, now=NOW - 10**8)
    assert (licence.user_id, licence.bot_id) == (42, 777)
    assert licence_claims(token).licence_id == "lic_abc"


def test_licence_for_another_user_bot_or_module_is_refused(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    token = make_licence(signer, bot_id=777)
    with pytest.raises(VerificationError, match="not to this bot's admins"):
        verify_licence(token, key, module="weather", user_ids=[43], bot_id=777, now=NOW)
    with pytest.raises(VerificationError, match="bound to bot 777"):
        verify_licence(token, key, module="weather", user_ids=[42], bot_id=778, now=NOW)
    with pytest.raises(VerificationError, match="not 'payments'"):
        verify_licence(token, key, module="payments", user_ids=[42], bot_id=777, now=NOW)


def test_expired_revoked_and_forged_licences_are_refused(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    expired = make_licence(signer, not_after=datetime(2020, 1, 1))
    with pytest.raises(ExpiredError):
        verify_licence(expired, key, module="weather", user_ids=[42], now=NOW)
    token = make_licence(signer)
    with pytest.raises(VerificationError, match="revoked"):
        verify_licence(token, key, module="weather", user_ids=[42], revoked={"lic_abc"}, now=NOW)
    body, signature = token.split(".")
    claims = json.loads(unb64url(body))
    claims["user_id"] = 43  # a buyer edits the token to hand it to a friend
    forged = b64url(canonical_json(claims)) + "." + signature
    with pytest.raises(VerificationError, match="forged or altered"):
        verify_licence(forged, key, module="weather", user_ids=[43], now=NOW)
    for garbage in ("", "a.b.c", "x" * 5000, "@@@.@@@"):
        with pytest.raises(VerificationError):
            verify_licence(garbage, key, module="weather", user_ids=[42], now=NOW)


def test_documents_of_an_unknown_kind_are_refused(signer: CatalogSigner, key: Ed25519PublicKey) -> None:
    with pytest.raises(VerificationError, match="not a 'licence'"):
        verify_document(signer.sign_document({"kind": "index"}), key, "licence")
