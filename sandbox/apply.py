"""Apply a module's sandbox inside its freshly forked process, before any module code is imported.

The host builds a ``SandboxSpec`` and sends it, as a plain dict (``to_wire``), in the zygote's
fork request; the module process calls ``apply_sandbox(SandboxSpec.from_wire(...))`` first thing.

Order, and why:
0. its cgroup (``sandbox/containment``), first of all: whatever it starts from then on is in it;
1. private folders, as root: ``chown`` needs root, and it must happen before the drop; then,
   still as root, a private mount view when a folder above the code is private (``/root``
   0700: ``sandbox/private_ancestors.py``);
2. rlimits: before the drop so NPROC is already in force when the uid changes (the kernel then
   flags a uid that is over its limit), and before anything else allocates;
3. drop to the module's uid/gid: the last step that needs root;
4. no_new_privs: required by Landlock from an unprivileged process; from here on no exec can
   raise privileges (setuid bits, file capabilities);
5. Landlock: needs no privilege, and restricting after the drop keeps the kernel's view simple
   (no ruleset ever sees a root process);
6. seccomp: after no_new_privs, which an unprivileged filter requires, and after Landlock (its
   syscalls stay allowed anyway); refuses what Landlock and a shared uid leave open: other
   processes' limits, priority and CPUs, file attributes (chmod, utime, xattrs), mounts,
   namespaces… and, for a module without network (``allow_network`` False), every IP socket
   but TCP: Landlock only governs TCP, UDP would reach any address (``sandbox/seccomp.py``);
7. network by address: a second seccomp filter that hands every connect (and, with UDP, every
   send to an address) to the host's supervisor; its listener goes to the host over
   ``network_handover`` (``sandbox/network/``);
8. dumpable=0 last: every change of effective uid (step 3) resets it to ``fs.suid_dumpable``.
   A module sharing the bot's uid whose network the host supervises stays dumpable: the host
   reads its connect addresses (seccomp and Landlock keep the uid's other processes out).

Every layer in force is reported as one short string, every layer that could not be applied as
a string starting with "NOT ". A layer that *should* work but fails raises ``SandboxError``: the
module does not start half-sandboxed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import landlock, seccomp
from .identity import drop_privileges, prepare_private_dirs
from .import_roots import prelist
from .limits import apply_rlimits, count_tasks_of_uid
from .private_ancestors import expose_needed_paths
from .process_flags import set_dumpable, set_no_new_privs

TRUST_LEVELS = ("sandboxed", "trusted")

# System files a Python process with aiogram/asyncpg/aiohttp reads at run time: shared libraries
# (ctypes, NSS, OpenSSL), CA certificates, time zones, name resolution, random devices.
SYSTEM_READ_ONLY = (
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/local/lib",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/etc/localtime",
    "/etc/timezone",
    "/usr/share/zoneinfo",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/dev/urandom",
    "/dev/random",
)
# Project folders that are never a module's business (secrets live in storage/ and .env).
PROJECT_EXCLUDED = frozenset({"modules", "tests", "storage", "benchmarks"})


class SandboxError(RuntimeError):
    def __init__(self, message: str, applied: list[str]) -> None:
        super().__init__(f"{message} (applied so far: {', '.join(applied) or 'nothing'})")
        self.applied = applied


@dataclass
class SandboxSpec:
    module: str
    trust: str = "sandboxed"
    uid: int | None = None  # None when the bot is not root, or the module is trusted
    gid: int | None = None
    data_dir: str = ""
    tmp_dir: str = ""
    memory_mb: int = 256  # on top of what the process inherits from the zygote
    max_processes: int = 64
    max_open_files: int = 256
    max_file_size_mb: int = 64
    read_only: list[str] = field(default_factory=list)
    read_execute: list[str] = field(default_factory=list)
    read_write: list[str] = field(default_factory=list)
    list_only: list[str] = field(default_factory=list)
    # Folders listed once for the import system before Landlock, never granted (import_roots.py).
    prelisted: list[str] = field(default_factory=list)
    tcp_connect_ports: list[int] = field(default_factory=list)
    allow_network: bool = False  # any outgoing TCP (still no listening)
    # The operator granted network at all (also with a port list): UDP stays possible, for DNS.
    udp: bool = False
    # The host checks every connect (and UDP send) by address (sandbox/network/): the process
    # installs the notify filter and hands its listener over the socket the zygote passes in.
    network_by_address: bool = False
    network_refused: str = ""  # why the host cannot supervise it on this machine (sandbox/network/availability.py)
    # The module's cgroup (``sandbox/containment``): the cgroup.procs files it joins first thing,
    # and the lines that describe its containment (the cgroup, or what stands in for a missing one).
    cgroup_procs: list[str] = field(default_factory=list)
    containment: list[str] = field(default_factory=list)
    deny_memfd: bool = False  # the host cannot count memfds (no memory cgroup, /proc/<pid>/fd unreadable)

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SandboxSpec:
        """Strict: unknown keys and wrong types are errors, not silently ignored policy."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"sandbox spec: unknown keys {sorted(unknown)}")
        spec = cls(**dict(data))
        spec.validate()
        return spec

    def validate(self) -> None:
        if not isinstance(self.module, str) or not self.module.isidentifier():
            raise ValueError(f"sandbox spec: bad module name {self.module!r}")
        if self.trust not in TRUST_LEVELS:
            raise ValueError(f"sandbox spec: trust must be one of {TRUST_LEVELS}, not {self.trust!r}")
        for name in ("uid", "gid"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value <= 0):
                raise ValueError(f"sandbox spec: {name} must be a positive int or None")
        if (self.uid is None) != (self.gid is None):
            raise ValueError("sandbox spec: uid and gid go together")
        for name in ("memory_mb", "max_processes", "max_open_files", "max_file_size_mb"):
            if type(getattr(self, name)) is not int or getattr(self, name) <= 0:
                raise ValueError(f"sandbox spec: {name} must be a positive int")
        for name in ("read_only", "read_execute", "read_write", "list_only", "prelisted"):
            if not all(isinstance(p, str) and p.startswith("/") for p in getattr(self, name)):
                raise ValueError(f"sandbox spec: {name} must be absolute paths")
        if not all(type(v) is bool for v in (self.allow_network, self.udp, self.network_by_address)):
            raise ValueError("sandbox spec: allow_network, udp and network_by_address must be bools")
        if not isinstance(self.network_refused, str):
            raise ValueError("sandbox spec: network_refused must be a string")
        if not all(isinstance(p, str) and p.startswith("/") and p.endswith("/cgroup.procs") for p in self.cgroup_procs):
            raise ValueError("sandbox spec: cgroup_procs must be absolute paths of cgroup.procs files")
        if not all(isinstance(line, str) for line in self.containment) or type(self.deny_memfd) is not bool:
            raise ValueError("sandbox spec: containment must be strings and deny_memfd a bool")
        if not all(type(p) is int and 0 < p < 65536 for p in self.tcp_connect_ports):
            raise ValueError("sandbox spec: tcp_connect_ports must be ports")
        if self.trust == "sandboxed" and not (self.data_dir.startswith("/") and self.tmp_dir.startswith("/")):
            raise ValueError("sandbox spec: data_dir and tmp_dir must be absolute paths")


