"""The control socket's address: where ``solobot run`` listens and ``solobot modules`` connects.

One rule for both sides (the host's ``host.control`` and the CLI's ``cli.client``):
``SOLOBOT_CONTROL_SOCKET`` (a path-named socket) if set, else the abstract unix socket
``@solobot-control-<sha256(resolved DATA_DIR)[:16]>``. It lives with the CLI because the CLI must
not import the bot (aiogram, SQLAlchemy) to find it; the host imports it from here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol, TypeGuard

SOCKET_ENV = "SOLOBOT_CONTROL_SOCKET"
ABSTRACT_PREFIX = "solobot-control-"

# A control socket address: a Path (path-named socket), or a str starting with NUL (abstract).
Address = Path | str


class HasDataDir(Protocol):
    @property
    def data_dir(self) -> str: ...  # read-only: Settings is frozen


def abstract_socket_name(data_dir: str | os.PathLike[str]) -> str:
    """The default address: ``"\\0solobot-control-<sha256(resolved data_dir)[:16]>"``."""
    digest = hashlib.sha256(os.fsencode(Path(data_dir).resolve())).hexdigest()[:16]
    return f"\0{ABSTRACT_PREFIX}{digest}"


def socket_override() -> Path | None:
    """``SOLOBOT_CONTROL_SOCKET`` when set: then no setting is needed to find the socket."""
    override = os.environ.get(SOCKET_ENV, "").strip()
    return Path(override) if override else None


def control_socket_path(settings: HasDataDir) -> Address:
    """``SOLOBOT_CONTROL_SOCKET`` (a path), else the abstract name of ``settings.data_dir``."""
    return socket_override() or abstract_socket_name(settings.data_dir)


def is_abstract(address: Address | os.PathLike[str]) -> TypeGuard[str]:
    return isinstance(address, str) and address.startswith("\0")


def describe_address(address: Address) -> str:
    """How to show an address to a human: abstract names as ``@name`` (what ``--socket`` accepts)."""
    return "@" + address[1:] if is_abstract(address) else str(address)


def parse_address(text: str) -> Address:
    """``--socket``: ``@name`` is an abstract socket, anything else a path."""
    return "\0" + text[1:] if text.startswith("@") else Path(text)
