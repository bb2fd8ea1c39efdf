"""The seccomp layer, tested on real forked processes (see ``tests/test_sandbox_kernel.py``).

The interesting case is the bot that is not root: the module shares the bot's uid, so the
kernel's same-uid checks let it change the host's limits, priority and CPUs and the attributes
of the bot's files. Each test first shows that the operation works before ``apply_sandbox``
(the control), then that it is refused after, and that what Python itself needs still works.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import resource
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import seccomp
from sandbox.apply import SandboxError, apply_sandbox
from sandbox.landlock import landlock_abi
from sandbox.process_flags import set_dumpable, set_no_new_privs
from tests.installs import become_user
from tests.test_sandbox_kernel import World, attempt, layer, layer_kinds, run_forked, tcp_listener
from tests.test_sandbox_kernel import world as world  # the fixture, re-exported

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="Linux only"),
    pytest.mark.skipif(not seccomp.supported(), reason="the filter is x86_64-only"),
    pytest.mark.skipif(os.geteuid() != 0, reason="forks children that switch uids: needs root"),
    pytest.mark.skipif(landlock_abi() < 6, reason="needs Landlock ABI >= 6"),
]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17
ADDR_NO_RANDOMIZE = 0x0040000


def _libc_call(fn: Any, *args: Any) -> None:
    if fn(*args) == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _open_status() -> int:
    """This thread's /proc status, opened before Landlock closes /proc (an open fd keeps working)."""
    return os.open("/proc/thread-self/status", os.O_RDONLY)


def _seccomp_status(fd: int) -> dict[str, str]:
    lines = os.pread(fd, 65536, 0).decode().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines) if k.startswith("Seccomp")}


def _fork_works() -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the grandchild
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7


def _thread_works() -> None:
    box: list[int] = []
    thread = threading.Thread(target=lambda: box.append(threading.get_native_id()))
    thread.start()
    thread.join()
    assert box and box[0] != threading.get_native_id()


