"""The catalog's Ed25519 key pair and canonical JSON: what the catalog signs and how.

The private key lives only in the catalog's data folder (``catalog.key``, mode 0600), created on
first start; the public key is printed for operators to pin and shown on the catalog's pages.
A signed document travels as ``{"payload": {...}, "signature": base64url, "key": key id}``;
the signature covers :func:`canonical_json` of the payload, so any JSON library on the
verifying side reproduces the signed bytes exactly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "catalog.key"


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8; floats are refused (ambiguous)."""
    _refuse_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("signed documents hold integers, not floats (their text form is not canonical)")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Strict base64url without padding; ValueError for anything else."""
    if not isinstance(text, str) or not text or len(text) > 8192:
        raise ValueError("not base64url text")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError as exc:
        raise ValueError(f"not base64url: {exc}") from None


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64url: what operators pin (``CATALOG_PUBLIC_KEY``)."""
    return b64url(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class CatalogSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_key_text(self) -> str:
        return public_key_text(self.public_key)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign_document(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"payload", "signature", "key"}``: the signed envelope every catalog document uses."""
        return {"payload": payload, "signature": b64url(self.private_key.sign(canonical_json(payload))), "key": self.key_id}

    def sign_bytes(self, data: bytes) -> str:
        return b64url(self.private_key.sign(data))

    @classmethod
    def load_or_create(cls, folder: Path) -> tuple[CatalogSigner, bool]:
        """The key in ``folder/catalog.key`` (PEM, 0600), created there when missing; ``(signer, created)``."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / KEY_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            return cls(key), True
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path}: the catalog's private key must be readable by its owner only (chmod 600 {path})")
        loaded = serialization.load_pem_private_key(data, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return cls(loaded), False
