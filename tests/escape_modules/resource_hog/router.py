# Runs its own process past the limits the operator set for it (small cpu_seconds and memory_mb
# in the run's modules.toml). The work happens in a thread so the event loop keeps answering the
# host's heartbeat: only the resource watchdog can stop it.
import mmap
import threading
import time

from aiogram import Router

from hooks.hooks import register_hook
from logger import logger

router = Router()
MB = 1024 * 1024


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


async def escape_hog(attack: str, args: dict | None = None, **kwargs):
    args = args or {}
    if attack == "cpu_spin":
        threading.Thread(target=spin, daemon=True).start()
    elif attack == "memory_over_limit":
        threading.Thread(target=hoard, args=(args["megabytes"],), daemon=True).start()
    else:
        raise ValueError(attack)
    logger.warning("escape attempt %s: started", attack)
    return {"module": "resource_hog", "attack": attack, "outcome": "started"}


register_hook("escape_hog", escape_hog)