def _clone_newuser() -> None:
    pid = _libc.syscall(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:  # pragma: no cover - only if the filter failed: the clone's child must not run on
        os._exit(0)
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    os.waitpid(pid, 0)


def _own_the_world(world: World, uid: int) -> None:
    for path in [world.base, *world.base.rglob("*")]:
        os.lchown(path, uid, uid)


def test_nonroot_module_cannot_reach_the_host_process_or_file_attributes(world: World) -> None:
    bot_uid = world.uids.allocate("botuser")
    _own_the_world(world, bot_uid)
    env_file = world.project / ".env"
    own_file = world.data_dir("alpha") / "own.txt"

    with tcp_listener() as port:

        def bot() -> dict[str, Any]:
            become_user(bot_uid, bot_uid)  # the non-root bot; its child below is the module
            set_dumpable(True)
            spec = world.spec_as_this_user("alpha", ports=[port])
            host = os.getpid()

            def module() -> dict[str, Any]:
                nice = os.getpriority(os.PRIO_PROCESS, host)
                cpus = os.sched_getaffinity(host)
                nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
                control = {
                    "setpriority_host": attempt(lambda: os.setpriority(os.PRIO_PROCESS, host, nice)),
                    "affinity_host": attempt(lambda: os.sched_setaffinity(host, cpus)),
                    "prlimit_host": attempt(lambda: resource.prlimit(host, resource.RLIMIT_NOFILE, nofile)),
                    "chmod_env": attempt(lambda: os.chmod(env_file, 0o600)),
                    "utime_env": attempt(lambda: os.utime(env_file)),
                    "setxattr_env": attempt(lambda: os.setxattr(env_file, "user.control", b"1")),
                }
                status = _open_status()

                layers = apply_sandbox(spec)

                own_file.write_text("mine")

                async def asyncio_works() -> list[Any]:
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    await writer.wait_closed()
                    return list(await asyncio.gather(*(asyncio.to_thread(len, "abcd") for _ in range(4))))

                def socket_connect() -> None:
                    with socket.create_connection(("127.0.0.1", port), timeout=2):
                        pass

                def sqlite_works() -> None:
                    with sqlite3.connect(world.data_dir("alpha") / "state.db") as db:
                        db.execute("create table t (x)")
                        db.execute("insert into t values (1)")
                    db.close()

                def vm_read(pid: int) -> Any:
                    def run() -> None:
                        class Iovec(ctypes.Structure):
                            _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))

                        source = ctypes.create_string_buffer(b"x" * 16)
                        target = ctypes.create_string_buffer(16)
                        local = Iovec(ctypes.cast(target, ctypes.c_void_p), 16)
                        remote = Iovec(ctypes.cast(source, ctypes.c_void_p), 16)
                        _libc_call(_libc.process_vm_readv, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)

                    return run

                return {
                    "control": control,
                    "layers": layers,
                    "status": _seccomp_status(status),
                    # the host: a process of the same uid outside the sandbox
                    "setpriority_host": attempt(lambda: os.setpriority(os.PRIO_PROCESS, host, nice + 1)),
                    "setpriority_user": attempt(lambda: os.setpriority(os.PRIO_USER, 0, nice + 1)),
                    "setpriority_pgrp": attempt(lambda: os.setpriority(os.PRIO_PGRP, 0, nice + 1)),
                    "affinity_host": attempt(lambda: os.sched_setaffinity(host, {min(cpus)})),
                    "scheduler_host": attempt(lambda: os.sched_setscheduler(host, os.SCHED_BATCH, os.sched_param(0))),
                    "prlimit_read_host": attempt(lambda: resource.prlimit(host, resource.RLIMIT_NOFILE)),
                    "prlimit_set_host": attempt(lambda: resource.prlimit(host, resource.RLIMIT_NOFILE, (64, nofile[1]))),
                    "vm_read_host": attempt(vm_read(host)),
                    "host_nice_after": os.getpriority(os.PRIO_PROCESS, host),
                    # itself
                    "getrlimit": attempt(lambda: resource.getrlimit(resource.RLIMIT_NOFILE)),
                    "prlimit_self_0": attempt(lambda: resource.prlimit(0, resource.RLIMIT_NOFILE)),
                    "prlimit_self_pid": attempt(lambda: resource.prlimit(os.getpid(), resource.RLIMIT_NOFILE)),
                    "setrlimit_self": attempt(lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))),
                    "setpriority_self": attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, nice + 1)),
                    "affinity_self": attempt(lambda: os.sched_setaffinity(0, cpus)),
                    "vm_read_self": attempt(vm_read(os.getpid())),
                    # file attributes, its own files included
                    "chmod_env": attempt(lambda: os.chmod(env_file, 0o644)),
                    "chmod_own": attempt(lambda: os.chmod(own_file, 0o644)),
                    "chown_own": attempt(lambda: os.chown(own_file, bot_uid, bot_uid)),
                    "utime_env": attempt(lambda: os.utime(env_file, (0, 0))),
                    "utime_own": attempt(lambda: os.utime(own_file)),
                    "setxattr_env": attempt(lambda: os.setxattr(env_file, "user.planted", b"x")),
                    "setxattr_own": attempt(lambda: os.setxattr(own_file, "user.planted", b"x")),
                    "removexattr_env": attempt(lambda: os.removexattr(env_file, "user.control")),
                    # namespaces and the rest
                    "unshare": attempt(lambda: _libc_call(_libc.unshare, CLONE_NEWUSER)),
                    "clone_newuser": attempt(_clone_newuser),
                    "personality_query": attempt(lambda: _libc_call(_libc.personality, 0xFFFFFFFF)),
                    "personality_change": attempt(lambda: _libc_call(_libc.personality, ADDR_NO_RANDOMIZE)),
                    # Python keeps working
                    "asyncio": asyncio.run(asyncio_works()),
                    "socket": attempt(socket_connect),
                    "thread": attempt(_thread_works),
                    "fork": attempt(_fork_works),
                    "sqlite": attempt(sqlite_works),
                    "mkstemp": attempt(lambda: os.close(tempfile.mkstemp()[0])),
                    "import": attempt(lambda: __import__("fractions")),
                }

            result = run_forked(module)
            result["host_nice"] = os.getpriority(os.PRIO_PROCESS, 0)
            result["env_mode"] = oct(env_file.stat().st_mode & 0o777)
            result["env_xattrs"] = os.listxattr(env_file)
            return result

        r = run_forked(bot)

    assert r["control"] == dict.fromkeys(r["control"], "ok")  # DAC alone lets the module do all of it
    layers = r["layers"]
    kinds = ["dirs", "rlimits", "shared uid", "no_new_privs", "landlock", "seccomp", "dumpable", "no hidden"]
    assert layer_kinds(layers) == kinds
    assert layer(layers, "seccomp") == f"seccomp ({seccomp.denied_count()} syscalls denied, no UDP)"
    assert r["status"]["Seccomp"] == "2"
    for key in (
        "setpriority_host",
        "setpriority_user",
        "setpriority_pgrp",
        "affinity_host",
        "scheduler_host",
        "prlimit_read_host",
        "prlimit_set_host",
        "vm_read_host",
        "chmod_env",
        "chmod_own",
        "chown_own",
        "utime_env",
        "utime_own",
        "setxattr_env",
        "setxattr_own",
        "removexattr_env",
        "unshare",
        "clone_newuser",
        "personality_change",
    ):
        assert r[key] == "EPERM", (key, r[key])
    assert r["host_nice_after"] == r["host_nice"]
    assert r["env_mode"] == "0o600" and r["env_xattrs"] == ["user.control"]
    for key in (
        "getrlimit",
        "prlimit_self_0",
        "prlimit_self_pid",
        "setrlimit_self",
        "setpriority_self",
        "affinity_self",
        "vm_read_self",
        "personality_query",
        "socket",
        "thread",
        "fork",
        "sqlite",
        "mkstemp",
        "import",
    ):
        assert r[key] == "ok", (key, r[key])
    assert r["asyncio"] == [4, 4, 4, 4]


