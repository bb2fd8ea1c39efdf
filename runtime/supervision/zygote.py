"""The zygote: a fork server that has already imported everything a module process needs.

Started once per runtime as ``python -m runtime.supervision.zygote <control fd> <host pid>`` with a
scrubbed environment, it imports aiogram, SQLAlchemy, asyncpg, msgpack and the core packages,
freezes the GC (so forked children keep sharing those pages) and then serves fork requests
from the host over a ``SOCK_SEQPACKET`` control socket. It runs no event loop and holds no
secrets: it never sees the bot token, the database owner or any module code.

A fork request carries the module name, the modules folder and, as ``SCM_RIGHTS``, the
child's end of the module's socketpair (and, when the host supervises the module's connects by
address, a second socket for the seccomp listener: ``sandbox/network/``). The zygote double-forks so the module process is
re-parented to the host (a child subreaper): the host reaps it, the module's parent-death
signal follows the host, and a dying zygote leaves running modules alone.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import socket
import sys
import time

import msgpack

from sandbox import process_flags

# Imported before forking so every module process shares them copy-on-write.
PRELOAD = (
    "asyncio",
    "anyio",
    "aiogram",
    "aiogram.types",
    "aiogram.filters",
    "aiogram.fsm.context",
    "aiogram.fsm.state",
    "aiogram.utils.keyboard",
    "aiohttp",
    "aiohttp.web",
    "aiohttp.test_utils",
    "sqlalchemy",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql",
    "asyncpg",
    "msgpack",
    "ipc",
    "logger",
    "hooks.hooks",
    "hooks.hook_buttons",
    # The core that module code imports (COMPAT.md); import-safe by design.
    "config",
    "bot",
    "database",
    "database.models",
    "filters.admin",
    "handlers.utils",
    "handlers.profile",
    "handlers.keys.key_view",
    "runtime.child",
)

MAX_REQUEST = 64 * 1024
REPARENT_WAIT = 5.0  # seconds a new module process waits to be adopted by the host


def main() -> None:
    control_fd, host_pid = int(sys.argv[1]), int(sys.argv[2])
    process_flags.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != host_pid:  # the host died before we armed the signal
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    control = socket.socket(fileno=control_fd)
    failed = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken optional import must not stop every module
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    gc.collect()
    gc.freeze()
    control.send(msgpack.packb({"ready": True, "pid": os.getpid(), "preload_failed": failed}))
    serve(control, host_pid)


def serve(control: socket.socket, host_pid: int) -> None:
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, MAX_REQUEST, 4)
        except InterruptedError:
            continue
        if not data:  # the host closed the control socket: we are done
            os._exit(0)
        request = None  # bound before anything can fail: the error reply reads it
        try:
            request = msgpack.unpackb(data)
            reply = {"id": request["id"], "pid": fork_module(request, fds, control, host_pid)}
        except Exception as exc:
            reply = {"id": request.get("id") if isinstance(request, dict) else None, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                _close_quietly(fd)
        control.send(msgpack.packb(reply))


def fork_module(request: dict, fds: list[int], control: socket.socket, host_pid: int) -> int:
    if len(fds) not in (1, 2):
        raise ValueError(f"expected a channel fd and perhaps a network hand-over fd, got {len(fds)}")
    channel_fd = fds[0]
    handover_fd = fds[1] if len(fds) == 2 else None
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:  # intermediate: fork the module process, report its pid, vanish
        try:
            os.close(read_end)
            pid = os.fork()
            if pid == 0:
                os.close(write_end)
                control.close()
                _become_module_process(request, channel_fd, host_pid, handover_fd)
            os.write(write_end, str(pid).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        raw = b""
        while chunk := os.read(read_end, 32):
            raw += chunk
    finally:
        os.close(read_end)
        os.waitpid(middle, 0)
    if not raw:
        raise RuntimeError("the module process could not be forked")
    return int(raw)


def _become_module_process(request: dict, channel_fd: int, host_pid: int, handover_fd: int | None = None) -> None:
    """Runs in the module process (still trusted code): detach, then hand over to child.py."""
    code = 1
    try:
        os.setsid()  # own session and process group: the host signals the whole group
        deadline = time.monotonic() + REPARENT_WAIT
        while os.getppid() != host_pid and time.monotonic() < deadline:
            time.sleep(0.0002)
        process_flags.set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != host_pid:  # host gone (or not a subreaper): never run orphaned
            os._exit(1)
        keep = sorted(fd for fd in (channel_fd, handover_fd) if fd is not None)
        for low, high in zip([2, *keep], [*keep, 65536], strict=True):
            os.closerange(low + 1, high)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        output_fd = _capture_output()
        layers = _apply_sandbox(request.get("sandbox"), host_pid, handover_fd)
        from runtime import child

        code = child.main(channel_fd, request["module"], request["modules_dir"], layers, output_fd)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _capture_output() -> int:
    """Point fds 1 and 2 at a pipe the module process reads itself; return the read end.

    ``print()``, tracebacks and C-level writes of module code then become log records tagged
    with the module's name and rate limited like its other logs, instead of landing untagged
    and unbounded on the host's terminal.
    """
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    os.set_blocking(read_end, False)
    return read_end


# The one layer of a module whose runtime was told sandbox=False (ModuleRuntime: secure by default).
UNSANDBOXED_LAYER = "NOT sandboxed: the runtime was started with sandbox=False (module code runs as the bot's own user)"


def _apply_sandbox(spec: dict | None, host_pid: int, handover_fd: int | None = None) -> list[str]:
    """Confine this process (limits, uid, Landlock…) before any module code exists in it.

    Changing credentials clears the parent-death signal, so it is armed again afterwards, and
    the host is checked to still be the parent.
    """
    if not spec:
        if handover_fd is not None:
            os.close(handover_fd)
        return [UNSANDBOXED_LAYER]
    from sandbox.apply import SandboxError, SandboxSpec, apply_sandbox

    try:
        layers = apply_sandbox(SandboxSpec.from_wire(spec), handover_fd)
    except (SandboxError, ValueError) as exc:
        # Never run module code half-confined: the module process answers ``init`` with this error.
        layers = [f"FAILED: {exc}"]
    process_flags.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != host_pid:
        os._exit(1)
    return layers


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


if __name__ == "__main__":
    main()