def needed_paths(spec: SandboxSpec) -> list[str]:
    """Every path the module process must be able to reach (what its Landlock rules name)."""
    return [*spec.read_only, *spec.read_execute, *spec.read_write, *spec.list_only, *spec.prelisted]


def default_read_only_paths(project_root: Path, module_dir: Path) -> list[Path]:
    """Interpreter, libraries, the project's core packages (not its data or secrets), the module's own folder."""
    project_root = Path(project_root).resolve()
    paths: list[Path] = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        paths.append(Path(prefix))
    for entry in sys.path:
        # Extra import roots (PYTHONPATH, user site…), but never the project root or a folder
        # above it: that would grant the project's .env and storage/. Missing ones (pythonXY.zip)
        # are left out here so that the "skipped" report only names surprises.
        if entry and os.path.isabs(entry) and os.path.exists(entry):
            resolved = Path(entry).resolve()
            if resolved != project_root and resolved not in project_root.parents and project_root not in resolved.parents:
                paths.append(resolved)
    for child in sorted(project_root.iterdir()):
        if child.name.startswith(".") or child.name in PROJECT_EXCLUDED:
            continue
        if child.is_dir() and ((child / "__init__.py").exists() or child.name in ("__pycache__", "img")):
            paths.append(child)
        elif child.is_file() and child.suffix == ".py":
            paths.append(child)
    paths.extend(Path(p) for p in SYSTEM_READ_ONLY if os.path.exists(p))  # /lib64, /etc/pki… vary by distribution
    paths.append(Path(module_dir))
    return _unique(paths)


