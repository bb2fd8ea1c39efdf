# Runs its own process past the limits the operator set for it (small cpu_seconds and memory_mb
# in the run's modules.toml). The work happens in a thread so the event loop keeps answering the
# host's heartbeat: only the resource watchdog can stop it.
import errno
import mmap
import os
import threading
import time

from aiogram import Router

from hooks.hooks import register_hook
from logger import logger

router = Router()
MB = 1024 * 1024
HELD = []  # what the hidden-resource attacks keep open


def spin() -> None:
    while True:
        pass


def hoard(megabytes: int) -> None:
    # A shared anonymous mapping is not counted by RLIMIT_DATA (see sandbox/limits.py); touched
    # by this process alone its pages are private to it, so the watchdog's USS/RSS sees them.
    area = mmap.mmap(-1, megabytes * MB)
    for offset in range(0, megabytes * MB, 4096):
        area[offset] = 1
        if offset % (32 * MB) == 0:
            time.sleep(0.01)
    time.sleep(3600)


def memfds(megabytes: int) -> str:
    """Memory no folder holds: memfds (each bounded by RLIMIT_FSIZE, so several), written, kept open."""
    chunk = b"m" * MB
    try:
        for written in range(megabytes):
            if written % 32 == 0:
                HELD.append(os.memfd_create("hoard"))
            os.write(HELD[-1], chunk)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


def unlinked_files(folder: str, megabytes: int) -> str:
    """Disk no folder walk sees: files written, unlinked, kept open."""
    try:
        for index in range(megabytes // 32):
            path = os.path.join(folder, f"unlinked-{index}")
            handle = open(path, "wb")
            handle.write(os.urandom(32 * MB))
            handle.flush()
            os.unlink(path)
            HELD.append(handle)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


async def escape_hog(attack: str, args: dict | None = None, **kwargs):
    args = args or {}
    if attack in ("memfd", "unlinked_files"):
        logger.warning("escape attempt %s: trying", attack)
        if attack == "memfd":
            outcome = memfds(args["megabytes"])
        else:
            outcome = unlinked_files(os.environ["TMPDIR"], args["megabytes"])
        logger.warning("escape attempt %s: %s", attack, outcome)
        return {"module": "resource_hog", "attack": attack, "outcome": outcome}
    if attack == "cpu_spin":
        threading.Thread(target=spin, daemon=True).start()
    elif attack == "memory_over_limit":
        threading.Thread(target=hoard, args=(args["megabytes"],), daemon=True).start()
    else:
        raise ValueError(attack)
    logger.warning("escape attempt %s: started", attack)
    return {"module": "resource_hog", "attack": attack, "outcome": "started"}


register_hook("escape_hog", escape_hog)
