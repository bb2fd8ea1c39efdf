"""The client side of the control socket (protocol: ``host/control.py``).

Blocking and tiny on purpose: the CLI sends one request and prints what comes back, and must
not import the bot (aiogram, SQLAlchemy) to do so.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SOCKET_ENV = "SOLOBOT_CONTROL_SOCKET"  # same names as host.control
ABSTRACT_PREFIX = "solobot-control-"
REPLY_TIMEOUT = 60.0  # the bot sends a progress line every 5 s during long operations


# A control socket address: a Path (path-named socket), or a str starting with NUL (abstract).
Address = Path | str


def describe_address(address: Address) -> str:
    """Abstract names as ``@name`` (what ``--socket`` accepts), paths as they are."""
    return "@" + address[1:] if isinstance(address, str) and address.startswith("\0") else str(address)


def parse_address(text: str) -> Address:
    """``--socket``: ``@name`` is an abstract socket, anything else a path."""
    return "\0" + text[1:] if text.startswith("@") else Path(text)


class BotNotRunning(Exception):
    def __init__(self, path: Address) -> None:
        super().__init__(f"no running bot at {describe_address(path)}: start it with `solobot run` (or set {SOCKET_ENV})")
        self.path = path


class ControlError(Exception):
    """The bot (or the connection to it) said no; ``str()`` says what to do next."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback


def default_socket_path() -> Address:
    """Where ``solobot run`` listens: ``SOLOBOT_CONTROL_SOCKET`` (a path), else the abstract socket of ``DATA_DIR``.

    The same rule as ``host.control.control_socket_path`` (``"\\0solobot-control-"`` + the first 16
    hex digits of the SHA-256 of the resolved DATA_DIR), with ``DATA_DIR`` read the way the bot
    reads it (environment over ``.env``). Raises ``config.ConfigError`` on a bad setting.
    """
    override = os.environ.get(SOCKET_ENV, "").strip()
    if override:
        return Path(override)
    from config import load_settings

    data_dir = Path(load_settings(require_token=False).data_dir).resolve()
    return "\0" + ABSTRACT_PREFIX + hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]


class ControlClient:
    """``with ControlClient(address) as bot: bot.call("status")`` (a path, or an abstract name starting with NUL)."""

    def __init__(self, path: Address | os.PathLike[str]) -> None:
        self.path: Address = path if isinstance(path, str) and path.startswith("\0") else Path(path)
        self.shown = describe_address(self.path)
        self._sock: socket.socket | None = None
        self._lines: Any = None

    def __enter__(self) -> ControlClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(REPLY_TIMEOUT)
        try:
            sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise BotNotRunning(self.path) from None
        except PermissionError:
            sock.close()
            raise ControlError(
                f"cannot connect to {self.shown}: permission denied — run solobot as the user the bot runs as"
            ) from None
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot connect to {self.shown}: {exc.strerror or exc} — is the bot healthy?") from None
        self._sock = sock
        self._lines = sock.makefile("rb")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._lines is not None:
            self._lines.close()
        if self._sock is not None:
            self._sock.close()

    def call(self, cmd: str, on_progress: Callable[[str], None] | None = None, **fields: Any) -> dict[str, Any]:
        """Send one request; return the final ``{"ok": true, ...}`` reply or raise :class:`ControlError`."""
        assert self._sock is not None, "use ControlClient as a context manager"
        request = {"cmd": cmd, **{k: v for k, v in fields.items() if v is not None}}
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as exc:
            raise ControlError(f"the bot closed the connection ({exc.strerror or exc}): try again") from None
        while True:
            message = self._receive()
            if "progress" in message and "ok" not in message:
                if on_progress is not None:
                    on_progress(str(message["progress"]))
                continue
            if message.get("ok") is True:
                return message
            raise ControlError(str(message.get("error") or "the bot refused without saying why"), message.get("traceback") or "")

    def follow(self) -> Iterator[str]:
        """After a ``logs`` call with ``follow``: each new line, until the bot stops (or Ctrl-C)."""
        assert self._sock is not None
        self._sock.settimeout(None)  # a quiet module may log nothing for hours
        while True:
            try:
                message = self._receive()
            except ControlError:
                return  # the bot shut down: the stream is over
            if "line" in message:
                yield str(message["line"])

    def _receive(self) -> dict[str, Any]:
        try:
            raw = self._lines.readline()
        except TimeoutError:
            raise ControlError(f"the bot did not answer within {REPLY_TIMEOUT:g} s: check its log, then try again") from None
        except OSError as exc:
            raise ControlError(f"lost the connection to the bot ({exc.strerror or exc}): try again") from None
        if not raw:
            raise ControlError("the bot closed the connection (is it shutting down?): try again")
        try:
            message = json.loads(raw)
        except ValueError:
            raise ControlError(f"{self.shown} is not a Solobot control socket (it answered {raw[:60]!r})") from None
        if not isinstance(message, dict):
            raise ControlError(f"{self.shown} is not a Solobot control socket")
        return message