def test_root_module_gets_the_filter_too(world: World) -> None:
    uid = world.uids.allocate("alpha")
    spec = world.spec("alpha", uid=uid)
    parent = os.getpid()

    def child() -> dict[str, Any]:
        layers = apply_sandbox(spec)
        own = world.data_dir("alpha") / "own.txt"
        own.write_text("mine")
        return {
            "layers": layers,
            "chmod_own": attempt(lambda: os.chmod(own, 0o644)),  # its own uid: only seccomp refuses this
            "utime_own": attempt(lambda: os.utime(own)),
            "prlimit_parent": attempt(lambda: resource.prlimit(parent, resource.RLIMIT_NOFILE)),
            "prlimit_self": attempt(lambda: resource.prlimit(0, resource.RLIMIT_NOFILE)),
        }

    r = run_forked(child)
    assert [line for line in r["layers"] if line.startswith("NOT ")] == []
    assert layer_kinds(r["layers"])[-3:] == ["seccomp", "dumpable", "hidden"]  # the filter comes just before dumpable
    assert r["chmod_own"] == r["utime_own"] == r["prlimit_parent"] == "EPERM"
    assert r["prlimit_self"] == "ok"


def test_the_filter_reaches_threads_already_running(tmp_path: Path) -> None:
    """TSYNC. (apply_sandbox itself runs single-threaded: Landlock refuses otherwise.)"""
    target = tmp_path / "file"
    target.write_text("x")

    def child() -> dict[str, Any]:
        set_no_new_privs()
        started, installed = threading.Event(), threading.Event()
        seen: dict[str, Any] = {}

        def running() -> None:
            status = _open_status()
            started.set()
            installed.wait()
            seen["status"] = _seccomp_status(status)
            seen["chmod"] = attempt(lambda: os.chmod(target, 0o644))

        thread = threading.Thread(target=running)
        thread.start()
        started.wait()
        layer = seccomp.install()
        installed.set()
        thread.join()
        return {"layer": layer, **seen}

    r = run_forked(child)
    assert r["layer"].startswith("seccomp (")
    assert r["status"]["Seccomp"] == "2" and r["chmod"] == "EPERM"


def test_trusted_module_has_no_filter(world: World) -> None:
    spec = world.spec("alpha", uid=None, trust="trusted")
    target = world.base / "trusted.txt"
    target.write_text("x")

    def child() -> dict[str, Any]:
        layers = apply_sandbox(spec)
        return {"layers": layers, "status": _seccomp_status(_open_status()), "chmod": attempt(lambda: os.chmod(target, 0o644))}

    r = run_forked(child)
    assert not any(layer.startswith("seccomp") for layer in r["layers"])
    assert r["status"]["Seccomp"] == "0" and r["chmod"] == "ok"


def test_a_failing_filter_stops_the_module(world: World) -> None:
    spec = world.spec("alpha", uid=world.uids.allocate("alpha"))

    def child() -> dict[str, Any]:
        seccomp.SYS_SECCOMP = 100_000  # the kernel answers ENOSYS
        try:
            apply_sandbox(spec)
        except SandboxError as exc:
            return {"error": str(exc), "applied": exc.applied}
        return {"error": None}

    r = run_forked(child)
    assert r["error"] and "seccomp" in r["error"]
    assert r["applied"][-1].startswith("landlock abi ")  # nothing after Landlock was reported in force


