"""What network by address (issue 10 item 8) adds to a module's connect() and UDP send.

Run from the project root, as root:  PYTHONPATH=$PWD python benchmarks/bench_network_by_address.py

Two forked processes connect to the same loopback listener: one plain, one with the notify filter
whose listener a real :class:`NetworkSupervisor` thread of this process serves (the host's side:
``sandbox/network/``). Rounds alternate between the two (so machine noise hits both alike); each
round is BATCH blocking ``connect()`` + ``close()`` of a fresh TCP socket, and BATCH UDP
``sendto()`` to a granted address (a module with ``network = true`` and destinations).
Median and p90 per call in microseconds (per-call time = round time / BATCH).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import Any

from _common import machine_info, print_header, print_table, summarize, write_results

from sandbox.network import notify_filter
from sandbox.network.destinations import rules_for
from sandbox.network.supervisor import NetworkSupervisor
from sandbox.process_flags import set_no_new_privs

ROUNDS = 60
BATCH = 100


def serve(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        connection.close()


def worker(tcp_port: int, udp_port: int, commands: int, replies: int, handover: int | None) -> None:
    """In the forked process: (maybe) install the filter, then time one round per command byte."""
    set_no_new_privs()
    if handover is not None:
        notify_filter.install(handover, udp=True)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while (command := os.read(commands, 1)) != b"q":
        started = time.perf_counter()
        if command == b"t":
            for _ in range(BATCH):
                with socket.socket() as s:
                    s.connect(("127.0.0.1", tcp_port))
        else:
            for _ in range(BATCH):
                udp.sendto(b"x", ("127.0.0.1", udp_port))
        os.write(replies, struct.pack("=d", (time.perf_counter() - started) / BATCH))
    os._exit(0)


def start(tcp_port: int, udp_port: int, handover: int | None) -> tuple[int, int, int]:
    command_read, command_write = os.pipe()
    reply_read, reply_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            worker(tcp_port, udp_port, command_read, reply_write, handover)
        finally:
            os._exit(1)
    os.close(command_read)
    os.close(reply_write)
    return pid, command_write, reply_read


def main() -> None:
    info = machine_info()
    print_header("network by address: added cost per connect and per UDP send", info)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    tcp_port, udp_port = listener.getsockname()[1], sink.getsockname()[1]
    # The servers live in a process of their own, as the database does: in this one, their
    # threads would compete with the supervisor thread for the GIL.
    servers = os.fork()
    if servers == 0:
        threading.Thread(target=lambda: [sink.recv(64) for _ in iter(int, 1)], daemon=True).start()
        serve(listener)
        os._exit(0)
    listener.close()
    sink.close()

    rules = rules_for(
        database=("127.0.0.1", tcp_port), network=True, tcp_ports=[], destinations=[f"127.0.0.1:{udp_port}"], resolvers=[]
    )
    assert rules is not None
    host_end, child_end = socket.socketpair()
    supervisor = NetworkSupervisor("bench", rules, host_end)
    supervisor.start()
    plain = start(tcp_port, udp_port, None)
    supervised = start(tcp_port, udp_port, child_end.fileno())
    child_end.close()

    samples: dict[str, dict[str, list[float]]] = {kind: {"plain": [], "supervised": []} for kind in ("connect", "udp sendto")}
    for _ in range(ROUNDS):
        for kind, command in (("connect", b"t"), ("udp sendto", b"u")):
            for label, (_pid, commands, replies) in (("plain", plain), ("supervised", supervised)):
                os.write(commands, command)
                samples[kind][label].append(struct.unpack("=d", os.read(replies, 8))[0])
    for pid, commands, _replies in (plain, supervised):
        os.write(commands, b"q")
        os.waitpid(pid, 0)
    supervisor.join(5)
    os.kill(servers, 9)
    os.waitpid(servers, 0)

    rows: list[list[Any]] = []
    results: dict[str, Any] = {"machine": info, "rounds": ROUNDS, "batch": BATCH, "cases": {}}
    for kind, measured in samples.items():
        before, after = summarize(measured["plain"], 1e6), summarize(measured["supervised"], 1e6)
        added = after["p50"] - before["p50"]
        rows.append([kind, before["p50"], after["p50"], after["p90"], added, f"{after['p50'] / before['p50']:.2f}"])
        results["cases"][kind] = {"plain_us": before, "supervised_us": after, "added_p50_us": added}
    results["supervisor_seconds_in_checks_per_call_us"] = (
        supervisor.counters.seconds_in_checks / max(1, supervisor.counters.allowed) * 1e6
    )
    print_table(["per call", "plain p50 µs", "supervised p50 µs", "supervised p90 µs", "added p50 µs", "ratio"], rows)
    print(f"   supervisor's own time per checked call: {results['supervisor_seconds_in_checks_per_call_us']:.1f} µs")
    write_results("bench_network_by_address", results)


if __name__ == "__main__":
    main()
