"""Errors raised by the IPC layer.

The split matters to callers: a ``ProtocolError`` means the peer broke the wire contract and
the channel is closed; a ``RemoteError`` is an ordinary failure inside the peer's handler and
the channel stays usable; ``PeerClosed`` means the channel is gone (EOF, protocol error,
process exit) and every outstanding request fails with it at once.
"""

from __future__ import annotations


class IPCError(Exception):
    """Base class of every error the IPC layer raises."""


class CodecError(IPCError, TypeError):
    """A value cannot be encoded or decoded; the message names the type and where it was."""


class ProtocolError(IPCError):
    """The peer sent something the protocol does not allow; the channel is closed."""


class PeerClosed(IPCError):
    """The channel is closed; ``reason`` says why (EOF, protocol error, local close)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RemoteError(IPCError):
    """The peer's handler raised. ``kind`` is the remote exception's type name."""

    def __init__(self, kind: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message
        self.traceback = traceback
