"""The client side of the control socket (protocol: ``host/control.py``).

Blocking and tiny on purpose: the CLI sends one request and prints what comes back, and must
not import the bot (aiogram, SQLAlchemy) to do so.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .control_address import SOCKET_ENV, Address, control_socket_path, describe_address, is_abstract, socket_override

REPLY_TIMEOUT = 60.0  # the bot sends a progress line every 5 s during long operations


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
    """Where ``solobot run`` listens (``cli.control_address``), with ``DATA_DIR`` read the way the bot reads it.

    Raises ``config.ConfigError`` on a bad setting.
    """
    override = socket_override()
    if override is not None:
        return override
    from config import load_settings

    return control_socket_path(load_settings(require_token=False))


class ControlClient:
    """``with ControlClient(address) as bot: bot.call("status")`` (a path, or an abstract name starting with NUL)."""

    def __init__(self, path: Address | os.PathLike[str]) -> None:
        self.path: Address = path if is_abstract(path) else Path(path)
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
