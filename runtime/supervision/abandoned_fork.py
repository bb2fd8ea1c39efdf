"""A module process the zygote forked for a caller that stopped waiting: kill it and reap it.

A fork request is answered with the new process's pid. When the caller is cancelled after the
request went out (a runtime closing while a module restarts), the process is made all the same;
it holds the child's end of a channel nobody will ever serve, and once the zygote's intermediate
exits it is our child (the host is a child subreaper). Left alone it would wait for an ``init``
that never comes, then linger as a zombie.
"""

from __future__ import annotations

import logging
import os
import signal

import anyio

log = logging.getLogger("solobot.runtime")

REAP_POLL = 0.01  # seconds between looks while the process is still the zygote's grandchild


async def kill_and_reap(pid: int, timeout: float) -> bool:
    """SIGKILL ``pid`` (and its process group) and reap it; False if it was not ours to reap in ``timeout``.

    Its pid cannot be reused meanwhile: until it is reaped here, its zombie holds it.
    """
    for kill in (os.kill, os.killpg):  # its group too: it may have started others already
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    with anyio.move_on_after(timeout):
        while True:
            try:
                reaped, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # still the zygote's grandchild (adopted in a moment), or reaped elsewhere
                reaped = 0 if _exists(pid) else pid
            if reaped:
                return True
            await anyio.sleep(REAP_POLL)
    log.warning("[zygote] could not reap pid %s, forked for a request whose caller gave up", pid)
    return False


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
