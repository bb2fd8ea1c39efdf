"""Where a sandboxed module may send: the database server and the operator's granted destinations.

A destination is written ``host:port`` in ``modules.toml`` (``destinations = [...]``):

- ``"10.0.0.5:8080"``, ``"[2001:db8::1]:443"`` — one address;
- ``"10.0.0.0/24:8080"``, ``"[2001:db8::/64]:443"`` — a network (CIDR);
- ``"api.example.com:443"`` — a host name, resolved by the host when the module starts (and again
  when a connect to the name's port is refused and the last answer is older than
  ``RERESOLVE_SECONDS``: addresses of CDN names change).

The port is always required: a grant names a service, not a machine. ``tcp_ports`` (older
grants) still mean "any address on these ports"; ``network = true`` with neither key means any
address and port (no supervision at all). A rule holds for TCP and UDP alike.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

RERESOLVE_SECONDS = 30.0
DNS_PORT = 53
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$"
)

Resolver = Callable[[str, int], list[IPAddress]]


class DestinationError(ValueError):
    """A destination string that is not ``host:port`` / ``CIDR:port``; ``str()`` says what to write."""


@dataclass(frozen=True)
class Destination:
    """One grant: a network (a single address is a /32 or /128) or a host name, and a port."""

    port: int
    network: IPNetwork | None = None
    host_name: str | None = None

    def __str__(self) -> str:
        where = self.host_name if self.network is None else str(self.network)
        if self.network is not None and self.network.num_addresses == 1:
            where = str(self.network.network_address)
        if self.network is not None and self.network.version == 6:
            where = f"[{where}]"
        return f"{where}:{self.port}"


def parse_destination(text: str) -> Destination:
    """``"10.0.0.0/8:5432"``, ``"[::1]:80"``, ``"api.example.com:443"`` → :class:`Destination`."""
    example = 'such as "api.example.com:443", "10.0.0.0/24:8080" or "[2001:db8::1]:443"'
    if not isinstance(text, str) or ":" not in text:
        raise DestinationError(f"holds destinations {example}, got {text!r} (the port is required)")
    if text.startswith("["):
        where, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise DestinationError(f"an IPv6 destination is written [address]:port, got {text!r}")
        port_text = rest[1:]
    else:
        where, _, port_text = text.rpartition(":")
        if ":" in where:
            raise DestinationError(f"an IPv6 destination is written in brackets, e.g. [{where}]:{port_text}, got {text!r}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise DestinationError(f"the port of {text!r} must be a number 1-65535")
    port = int(port_text)
    try:
        network = ipaddress.ip_network(where, strict=True)
    except ValueError as exc:
        if "/" in where or text.startswith("[") or where.replace(".", "").isdigit():
            raise DestinationError(f"{text!r}: {exc}") from None
        if not _HOST_NAME.match(where):
            raise DestinationError(f"holds destinations {example}, got {text!r}") from None
        return Destination(port, host_name=where.rstrip(".").lower())
    return Destination(port, network=network)


def resolve_host(name: str, port: int) -> list[IPAddress]:
    """Every address ``name`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(name, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}, key=lambda a: (a.version, int(a)))


def system_resolvers(path: str = "/etc/resolv.conf") -> list[IPAddress]:
    """The name servers glibc's resolver asks (a module resolving a granted host name needs them)."""
    found: list[IPAddress] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        found.append(ipaddress.ip_address(parts[1].split("%")[0]))
                    except ValueError:
                        continue
    except OSError:
        return []
    return found


def canonical(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.2``) is the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass
class NetworkRules:
    """What one module may reach; :meth:`allows` is asked by the host's supervisor on every connect.

    ``database``: the database server's addresses and port (every sandboxed module has it).
    ``any_address_ports``: ports open to any address (``tcp_ports``).
    ``destinations``: granted destinations (host names resolved lazily, see the module doc).
    ``resolvers``: name servers, port 53, when the module may resolve names at all (``network = true``).
    """

    database: list[tuple[IPAddress, int]] = field(default_factory=list)
    any_address_ports: frozenset[int] = frozenset()
    destinations: tuple[Destination, ...] = ()
    resolvers: tuple[IPAddress, ...] = ()
    resolver: Resolver = resolve_host
    _resolved: dict[tuple[str, int], tuple[float, list[IPAddress]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allows(self, address: IPAddress, port: int) -> bool:
        address = canonical(address)
        if port in self.any_address_ports:
            return True
        if (address, port) in self.database:
            return True
        if port == DNS_PORT and address in self.resolvers:
            return True
        for destination in self.destinations:
            if destination.port != port:
                continue
            if destination.network is not None:
                if address.version == destination.network.version and address in destination.network:
                    return True
            elif address in self._addresses_of(destination, fresh=False):
                return True
        # A name's addresses may have changed since they were looked up: look once more.
        return any(
            destination.host_name is not None
            and destination.port == port
            and address in self._addresses_of(destination, fresh=True)
            for destination in self.destinations
        )

    def _addresses_of(self, destination: Destination, *, fresh: bool) -> list[IPAddress]:
        assert destination.host_name is not None
        key = (destination.host_name, destination.port)
        with self._lock:
            cached = self._resolved.get(key)
        now = time.monotonic()
        if cached is not None and (not fresh or now - cached[0] < RERESOLVE_SECONDS):
            return cached[1]
        addresses = [canonical(a) for a in self.resolver(*key)]
        with self._lock:
            self._resolved[key] = (now, addresses)
        return addresses

    def describe(self) -> str:
        """One line for the module's layers and status: what it may reach."""
        parts = [f"database {_endpoint(a, p)}" for a, p in self.database]
        if self.any_address_ports:
            parts.append("any address on port " + ",".join(str(p) for p in sorted(self.any_address_ports)))
        parts.extend(str(d) for d in self.destinations)
        if self.resolvers:
            parts.append("DNS " + ",".join(_endpoint(a, DNS_PORT) for a in self.resolvers))
        return "; ".join(parts) or "nothing"


def _endpoint(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def database_endpoints(host: str, port: int, resolver: Resolver = resolve_host) -> list[tuple[IPAddress, int]]:
    """The database server as addresses: a literal address, or every address its name resolves to."""
    try:
        return [(canonical(ipaddress.ip_address(host)), port)]
    except ValueError:
        return [(address, port) for address in resolver(host, port)]


def rules_for(
    *,
    database: tuple[str, int] | None,
    network: bool,
    tcp_ports: Iterable[int],
    destinations: Iterable[str],
    resolver: Resolver = resolve_host,
    resolvers: Iterable[IPAddress] | None = None,
) -> NetworkRules | None:
    """The rules of one module, or ``None`` when it may reach any address and port (``network = true`` alone)."""
    granted = tuple(parse_destination(d) for d in destinations)
    ports = frozenset(tcp_ports)
    if network and not ports and not granted:
        return None
    return NetworkRules(
        database=database_endpoints(*database, resolver=resolver) if database else [],
        any_address_ports=ports,
        destinations=granted,
        resolvers=tuple(system_resolvers() if resolvers is None else resolvers) if network else (),
        resolver=resolver,
    )
