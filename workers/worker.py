"""One worker process, as the arbiter starts it: ``python -m workers.worker`` (not run by hand).

The arbiter passes, in the environment: ``SOLOBOT_WORKER_INDEX`` (the slot),
``SOLOBOT_CONNECTIONS_FD`` (this worker's end of the socket pair the arbiter hands the web
server's connections over, ``connection_handoff``), ``SOLOBOT_READY_FD`` (a pipe: one byte once
this worker serves) and ``DATABASE_URL`` (the shared database; the arbiter's embedded one without
it). SIGTERM or SIGINT: drain (the web server stops taking connections and finishes the requests
in flight), stop the modules, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys

from config import ConfigError, Settings, load_settings
from sandbox.process_flags import set_parent_death_signal

from .identity import WorkerIdentity, WorkerLogFilter

CONNECTIONS_FD_ENV = "SOLOBOT_CONNECTIONS_FD"
READY_FD_ENV = "SOLOBOT_READY_FD"
LOG_FORMAT = "%(asctime)s %(levelname)s [%(worker)s] %(name)s: %(message)s"
EXIT_CONFIG = 2


def configure_logging(identity: WorkerIdentity | None) -> None:
    """Every line names its worker (``[host-1]``; ``[arbiter]`` for the parent)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(WorkerLogFilter(identity.slot if identity is not None else "arbiter"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def main() -> int:
    identity = WorkerIdentity.from_environment()
    if identity is None:
        print("solobot worker: started without SOLOBOT_WORKER_INDEX; run `solobot run --workers N` instead", file=sys.stderr)
        return EXIT_CONFIG
    try:
        settings = load_settings()
        connections_fd, ready_fd = _fd(CONNECTIONS_FD_ENV), _fd(READY_FD_ENV)
    except ConfigError as exc:
        print(f"solobot worker {identity.slot}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(identity)
    # The arbiter gone (even SIGKILLed), its workers drain and exit rather than serve unsupervised.
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() == 1:  # it died before the line above
        print(f"solobot worker {identity.slot}: the arbiter is gone; not starting", file=sys.stderr)
        return EXIT_CONFIG
    connections = socket.socket(fileno=connections_fd)
    connections.set_inheritable(False)  # ours alone: never passed on to the zygote and its module processes
    try:
        asyncio.run(serve(settings, identity, connections, ready_fd))
    except ConfigError as exc:
        print(f"solobot worker {identity.slot}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # Everything is closed (modules stopped, connections gone). Skip the interpreter's teardown:
    # its final garbage collection of the bot's heap took 6-10 s on a loaded 2-core machine, time
    # a rolling restart would wait for (measured with faulthandler: "Garbage-collecting").
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def serve(settings: Settings, identity: WorkerIdentity, connections: socket.socket, ready_fd: int) -> None:
    from host.app import SolobotHost

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with SolobotHost(settings, worker=identity, handed_connections=connections, polling=False):
        logging.getLogger("solobot").info("worker %s (pid %d) serves", identity.slot, identity.pid)
        with contextlib.suppress(BrokenPipeError):  # the arbiter no longer waits: it is stopping us
            os.write(ready_fd, b"1")
        os.close(ready_fd)
        await stop.wait()
        logging.getLogger("solobot").info("worker %s draining: finishing the updates in flight", identity.slot)


def _fd(name: str) -> int:
    raw = os.environ.get(name, "")
    if not raw.isdigit():
        raise ConfigError(f"{name} must be an inherited file descriptor number, got {raw!r}")
    return int(raw)


if __name__ == "__main__":
    raise SystemExit(main())
