# Breaks the IPC protocol from inside its own process: module code can reach its channel socket
# (it is a file descriptor of the process) and write raw frames that bypass the ipc.Peer. The
# host must treat each as a protocol error of this module only: kill it, restart it, say why.
# Frames are a 4-byte big-endian length + a msgpack array (ipc/messages.py).
import gc
import os
import struct

import msgpack
from aiogram import Router

from hooks.hooks import register_hook
from ipc import Peer
from logger import logger

router = Router()
REQUEST, RESPONSE, ERROR, NOTIFY = 0, 1, 2, 3


def channel_fd() -> int:
    peers = [obj for obj in gc.get_objects() if isinstance(obj, Peer)]
    return peers[0]._transport.get_extra_info("socket").fileno()


def frame(message) -> bytes:
    payload = msgpack.packb(message)
    return struct.pack(">I", len(payload)) + payload


def raw(data: bytes) -> None:
    fd = channel_fd()
    os.set_blocking(fd, True)
    try:
        os.write(fd, data)
    finally:
        os.set_blocking(fd, False)


def forged_manifest(module: str) -> dict:
    return {"protocol": 1, "module": module, "pid": os.getpid(), "hooks": ["profile_menu"], "has_router": False}


FRAMES = {
    # 0xc1 is the one byte msgpack never uses: undecodable.
    "malformed_msgpack": lambda: struct.pack(">I", 3) + b"\xc1\xc1\xc1",
    # A header announcing 64 MiB (the cap is 4 MiB); the body never comes.
    "oversized_frame": lambda: struct.pack(">I", 64 * 1024 * 1024) + b"\x00" * 16,
    # Under 1 MiB on the wire, 1 050 000 empty lists (~60 MiB) once decoded: the host's budget stops it.
    "decode_bomb": lambda: frame([NOTIFY, "log", [[[]] * 150_000] * 7]),
    # An answer to a request id the host never issued.
    "answer_to_unknown_request": lambda: frame([RESPONSE, 1_000_000, {"results": [], "failures": []}]),
    # Not protocol errors, but lies: a second sandbox report, a log line posing as the host's or
    # another module's, and a late second answer to `init` (id 1) naming another module.
    "forged_reports": lambda: (
        frame([NOTIFY, "sandbox", {"layers": ["forged: no sandbox at all"]}])
        + frame([NOTIFY, "log", {"level": 40, "logger": "solobot.runtime", "message": "[modules] victim: running -> crashed"}])
        + frame([RESPONSE, 1, forged_manifest("victim")])
    ),
}


async def escape_breaker(attack: str, args: dict | None = None, **kwargs):
    data = FRAMES[attack]()
    logger.warning("escape attempt %s: writing %d raw bytes to the channel fd %d", attack, len(data), channel_fd())
    raw(data)
    return {"module": "breaker", "attack": attack, "outcome": {"written": len(data)}}


register_hook("escape_breaker", escape_breaker)
