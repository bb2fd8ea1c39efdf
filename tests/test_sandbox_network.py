"""Network by address: the notify filter in a real forked process, the host's supervisor in a real thread.

Each test forks a child that installs the filter (``sandbox/network/notify_filter.py``) and hands
its listener to a :class:`NetworkSupervisor` of this process, then tries real connects and sends
to real listeners on loopback addresses; the listeners count what arrived, so a refusal is
checked where it matters (nothing reached the server), not only by the errno the child saw.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import ipaddress
import logging
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sandbox import seccomp
from sandbox.network import notify_filter
from sandbox.network.destinations import DestinationError, NetworkRules, parse_destination, rules_for
from sandbox.network.supervisor import NetworkSupervisor
from sandbox.permissions import validate_entry
from sandbox.process_flags import set_no_new_privs
from tests.test_sandbox_kernel import run_forked

# The supervisor reads the child's memory: root here (a bot that is not root keeps its modules dumpable).
kernel = pytest.mark.skipif(
    sys.platform != "linux" or not seccomp.supported() or os.geteuid() != 0, reason="Linux x86_64, as root"
)


# --- the grants ------------------------------------------------------------------------------------


def test_destinations_parse_addresses_networks_and_names() -> None:
    assert str(parse_destination("10.0.0.5:8080")) == "10.0.0.5:8080"
    assert str(parse_destination("10.0.0.0/24:8080")) == "10.0.0.0/24:8080"
    assert str(parse_destination("[2001:db8::1]:443")) == "[2001:db8::1]:443"
    assert str(parse_destination("[2001:db8::/64]:443")) == "[2001:db8::/64]:443"
    assert parse_destination("API.Example.com:443").host_name == "api.example.com"
    for wrong, says in (
        ("10.0.0.5", "the port is required"),
        ("10.0.0.5:0", "1-65535"),
        ("2001:db8::1:443", "in brackets"),
        ("10.0.0.1/24:80", "host bits set"),
        ("bad host!:80", "such as"),
    ):
        with pytest.raises(DestinationError, match=says):
            parse_destination(wrong)


def test_modules_toml_checks_destinations_and_wants_network() -> None:
    values, problems = validate_entry({"network": True, "destinations": ["db.internal:5432", "10.0.0.0/8:80"]})
    assert problems == [] and values["destinations"] == ("10.0.0.0/8:80", "db.internal:5432")
    _, problems = validate_entry({"destinations": ["10.0.0.1:80"]})
    assert problems == [("destinations", "destinations needs network = true (add network = true, or remove destinations)")]
    _, problems = validate_entry({"network": True, "destinations": ["10.0.0.1"]})
    assert problems[0][0] == "destinations" and "the port is required" in problems[0][1]


def test_rules_allow_the_database_and_grants_only() -> None:
    names = {"svc.example": [ipaddress.ip_address("192.0.2.7")]}
    rules = rules_for(
        database=("127.0.0.1", 5432),
        network=True,
        tcp_ports=[443],
        destinations=["10.1.0.0/16:8080", "svc.example:9000", "[::1]:7000"],
        resolver=lambda name, port: names.get(name, []),
        resolvers=[ipaddress.ip_address("127.0.0.53")],
    )
    assert rules is not None
    ip = ipaddress.ip_address
    allowed = [("127.0.0.1", 5432), ("::ffff:127.0.0.1", 5432), ("198.51.100.1", 443), ("10.1.200.3", 8080)]
    allowed += [("192.0.2.7", 9000), ("::1", 7000), ("127.0.0.53", 53)]
    refused = [("127.0.0.2", 5432), ("::1", 5432), ("::ffff:127.0.0.2", 5432), ("10.2.0.1", 8080), ("10.1.0.1", 8081)]
    refused += [("192.0.2.8", 9000), ("127.0.0.1", 7000), ("127.0.0.53", 54)]
    assert [a for a in allowed if not rules.allows(ip(a[0]), a[1])] == []
    assert [a for a in refused if rules.allows(ip(a[0]), a[1])] == []
    # A name whose address changed: the refused connect looks again (the cache is older than allowed)
    names["svc.example"] = [ip("192.0.2.8")]
    rules._resolved[("svc.example", 9000)] = (0.0, [ip("192.0.2.7")])
    assert rules.allows(ip("192.0.2.8"), 9000)
    assert rules_for(database=None, network=True, tcp_ports=[], destinations=[]) is None  # any address and port


# --- the filter and the supervisor, for real -------------------------------------------------------


class Listener:
    """A TCP or UDP server on one loopback address that counts what arrives."""

    def __init__(self, family: int, address: str, port: int = 0, kind: int = socket.SOCK_STREAM) -> None:
        self.sock = socket.socket(family, kind)
        self.sock.bind((address, port))
        self.port = self.sock.getsockname()[1]
        self.arrived = 0
        self.kind = kind
        if kind == socket.SOCK_STREAM:
            self.sock.listen(64)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                if self.kind == socket.SOCK_STREAM:
                    conn, _ = self.sock.accept()
                    conn.close()
                else:
                    self.sock.recvfrom(65536)
            except OSError:
                return
            self.arrived += 1

    def close(self) -> None:
        self.sock.close()


@contextmanager
def supervised(rules: NetworkRules, module: str = "probe") -> Iterator[tuple[NetworkSupervisor, int]]:
    host_end, child_end = socket.socketpair()
    supervisor = NetworkSupervisor(module, rules, host_end)
    supervisor.start()
    try:
        yield supervisor, child_end.fileno()
    finally:
        child_end.close()
        supervisor.join(10)
        supervisor.stop()


def in_child(handover: int, udp: bool, body: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def child() -> dict[str, Any]:
        set_no_new_privs()
        layer = notify_filter.install(os.dup(handover), udp=udp)
        os.close(handover)
        return {"layer": layer, **body()}

    return child


def outcome(action: Callable[[], object]) -> str:
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


def connect(family: int, address: str, port: int) -> Callable[[], None]:
    def run() -> None:
        with socket.socket(family) as s:
            s.settimeout(3)
            s.connect((address, port))

    return run


@pytest.fixture
def servers() -> Iterator[dict[str, Listener]]:
    db = Listener(socket.AF_INET, "127.0.0.1")
    made = {
        "db": db,
        "db_127_0_0_2": Listener(socket.AF_INET, "127.0.0.2", db.port),
        "db_v6": Listener(socket.AF_INET6, "::1", db.port),
        "granted": Listener(socket.AF_INET, "127.0.0.1"),
        "udp_granted": Listener(socket.AF_INET, "127.0.0.1", kind=socket.SOCK_DGRAM),
        "udp_other": Listener(socket.AF_INET, "127.0.0.1", kind=socket.SOCK_DGRAM),
    }
    made["granted_127_0_0_3"] = Listener(socket.AF_INET, "127.0.0.3", made["granted"].port)
    yield made
    for server in made.values():
        server.close()


def _rules(servers: dict[str, Listener], *, network: bool) -> NetworkRules:
    granted = [f"127.0.0.1:{servers['granted'].port}", f"127.0.0.1:{servers['udp_granted'].port}"] if network else []
    rules = rules_for(database=("127.0.0.1", servers["db"].port), network=network, tcp_ports=[], destinations=granted)
    assert rules is not None
    return rules


@kernel
@pytest.mark.parametrize("network", [False, True], ids=["no-network", "destinations"])
def test_connects_reach_the_database_and_grants_only(
    servers: dict[str, Listener], network: bool, caplog: pytest.LogCaptureFixture
) -> None:
    db, granted = servers["db"].port, servers["granted"].port

    def body() -> dict[str, Any]:
        result = {
            "db": outcome(connect(socket.AF_INET, "127.0.0.1", db)),
            "db_127_0_0_2": outcome(connect(socket.AF_INET, "127.0.0.2", db)),
            "db_v6": outcome(connect(socket.AF_INET6, "::1", db)),
            "db_v4_mapped": outcome(connect(socket.AF_INET6, "::ffff:127.0.0.2", db)),
            "granted": outcome(connect(socket.AF_INET, "127.0.0.1", granted)),
            "granted_127_0_0_3": outcome(connect(socket.AF_INET, "127.0.0.3", granted)),
            "unix": outcome(lambda: socket.socket(socket.AF_UNIX).connect("\0solobot-test-absent")),
        }
        nonblocking = socket.socket()
        nonblocking.setblocking(False)
        result["nonblocking"] = outcome(lambda: nonblocking.connect(("127.0.0.1", db)))
        result["tcp_fastopen_connect"] = outcome(
            lambda: socket.socket().setsockopt(socket.IPPROTO_TCP, notify_filter.TCP_FASTOPEN_CONNECT, 1)
        )
        return result

    with caplog.at_level(logging.WARNING, "solobot.sandbox"), supervised(_rules(servers, network=network)) as (sup, fd):
        r = run_forked(in_child(fd, network, body))
    assert "crash" not in r, r["crash"]
    assert r["layer"].startswith("network by address: connect() checked by the host")
    assert r["db"] == "ok" and r["nonblocking"] == "EINPROGRESS"
    assert r["granted"] == ("ok" if network else "EACCES")
    for label in ("db_127_0_0_2", "db_v6", "db_v4_mapped", "granted_127_0_0_3", "unix"):
        assert r[label] == "EACCES", f"{label}: {r[label]}"
    assert r["tcp_fastopen_connect"] == "EPERM"
    assert servers["db_127_0_0_2"].arrived == servers["db_v6"].arrived == servers["granted_127_0_0_3"].arrived == 0
    messages = [rec.getMessage() for rec in caplog.records]
    for endpoint in (f"127.0.0.2:{db}", f"[::1]:{db}", f"127.0.0.3:{granted}"):
        line = f"[module probe] network: refused connect to {endpoint} (tcp)"
        assert any(m.startswith(line) for m in messages), (line, messages)
    assert sup.counters.refused >= 5 and sup.counters.allowed >= 2


@kernel
def test_udp_sends_go_only_to_grants_and_cannot_be_rewritten(servers: dict[str, Listener]) -> None:
    granted, other = servers["udp_granted"].port, servers["udp_other"].port

    def body() -> dict[str, Any]:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        result = {
            "sendto_granted": outcome(lambda: u.sendto(b"hi", ("127.0.0.1", granted))),
            "sendto_other": outcome(lambda: u.sendto(b"hi", ("127.0.0.1", other))),
            "sendmsg_other": outcome(lambda: u.sendmsg([b"hi"], [], 0, ("127.0.0.1", other))),
            "sendmsg_granted": outcome(lambda: u.sendmsg([b"h", b"i"], [], 0, ("127.0.0.1", granted))),
        }
        connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        result["connect_other"] = outcome(lambda: connected.connect(("127.0.0.1", other)))
        result["connect_granted"] = outcome(lambda: connected.connect(("127.0.0.1", granted)))
        result["send_connected"] = outcome(lambda: connected.send(b"hi"))
        result["sendto_override"] = outcome(lambda: connected.sendto(b"hi", ("127.0.0.1", other)))
        libc = ctypes.CDLL(None, use_errno=True)
        result["sendmmsg"] = "ENOSYS" if libc.sendmmsg(connected.fileno(), None, 0, 0) == -1 and ctypes.get_errno() == 38 else "?"
        result["fastopen_flag"] = outcome(lambda: u.sendto(b"hi", 0x20000000, ("127.0.0.1", granted)))
        result["race"] = _race_the_address(granted, other)
        return result

    with supervised(_rules(servers, network=True)) as (_sup, fd):
        r = run_forked(in_child(fd, True, body), timeout=60)
    assert "crash" not in r, r["crash"]
    assert r["sendto_granted"] == r["sendmsg_granted"] == r["connect_granted"] == r["send_connected"] == "ok", r
    assert r["sendto_other"] == r["sendmsg_other"] == r["connect_other"] == r["sendto_override"] == "EACCES", r
    assert r["sendmmsg"] == "ENOSYS" and r["fastopen_flag"] == "EPERM"
    assert r["race"]["sent"] > 0, r["race"]
    assert servers["udp_other"].arrived == 0, "a datagram reached an address that was never granted"


def _race_the_address(granted: int, other: int) -> dict[str, int]:
    """TOCTOU: a thread flips the sockaddr between a granted and a refused port while sendto runs.

    The supervisor sends with its own copy of what it checked: whatever the flipping thread
    does, a datagram reaches the granted port or nothing does.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    address = ctypes.create_string_buffer(
        struct.pack("=H", socket.AF_INET) + struct.pack("!H", granted) + bytes([127, 0, 0, 1]) + bytes(8), 16
    )
    ports = (struct.pack("!H", granted), struct.pack("!H", other))
    stop = threading.Event()

    def flip() -> None:
        i = 0
        while not stop.is_set():
            ctypes.memmove(ctypes.addressof(address) + 2, ports[i & 1], 2)
            i += 1

    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flipper = threading.Thread(target=flip)
    flipper.start()
    sent = refused = 0
    try:
        for _ in range(300):
            if libc.sendto(u.fileno(), b"x", 1, 0, address, 16) == 1:
                sent += 1
            else:
                refused += 1
    finally:
        stop.set()
        flipper.join()
    return {"sent": sent, "refused": refused}


