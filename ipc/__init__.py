"""msgpack RPC over a stream socket: framing, the five message kinds, the codec, the peer."""

from .codec import Codec, Encoded, Extension, Ref, decode, encode
from .errors import CodecError, IPCError, PeerClosed, ProtocolError, RemoteError
from .messages import PROTOCOL_VERSION
from .peer import DEFAULT_MAX_FRAME, OutgoingCall, Peer

__all__ = [
    "DEFAULT_MAX_FRAME",
    "PROTOCOL_VERSION",
    "Codec",
    "CodecError",
    "Encoded",
    "Extension",
    "IPCError",
    "OutgoingCall",
    "Peer",
    "PeerClosed",
    "ProtocolError",
    "Ref",
    "RemoteError",
    "decode",
    "encode",
]