def default_list_only_paths(modules_dir: Path) -> list[Path]:
    """The import system lists the modules folder to find ``modules.<name>`` (names only, beneath too).

    Not the project folder: listing it would be granted beneath it too — ``storage/`` with every
    module's private folder. Its entries are listed once before Landlock instead (``prelisted``).
    """
    return [Path(modules_dir)]


def default_read_write_paths(data_dir: Path, tmp_dir: Path) -> list[Path]:
    return [Path(data_dir), Path(tmp_dir), Path("/dev/null")]


def apply_sandbox(spec: SandboxSpec, network_handover: int | None = None) -> list[str]:
    """Apply every layer ``spec`` asks for to this process; return what is in force, one string each.

    ``network_handover``: the socket the seccomp listener goes to when ``spec.network_by_address``.
    """
    spec.validate()
    applied: list[str] = []
    applied.extend(join_cgroup(spec.cgroup_procs, spec.containment))
    limits = (spec.memory_mb, spec.max_processes, spec.max_open_files, spec.max_file_size_mb)
    if spec.trust == "trusted":
        applied.append(apply_rlimits(*limits, processes_in_use=count_tasks_of_uid(os.getuid())))
        applied.append("trusted: no isolation")
        return applied

    is_root = os.geteuid() == 0
    if is_root and spec.uid is None:
        raise SandboxError("running as root but the spec has no module uid: refusing to run a sandboxed module as root", applied)
    if not is_root and spec.uid is not None:
        raise SandboxError(f"spec asks for uid {spec.uid} but this process is not root", applied)
    data_dir, tmp_dir = Path(spec.data_dir), Path(spec.tmp_dir)

    try:
        prepare_private_dirs(data_dir, tmp_dir, spec.uid, spec.gid)
        os.umask(0o077)  # whatever the module creates is its own
        os.environ["HOME"] = str(data_dir)
        os.environ["TMPDIR"] = str(tmp_dir)
        tempfile.tempdir = str(tmp_dir)  # tempfile caches its choice; the zygote may have made it already
        applied.append(f"private dirs {data_dir} {tmp_dir} (0700)")

        if spec.uid is not None and spec.gid is not None:
            # Still root: a private home above the code (/root 0700) gets a mount view of its own.
            view = expose_needed_paths(needed_paths(spec), spec.uid, spec.gid)
            if view is not None:
                applied.append(view)

        shared_uid = spec.uid is None
        in_use = count_tasks_of_uid(os.getuid()) if shared_uid else 0
        applied.append(apply_rlimits(*limits, processes_in_use=in_use))

        if spec.uid is not None and spec.gid is not None:
            drop_privileges(spec.uid, spec.gid)
            applied.append(f"uid {spec.uid} gid {spec.gid}")
        else:
            applied.append(
                f"NOT own uid: the bot is not root, the module shares uid {os.getuid()} with the host "
                "(Landlock, seccomp and, unless the host supervises its network, dumpable=0 separate them)"
            )

        set_no_new_privs()
        applied.append("no_new_privs")

        prelist(spec.prelisted)  # before Landlock: the only moment the project folder may be listed
        applied.extend(_apply_landlock(spec))

        applied.append(seccomp.install(deny_udp=not (spec.allow_network or spec.udp), deny_memfd=spec.deny_memfd))

        supervised = _apply_network_by_address(spec, network_handover, landlock_abi=landlock.landlock_abi())
        if supervised is not None:
            applied.append(supervised)

        if supervised is None or supervised.startswith("NOT ") or spec.uid is not None:
            set_dumpable(False)
            applied.append("dumpable=0")
        else:
            # Sharing the host's uid, the host can read its connect() addresses only while it is
            # dumpable; other processes of that uid are kept out by seccomp (ptrace, process_vm_*,
            # pidfd_getfd, kcmp…) and Landlock (/proc is not granted).
            applied.append("dumpable=1 (for the host's network supervisor; seccomp and Landlock keep others out)")
        applied.append(_hidden_files_layer(spec, dumpable=applied[-1] != "dumpable=0"))
    except SandboxError:
        raise
    except Exception as exc:
        raise SandboxError(f"{type(exc).__name__}: {exc}", applied) from exc
    return applied