@kernel
def test_a_blocked_connect_delays_only_its_own_module() -> None:
    """Each module's supervisor is a thread of its own, off the host's loop: one module's connect
    that blocks (a granted server whose accept queue is full) neither stops another module's
    connects nor the host's event loop."""
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(0)  # never accepted: once its queue is full, SYNs are dropped and connects wait
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(stuck.getsockname())
        fillers.append(filler)
    db = Listener(socket.AF_INET, "127.0.0.1")
    rules = rules_for(
        database=("127.0.0.1", db.port), network=True, tcp_ports=[], destinations=[f"127.0.0.1:{stuck.getsockname()[1]}"]
    )
    assert rules is not None
    events: list[str] = []
    order = threading.Lock()

    def note(what: str) -> None:
        with order:
            events.append(what)

    def blocked_module() -> dict[str, Any]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 3, 0))  # a blocking connect, bounded
            return {"connect": outcome(lambda: s.connect(stuck.getsockname()))}

    def other_module() -> dict[str, Any]:
        return {"connect": outcome(connect(socket.AF_INET, "127.0.0.1", db.port))}

    def run(name: str, body: Callable[[], dict[str, Any]], sup_fd: int) -> None:
        result = run_forked(in_child(sup_fd, True, body), timeout=30)
        note(f"{name}:{result.get('connect', result.get('crash'))}")

    async def loop_ticks() -> None:
        while not any(e.startswith("blocked:") for e in events):
            await asyncio.sleep(0.01)
            if "loop ticked" not in events and any(e.startswith("other:") for e in events):
                note("loop ticked")

    with supervised(rules, "blocked") as (_a, fd_a), supervised(rules, "other") as (_b, fd_b):
        blocked = threading.Thread(target=run, args=("blocked", blocked_module, fd_a))
        blocked.start()
        while db.arrived == 0 and blocked.is_alive() and _a.counters.allowed == 0:  # its connect reached the supervisor
            threading.Event().wait(0.01)
        run("other", other_module, fd_b)
        asyncio.run(loop_ticks())
        blocked.join()
    for s in (*fillers, stuck):
        s.close()
    db.close()
    assert events[0] == "other:ok", events  # served while the blocked module's connect still waited
    assert events[1] == "loop ticked" and events[2].startswith("blocked:"), events