def test_syscalls_newer_than_the_review_are_refused_as_unknown() -> None:
    def child() -> dict[str, Any]:
        before = {str(nr): _raw_syscall(nr) for nr in (seccomp.NEWEST_REVIEWED + 1,)}
        set_no_new_privs()
        seccomp.install()
        after = {str(nr): _raw_syscall(nr) for nr in (seccomp.NEWEST_REVIEWED, seccomp.NEWEST_REVIEWED + 1, 1000)}
        return {"before": before, "after": after, "getpid": _libc.syscall(39) == os.getpid()}

    r = run_forked(child)
    reviewed, unreviewed = str(seccomp.NEWEST_REVIEWED), str(seccomp.NEWEST_REVIEWED + 1)
    # The review covers this kernel: it has nothing after NEWEST_REVIEWED (when this fails on a
    # newer kernel, review its new syscalls, deny the dangerous ones, and raise NEWEST_REVIEWED).
    assert r["before"][unreviewed] == "ENOSYS"
    assert r["after"][reviewed] == "EPERM"  # file_setattr: denied by name
    assert r["after"][unreviewed] == r["after"]["1000"] == "ENOSYS"
    assert r["getpid"]


def test_the_review_boundary_is_enforced_by_the_filter() -> None:
    """On this kernel every number above the boundary is ENOSYS anyway; move the boundary to see the filter act."""

    def child() -> dict[str, Any]:
        seccomp.NEWEST_REVIEWED = 100  # getpid (39) is below, getppid (110) above
        set_no_new_privs()
        seccomp.install()
        return {"getpid": _raw_syscall(39), "getppid": _raw_syscall(110)}

    assert run_forked(child) == {"getpid": "ok", "getppid": "ENOSYS"}


def _raw_syscall(nr: int) -> str:
    """Call syscall ``nr`` with null arguments: ``ok`` or the errno's name."""
    result = _libc.syscall(ctypes.c_long(nr), 0, 0, 0, 0, 0)
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]


def test_unsupported_architecture_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "aarch64")
    assert seccomp.install().startswith("NOT seccomp: unsupported architecture")


def test_filter_shape() -> None:
    program = seccomp.build_filter(4242)
    assert 0 < len(program) <= seccomp.BPF_MAXINSNS
    assert program[0] == (seccomp.BPF_LD_W_ABS, 0, 0, 4)  # arch first
    assert program[1][:2] == (seccomp.BPF_JEQ_K, 0) and program[1][3] == seccomp.AUDIT_ARCH_X86_64
    assert any(k == 4242 for *_, k in program)  # its own pid is embedded
    assert seccomp.RET_EPERM in {k for code, _, _, k in program if code == seccomp.BPF_RET_K}
    assert not any(code == seccomp.BPF_ALU_AND_K for code, *_ in program)  # network granted: no socket type check
    assert any(code == seccomp.BPF_ALU_AND_K for code, *_ in seccomp.build_filter(4242, deny_udp=True))


# --- UDP: Landlock (ABI <= 7) only governs TCP; seccomp closes the rest for a module without network


@contextlib.contextmanager
def _udp_listener() -> Iterator[tuple[socket.socket, int]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.setblocking(False)
        yield server, server.getsockname()[1]


def _arrived(server: socket.socket) -> list[bytes]:
    time.sleep(0.2)
    got = []
    while True:
        try:
            got.append(server.recv(100))
        except BlockingIOError:
            return got


def _udp_send(port: int) -> Callable[[], None]:
    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"exfiltrated", ("127.0.0.1", port))

    return run


def _open(*args: int) -> Callable[[], None]:
    return lambda: socket.socket(*args).close()