def _apply_network_by_address(spec: SandboxSpec, handover: int | None, *, landlock_abi: int) -> str | None:
    """Hand connect() to the host's supervisor (``sandbox/network/``), or say why it cannot be.

    ``None``: the spec does not ask for it (a module granted any address, or a caller of its own).
    """
    if not spec.network_by_address or spec.allow_network:
        if handover is not None:
            os.close(handover)
        return None
    if spec.network_refused:
        why = spec.network_refused
    elif handover is None:
        why = "no hand-over socket from the host (any address on its ports)"
    elif not seccomp.supported():
        why = "needs seccomp on x86_64 (any address on its ports)"
    elif spec.uid is None and landlock_abi == 0:  # dumpable=0 is then all that keeps its uid out of /proc
        why = "needs Landlock when the bot is not root (any address on its ports)"
    else:
        from .network import notify_filter

        return notify_filter.install(handover, udp=spec.udp)
    if handover is not None:
        os.close(handover)  # the host's supervisor sees EOF: nothing to serve
    return f"NOT network by address: {why}"


def _hidden_files_layer(spec: SandboxSpec, *, dumpable: bool) -> str:
    """Whether the host's watchdog can see what no folder walk does (``sandbox/containment/hidden_files.py``).

    It reads the module's ``/proc/<pid>/fd``: as root always; sharing the bot's uid only while the
    module stays dumpable.
    """
    memfds = "; memfds refused" if spec.deny_memfd else ""
    if spec.uid is not None:
        return f"hidden files: memfds, /dev/shm and unlinked-but-open files counted by the watchdog{memfds}"
    if dumpable:
        return f"hidden files: unlinked-but-open files counted by the watchdog{memfds}"
    return (
        "NOT unlinked-file accounting: the bot is not root and the module is not dumpable, so its /proc/<pid>/fd "
        f"is closed to the bot: unlinked-but-open files escape disk_mb (run the bot as root){memfds}"
    )


def join_cgroup(procs_files: list[str], containment: list[str]) -> list[str]:
    """Move this process into its cgroup (every hierarchy) before anything else: all it starts stays there.

    Still root (or the delegated cgroup's owner): the uid drop comes later. A cgroup the host made
    but the process cannot join is an error; the module must not run uncontained.
    """
    for procs in procs_files:
        try:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # 0: the writing process itself
            finally:
                os.close(fd)
        except OSError as exc:
            raise SandboxError(f"cannot join its cgroup ({procs}): {exc.strerror}", []) from exc
    return list(containment)


def _apply_landlock(spec: SandboxSpec) -> list[str]:
    abi = landlock.landlock_abi()
    if abi == 0:
        return [
            "NOT landlock: the kernel has no Landlock (ABI 0): the module can read and write whatever its uid can, "
            "and connect anywhere"
        ]
    description = landlock.restrict_self(
        read_only=[Path(p) for p in spec.read_only],
        read_execute=[Path(p) for p in spec.read_execute],
        read_write=[Path(p) for p in spec.read_write],
        tcp_connect_ports=spec.tcp_connect_ports,
        list_only=[Path(p) for p in spec.list_only],
        tcp_connect_any=spec.allow_network,
    )
    result = [description]
    if abi < 4:
        result.append(f"NOT tcp rules: Landlock ABI {abi} < 4, the module may connect to and listen on any port")
    if abi < 6:
        result.append(
            f"NOT signal/abstract-unix scoping: Landlock ABI {abi} < 6"
            + (", and the module shares the host's uid: it can signal the host" if spec.uid is None else "")
        )
    return result


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))  # first occurrence of each, in order