def test_where_the_host_cannot_read_a_module_it_says_so_and_serves_nothing() -> None:
    """Yama's ptrace_scope 2 or 3 keeps an ordinary user from reading its modules: reported, not half-applied."""
    from sandbox.apply import SandboxSpec, _apply_network_by_address
    from sandbox.network.availability import unavailable_reason

    assert unavailable_reason(as_root=True, scope=3) is None
    assert unavailable_reason(as_root=False, scope=1) is None  # the host is its modules' parent
    reason = unavailable_reason(as_root=False, scope=2)
    assert reason is not None and reason.startswith("Yama ptrace_scope=2 lets only CAP_SYS_PTRACE")
    spec = SandboxSpec(module="m", data_dir="/d", tmp_dir="/t", network_by_address=True, network_refused=reason)
    handover, host_end = socket.socketpair()
    layer = _apply_network_by_address(spec, os.dup(handover.fileno()), landlock_abi=7)
    handover.close()
    assert layer == f"NOT network by address: {reason}"
    assert host_end.recv(1) == b""  # the hand-over socket was closed: the host's supervisor sees EOF
    spec = SandboxSpec(module="m", data_dir="/d", tmp_dir="/t", network_by_address=True, allow_network=True)
    assert _apply_network_by_address(spec, None, landlock_abi=7) is None  # any address: nothing to supervise


def test_a_module_looping_on_connect_is_paced() -> None:
    """The supervisor serves at most CHECKS_PER_SECOND of one module's syscalls (a burst first), then waits."""
    from sandbox.network.supervisor import Pacer

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(rate=100, burst=10, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        pacer.wait()
    assert slept == []  # the burst
    for _ in range(5):
        pacer.wait()
    assert len(slept) == 5 and all(abs(s - 0.01) < 1e-9 for s in slept)  # then one per 1/rate
    now[0] += 1.0  # a quiet second refills the burst, no more
    slept.clear()
    for _ in range(10):
        pacer.wait()
    assert slept == []
    pacer.wait()
    assert len(slept) == 1