def _network_probe(spec: Any, udp_port: int, tcp_port: int) -> dict[str, Any]:
    def child() -> dict[str, Any]:
        control = attempt(_udp_send(udp_port))  # before the sandbox: arrives
        layers = apply_sandbox(spec)

        def tcp_connect() -> None:
            with socket.create_connection(("127.0.0.1", tcp_port), timeout=2):
                pass

        async def asyncio_connect() -> str:
            _reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
            writer.close()
            await writer.wait_closed()
            return "ok"

        dgram, nonblock, cloexec = socket.SOCK_DGRAM, socket.SOCK_NONBLOCK, socket.SOCK_CLOEXEC
        return {
            "control": control,
            "layers": layers,
            "udp_send": attempt(_udp_send(udp_port)),
            "udp_socket": attempt(_open(socket.AF_INET, dgram)),
            "udp_socket_flags": attempt(_open(socket.AF_INET, dgram | nonblock | cloexec)),
            "udp6_socket": attempt(_open(socket.AF_INET6, dgram)),
            "ping_socket": attempt(_open(socket.AF_INET, dgram, socket.IPPROTO_ICMP)),
            "raw_socket": attempt(_open(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)),
            "sctp_stream": attempt(_open(socket.AF_INET, socket.SOCK_STREAM, 132)),  # IPPROTO_SCTP
            "packet_socket": attempt(_open(17, socket.SOCK_RAW, 0)),  # AF_PACKET
            "netlink_socket": attempt(_open(16, socket.SOCK_RAW, 0)),  # AF_NETLINK, NETLINK_ROUTE
            "vsock_socket": attempt(_open(40, socket.SOCK_STREAM, 0)),  # AF_VSOCK
            "alg_socket": attempt(_open(38, socket.SOCK_SEQPACKET, 0)),  # AF_ALG
            "tcp_socket": attempt(_open(socket.AF_INET, socket.SOCK_STREAM | nonblock | cloexec, socket.IPPROTO_TCP)),
            "tcp6_socket": attempt(_open(socket.AF_INET6, socket.SOCK_STREAM)),
            "tcp_connect": attempt(tcp_connect),
            "asyncio_connect": asyncio.run(asyncio_connect()),
            "unix_pair": attempt(lambda: [s.close() for s in socket.socketpair()]),
            "unix_dgram": attempt(_open(socket.AF_UNIX, dgram)),
        }

    return run_forked(child)


@pytest.mark.parametrize("root", [True, False], ids=["root", "nonroot"])
def test_no_network_means_no_udp(world: World, root: bool) -> None:
    with _udp_listener() as (server, udp_port), tcp_listener() as tcp_port:
        if not root:
            _own_the_world(world, bot_uid := world.uids.allocate("botuser"))

        def run() -> dict[str, Any]:
            if root:
                return _network_probe(world.spec("alpha", uid=world.uids.allocate("alpha"), ports=[tcp_port]), udp_port, tcp_port)
            become_user(bot_uid, bot_uid)
            return _network_probe(world.spec_as_this_user("alpha", ports=[tcp_port]), udp_port, tcp_port)

        r = run() if root else run_forked(run)
        arrived = _arrived(server)

    assert r["control"] == "ok" and arrived == [b"exfiltrated"]  # only the control, sent before the sandbox
    assert layer(r["layers"], "seccomp") == f"seccomp ({seccomp.denied_count()} syscalls denied, no UDP)"
    for key in (
        "udp_send",
        "udp_socket",
        "udp_socket_flags",
        "udp6_socket",
        "ping_socket",
        "raw_socket",
        "sctp_stream",
        "packet_socket",
        "netlink_socket",
        "vsock_socket",
        "alg_socket",
    ):
        assert r[key] == "EPERM", (key, r[key])
    for key in ("tcp_socket", "tcp6_socket", "tcp_connect", "asyncio_connect", "unix_pair", "unix_dgram"):
        assert r[key] == "ok", (key, r[key])


def test_network_granted_keeps_udp(world: World) -> None:
    with _udp_listener() as (server, udp_port), tcp_listener() as tcp_port:
        spec = world.spec("alpha", uid=world.uids.allocate("alpha"), allow_network=True)
        r = _network_probe(spec, udp_port, tcp_port)
        arrived = _arrived(server)

    assert layer(r["layers"], "seccomp") == f"seccomp ({seccomp.denied_count()} syscalls denied)"
    assert arrived == [b"exfiltrated", b"exfiltrated"]
    for key in (
        "udp_send",
        "udp_socket",
        "udp_socket_flags",
        "udp6_socket",
        "tcp_socket",
        "tcp_connect",
        "asyncio_connect",
        "unix_pair",
    ):
        assert r[key] == "ok", (key, r[key])
    for key in ("packet_socket", "netlink_socket", "vsock_socket", "alg_socket"):  # never, network or not
        assert r[key] == "EPERM", (key, r[key])
