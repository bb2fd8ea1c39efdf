"""The kernel-facing sandbox, tested on real forked processes: no mocks.

Each test forks a child that applies a ``SandboxSpec`` the way a module process does and then
tries things; the child reports what happened through a pipe as JSON. Outcomes are errno names
("EACCES", "EPERM", …) or "ok". As root, the child gets its own uid (the production path when
the bot runs as root); ``test_nonroot_bot`` first drops the child to an ordinary uid that also
owns the files, so whatever is refused there is refused by Landlock alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest

from sandbox.apply import (
    SandboxError,
    SandboxSpec,
    apply_sandbox,
    default_list_only_paths,
    default_read_only_paths,
    default_read_write_paths,
)
from sandbox.identity import ModuleIdentities, drop_privileges
from sandbox.landlock import landlock_abi
from sandbox.private_ancestors import fix_for, probe_mount_views
from sandbox.process_flags import set_dumpable
from tests.installs import PROJECT, become_user

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="Linux only"),
    pytest.mark.skipif(os.geteuid() != 0, reason="forks children that switch uids: needs root"),
]
needs_landlock = pytest.mark.skipif(landlock_abi() < 6, reason="needs Landlock ABI >= 6 (TCP rules and scopes)")

MB = 1024 * 1024


# --- running code in a forked child ------------------------------------------------------------


def run_forked(fn: Callable[[], dict[str, Any]], timeout: float = 20.0) -> dict[str, Any]:
    """Run ``fn`` in a forked child; return the dict it returned (or its traceback as ``crash``)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        try:
            result = fn()
        except BaseException:
            result = {"crash": traceback.format_exc()}
        try:
            with os.fdopen(write_end, "w") as out:
                json.dump(result, out, default=str)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    try:
        with os.fdopen(read_end, "rb") as pipe:
            while True:
                ready, _, _ = select.select([pipe], [], [], timeout)
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    pytest.fail(f"sandboxed child did not finish within {timeout} s")
                chunk = os.read(pipe.fileno(), 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b"{}")
    assert "crash" not in result, result["crash"]
    return result


def attempt(action: Callable[[], object]) -> str:
    """'ok', or the errno name (or exception type) of the failure."""
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    except Exception as exc:
        return type(exc).__name__
    return "ok"


def read(path: Path) -> Callable[[], bytes]:
    return lambda: Path(path).read_bytes()


def write(path: Path) -> Callable[[], int]:
    return lambda: Path(path).write_bytes(b"x")


# --- a small world: a project, two modules, their storage --------------------------------------


@dataclass
class World:
    base: Path
    project: Path
    storage: Path
    root_only: Path
    uids: ModuleIdentities

    def data_dir(self, module: str) -> Path:
        return self.storage / "modules" / module

    def tmp_dir(self, module: str) -> Path:
        return self.storage / "tmp" / module

    def spec(self, module: str, *, uid: int | None, ports: Sequence[int] = (), **overrides: Any) -> SandboxSpec:
        data, tmp = self.data_dir(module), self.tmp_dir(module)
        values = {
            "module": module,
            "uid": uid,
            "gid": uid,
            "data_dir": str(data),
            "tmp_dir": str(tmp),
            "memory_mb": 128,
            "max_processes": 16,
            "max_open_files": 256,
            "max_file_size_mb": 64,
            "read_only": [str(p) for p in default_read_only_paths(self.project, self.project / "modules" / module)],
            "read_write": [str(p) for p in default_read_write_paths(data, tmp)],
            "list_only": [str(p) for p in default_list_only_paths(self.project / "modules")],
            "prelisted": [str(self.project)],
            "tcp_connect_ports": list(ports),
        }
        values.update(overrides)
        # Exactly what the host does: build, send as msgpack through the zygote, rebuild.
        return SandboxSpec.from_wire(msgpack.unpackb(msgpack.packb(SandboxSpec(**values).to_wire())))

    def spec_as_this_user(self, module: str, **overrides: Any) -> SandboxSpec:
        """The spec a bot that is not root builds, called in a process already running as its user.

        The host lists what it can reach (its sys.path among it): this test's own checkout may sit
        in a private folder (CI clones into one, as operators clone into ``/root``) that a bot
        running as another user could not even have on its path.
        """
        assert os.geteuid() != 0, "call this after dropping to the bot's user"
        return self.spec(module, uid=None, **overrides)


@pytest.fixture
def world() -> Iterator[World]:
    # Not pytest's tmp_path: its parents are 0700 root, so a module uid could not even reach its
    # own folders and every test would pass for the wrong reason.
    base = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    os.chmod(base, 0o755)
    project = base / "project"
    (project / "corepkg").mkdir(parents=True)
    (project / "corepkg" / "__init__.py").write_text("VALUE = 42\n")
    (project / "core.py").write_text("CORE = True\n")
    (project / ".env").write_text("BOT_TOKEN=123:secret\n")
    os.chmod(project / ".env", 0o600)
    for name in ("alpha", "beta"):
        (project / "modules" / name).mkdir(parents=True)
        (project / "modules" / name / "__init__.py").write_text(f"NAME = {name!r}\n")
    root_only = base / "root-only.txt"
    root_only.write_text("root secret\n")
    os.chmod(root_only, 0o600)
    # A private range per test run: never the production range, never another run's ids.
    first = 3_000_000 + (os.getpid() % 4096) * 64
    uids = ModuleIdentities(base / "state" / "module-ids.json", first_id=first, count=64)
    try:
        yield World(base, project, base / "storage", root_only, uids)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def tcp_listener() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _layers_ok(layers: list[str]) -> None:
    assert not [layer for layer in layers if layer.startswith("NOT ")], layers


# What each line of ``apply_sandbox``'s report starts with, by layer.
LAYER_PREFIXES = {
    "dirs": "private dirs ",
    "view": "private mount view: ",
    "rlimits": "rlimits ",
    "uid": "uid ",
    "shared uid": "NOT own uid: ",
    "no_new_privs": "no_new_privs",
    "landlock": "landlock abi ",
    "seccomp": "seccomp (",
    "dumpable": "dumpable=0",
    "hidden": "hidden files: ",  # what the watchdog counts beyond folder walks (sandbox/containment)
    "no hidden": "NOT unlinked-file accounting: ",
}


def layer_kinds(layers: list[str]) -> list[str]:
    """The report as a list of layer names, in order (a line no layer claims stays as it is)."""
    return [next((kind for kind, prefix in LAYER_PREFIXES.items() if line.startswith(prefix)), line) for line in layers]


def layer(layers: list[str], kind: str) -> str:
    """The one line of the report for layer ``kind``."""
    lines = [line for line, name in zip(layers, layer_kinds(layers), strict=True) if name == kind]
    assert len(lines) == 1, f"expected one {kind!r} layer in {layers}"
    return lines[0]


def hidden_by_view(layers: list[str]) -> set[Path]:
    """The private folders the mount-view layer reports hidden (none without that layer)."""
    view = [line for line in layers if line.startswith(LAYER_PREFIXES["view"])]
    if not view:
        return set()
    covered = view[0].removeprefix(LAYER_PREFIXES["view"]).removesuffix(", needed paths bound at the same place")
    return {Path(part.removesuffix(" (0700) hidden")) for part in covered.split(", ")}


def private_folders_above_the_code() -> set[Path]:
    """The highest folder above this checkout and above the interpreter that other users cannot traverse.

    A root module's own uid must still import the code the test runs from (its sys.path), so a
    private folder there (CI clones into one, as operators clone into ``/root``) gets a private
    mount view in every root module's sandbox; elsewhere there is none.
    """
    found = set()
    for code in (PROJECT, Path(sys.prefix), Path(sys.base_prefix)):
        private = [folder for folder in reversed(code.resolve().parents) if not folder.stat().st_mode & stat.S_IXOTH]
        found.update(private[:1])
    return found


# --- root: a per-module uid plus everything else -----------------------------------------------


@needs_landlock
def test_root_module_filesystem_and_python_still_work(world: World) -> None:
    uid = world.uids.allocate("alpha")
    beta_uid = world.uids.allocate("beta")
    world.data_dir("beta").mkdir(parents=True)
    (world.data_dir("beta") / "beta.db").write_text("beta's data")
    os.chown(world.data_dir("beta"), beta_uid, beta_uid)
    spec = world.spec("alpha", uid=uid, read_only=[*world.spec("alpha", uid=uid).read_only, str(world.base / "missing")])

    def child() -> dict[str, Any]:
        layers = apply_sandbox(spec)
        sys.path.insert(0, str(world.project))
        import asyncio
        import fractions  # not imported by pytest: read from the interpreter's folder now
        import zoneinfo

        async def loop_works() -> int:
            return sum(await asyncio.gather(*(asyncio.to_thread(len, "abc") for _ in range(4))))

        fd, temp_name = tempfile.mkstemp()
        os.close(fd)
        return {
            "layers": layers,
            "ids": [os.getresuid(), os.getresgid(), os.getgroups()],
            "regain_root": attempt(lambda: os.setuid(0)),
            "root_only": attempt(read(world.root_only)),
            "env_file": attempt(read(world.project / ".env")),
            "core_read": attempt(read(world.project / "corepkg" / "__init__.py")),
            "core_import": attempt(lambda: __import__("corepkg")),
            "own_module_import": attempt(lambda: __import__("modules.alpha")),
            "other_module_import": attempt(lambda: __import__("modules.beta")),
            "project_write": attempt(write(world.project / "dropped.py")),
            "core_overwrite": attempt(write(world.project / "core.py")),
            "other_data_read": attempt(read(world.data_dir("beta") / "beta.db")),
            "other_data_write": attempt(write(world.data_dir("beta") / "x")),
            "own_data_write": attempt(write(world.data_dir("alpha") / "state.json")),
            "own_tmp_write": attempt(write(world.tmp_dir("alpha") / "scratch")),
            "mkstemp_in": os.path.dirname(temp_name),
            "system_file_write": attempt(write(Path("/etc/sandbox-test"))),
            "stdlib": [str(fractions.Fraction(1, 3)), str(zoneinfo.ZoneInfo("Europe/Moscow"))],
            "asyncio": asyncio.run(loop_works()),
            "env": [os.environ["HOME"], os.environ["TMPDIR"]],
        }

    r = run_forked(child)
    layers = r["layers"]
    _layers_ok(layers)
    # The order is part of the contract: dirs, (a mount view), rlimits, uid, no_new_privs, Landlock, seccomp, dumpable.
    private = private_folders_above_the_code()
    view = ["view"] if private else []
    assert layer_kinds(layers) == ["dirs", *view, "rlimits", "uid", "no_new_privs", "landlock", "seccomp", "dumpable", "hidden"]
    assert hidden_by_view(layers) == private
    assert layer(layers, "uid") == f"uid {uid} gid {uid}" and layer(layers, "dumpable") == "dumpable=0"
    rlimits = layer(layers, "rlimits")
    assert rlimits.startswith("rlimits data=") and "nproc=16 nofile=256 fsize=64M core=0" in rlimits
    assert "scopes signals+abstract-unix" in layer(layers, "landlock")
    assert str(world.base / "missing") in layer(layers, "landlock")  # a missing path is named, not silently dropped
    assert r["ids"] == [[uid] * 3, [uid] * 3, []]
    assert r["regain_root"] == "EPERM"
    assert r["root_only"] == "EACCES"
    assert r["env_file"] == "EACCES"
    assert r["core_read"] == r["core_import"] == r["own_module_import"] == "ok"
    assert r["other_module_import"] in ("EACCES", "ModuleNotFoundError")
    assert r["project_write"] == r["core_overwrite"] == "EACCES"
    assert r["other_data_read"] == r["other_data_write"] == "EACCES"
    assert r["own_data_write"] == r["own_tmp_write"] == "ok"
    assert r["mkstemp_in"] == str(world.tmp_dir("alpha"))
    assert r["system_file_write"] == "EACCES"
    assert r["stdlib"] == ["1/3", "Europe/Moscow"]
    assert r["asyncio"] == 12
    assert r["env"] == [str(world.data_dir("alpha")), str(world.tmp_dir("alpha"))]
    for folder in (world.data_dir("alpha"), world.tmp_dir("alpha")):
        st = folder.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, uid, 0o700)


@needs_landlock
def test_root_module_network_and_signals(world: World) -> None:
    uid = world.uids.allocate("alpha")
    parent = os.getpid()
    abstract_name = f"\0sandbox-test-{parent}".encode()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(abstract_name)
    abstract.listen()
    with tcp_listener() as granted, tcp_listener() as refused, contextlib.closing(abstract):
        spec = world.spec("alpha", uid=uid, ports=[granted])

        def child() -> dict[str, Any]:
            layers = apply_sandbox(spec)

            def connect(port: int) -> None:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    pass

            def bind(port: int) -> None:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
                    s.listen()

            def abstract_connect() -> None:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(abstract_name)

            def udp() -> None:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(b"x", ("127.0.0.1", refused))

            return {
                "layers": layers,
                "connect_granted": attempt(lambda: connect(granted)),
                "connect_refused": attempt(lambda: connect(refused)),
                "bind_ephemeral": attempt(lambda: bind(0)),
                "bind_fixed": attempt(lambda: bind(granted + 1 if granted < 65535 else 1025)),
                "abstract_unix": attempt(abstract_connect),
                "udp": attempt(udp),
                "signal_parent": attempt(lambda: os.kill(parent, 0)),
                "proc_environ_parent": attempt(read(Path(f"/proc/{parent}/environ"))),
            }

        r = run_forked(child)
    _layers_ok(r["layers"])
    assert r["connect_granted"] == "ok"
    assert r["connect_refused"] == "EACCES"
    assert r["bind_ephemeral"] == r["bind_fixed"] == "EACCES"
    assert r["abstract_unix"] == "EPERM"  # Landlock scope: the listener is outside the domain
    assert r["udp"] == "EPERM"  # Landlock (ABI <= 7) only knows TCP: seccomp refuses UDP without network
    assert r["signal_parent"] == "EPERM"
    assert r["proc_environ_parent"] == "EACCES"


def test_root_module_rlimits(world: World) -> None:
    uid = world.uids.allocate("alpha")
    spec = world.spec("alpha", uid=uid, memory_mb=128, max_open_files=256, max_file_size_mb=64)

    def child() -> dict[str, Any]:
        import mmap

        layers = apply_sandbox(spec)
        fds, error = [], "none"
        try:
            while len(fds) < 1000:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            error = errno.errorcode[exc.errno or 0]
        highest = max(fds)
        for fd in fds:
            os.close(fd)

        big = world.data_dir("alpha") / "big.bin"
        chunk = b"\0" * MB
        written, fsize_error = 0, "none"
        with open(big, "wb", buffering=0) as f:
            try:
                for _ in range(65):
                    written += f.write(chunk)
            except OSError as exc:
                fsize_error = errno.errorcode[exc.errno or 0]
        size = big.stat().st_size
        big.unlink()

        def allocate(n: int) -> None:
            bytearray(n)

        return {
            "layers": layers,
            "nofile": [error, highest],
            "fsize": [fsize_error, size],
            "alloc_small": attempt(lambda: allocate(32 * MB)),
            "alloc_over_budget": attempt(lambda: allocate(256 * MB)),
            "shared_mapping_4g": attempt(lambda: mmap.mmap(-1, 4096 * MB)),
        }

    r = run_forked(child)
    _layers_ok(r["layers"])
    assert r["nofile"] == ["EMFILE", 255]  # the 257th descriptor is refused
    assert r["fsize"] == ["EFBIG", 64 * MB]  # SIGXFSZ ignored: an error, not a dead process
    assert r["alloc_small"] == "ok"
    assert r["alloc_over_budget"] == "MemoryError"
    assert r["shared_mapping_4g"] == "ENOMEM"  # RLIMIT_DATA misses shared mappings; the loose AS limit catches this


def test_root_module_fork_bomb_stops_at_process_limit(world: World) -> None:
    uid = world.uids.allocate("alpha")
    spec = world.spec("alpha", uid=uid, max_processes=16)

    def child() -> dict[str, Any]:
        layers = apply_sandbox(spec)
        hold_read, hold_write = os.pipe()
        forked, error = 0, "none"
        try:
            while forked < 200:
                pid = os.fork()
                if pid == 0:  # a bomb fragment: wait until the bomber exits, then vanish
                    os.close(hold_write)
                    os.read(hold_read, 1)
                    os._exit(0)
                forked += 1
        except OSError as exc:
            error = errno.errorcode[exc.errno or 0]
        os.close(hold_write)  # every fragment sees EOF and exits
        for _ in range(forked):
            os.wait()
        return {"layers": layers, "forked": forked, "error": error}

    r = run_forked(child)
    _layers_ok(r["layers"])
    assert r["error"] == "EAGAIN"
    assert 10 <= r["forked"] < 16  # the module process itself is one of the 16


@needs_landlock
def test_setuid_binary_does_not_elevate(world: World) -> None:
    binary = world.base / "bin" / "id-setuid"
    binary.parent.mkdir()
    shutil.copy("/usr/bin/id", binary)
    os.chown(binary, 0, 0)
    os.chmod(binary, 0o4755)
    os.chmod(binary.parent, 0o755)
    uid = world.uids.allocate("alpha")
    executable = [str(binary.parent), "/usr/lib", "/usr/lib64", "/lib", "/lib64"]
    spec = world.spec("alpha", uid=uid, read_execute=[p for p in executable if os.path.exists(p)])

    def control() -> dict[str, Any]:  # same uid drop, no sandbox: the setuid bit works
        drop_privileges(uid, uid)
        return {"out": subprocess.run([binary], capture_output=True, text=True, check=False).stdout}

    def sandboxed() -> dict[str, Any]:
        apply_sandbox(spec)
        done = subprocess.run([binary], capture_output=True, text=True, check=False)
        return {"out": done.stdout, "err": done.stderr, "code": done.returncode}

    assert "euid=0" in run_forked(control)["out"]  # proves the test binary really is setuid root
    r = run_forked(sandboxed)
    assert r["code"] == 0, r
    assert r["out"].startswith(f"uid={uid}") and "euid=" not in r["out"]


def test_dumpable_closes_proc_environ_to_the_same_uid(world: World) -> None:
    """The host calls set_dumpable(False) on itself: a module sharing its uid cannot read its environment."""
    uid = world.uids.allocate("hostlike")

    def helper(dumpable: bool) -> tuple[int, int]:
        ready_read, ready_write = os.pipe()
        hold_read, hold_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the helper process
            try:
                os.close(ready_read)
                os.close(hold_write)
                drop_privileges(uid, uid)
                set_dumpable(dumpable)  # after the uid change, which resets it
                os.write(ready_write, b"1")
                os.read(hold_read, 1)
            finally:
                os._exit(0)
        os.close(ready_write)
        os.close(hold_read)
        assert os.read(ready_read, 1) == b"1"
        os.close(ready_read)
        return pid, hold_write

    hidden, hidden_hold = helper(False)
    visible, visible_hold = helper(True)
    try:

        def probe() -> dict[str, Any]:
            drop_privileges(uid, uid)
            return {
                "hidden": attempt(read(Path(f"/proc/{hidden}/environ"))),
                "visible": attempt(read(Path(f"/proc/{visible}/environ"))),
            }

        assert run_forked(probe) == {"hidden": "EACCES", "visible": "ok"}
    finally:
        # Close both first: the second helper inherited the first one's hold pipe.
        os.close(hidden_hold)
        os.close(visible_hold)
        os.waitpid(hidden, 0)
        os.waitpid(visible, 0)


# --- the bot is not root: the module shares the bot's uid --------------------------------------


@needs_landlock
def test_nonroot_bot_landlock_and_scopes_still_hold(world: World) -> None:
    bot_uid = world.uids.allocate("botuser")
    for path in [world.base, *world.base.rglob("*")]:
        os.lchown(path, bot_uid, bot_uid)  # the bot's user owns everything: DAC allows it all
    world.data_dir("beta").mkdir(parents=True)
    (world.data_dir("beta") / "beta.db").write_text("beta's data")
    for path in (world.storage, world.storage / "modules", world.data_dir("beta"), world.data_dir("beta") / "beta.db"):
        os.chown(path, bot_uid, bot_uid)
    host_secret = world.base / "host-secret.txt"
    host_secret.write_text("BOT_TOKEN=123:secret\n")
    os.chown(host_secret, bot_uid, bot_uid)
    os.chmod(host_secret, 0o600)

    with tcp_listener() as granted, tcp_listener() as refused:

        def child() -> dict[str, Any]:
            become_user(bot_uid, bot_uid)  # what a non-root bot's module process starts as
            set_dumpable(True)  # like any process started by that user (the uid change cleared it)
            spec = world.spec_as_this_user("alpha", ports=[granted])
            # A process of the same uid outside the sandbox: stands in for the host.
            hold_read, hold_write = os.pipe()
            sibling = os.fork()
            if sibling == 0:
                os.close(hold_write)
                os.read(hold_read, 1)
                os._exit(0)
            os.close(hold_read)
            before = {"sibling_environ": attempt(read(Path(f"/proc/{sibling}/environ"))), "secret": attempt(read(host_secret))}
            layers = apply_sandbox(spec)

            def connect(port: int) -> None:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    pass

            def bind() -> None:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))

            result = {
                "before": before,
                "layers": layers,
                "ids": os.getresuid(),
                "secret": attempt(read(host_secret)),
                "env_file": attempt(read(world.project / ".env")),
                "project_write": attempt(write(world.project / "dropped.py")),
                "other_data_read": attempt(read(world.data_dir("beta") / "beta.db")),
                "other_data_write": attempt(write(world.data_dir("beta") / "x")),
                "own_data_write": attempt(write(world.data_dir("alpha") / "state.json")),
                "connect_granted": attempt(lambda: connect(granted)),
                "connect_refused": attempt(lambda: connect(refused)),
                "bind": attempt(bind),
                "kill_sibling": attempt(lambda: os.kill(sibling, signal.SIGTERM)),
                "sibling_environ": attempt(read(Path(f"/proc/{sibling}/environ"))),
                "sibling_alive": os.waitpid(sibling, os.WNOHANG) == (0, 0),
            }
            os.close(hold_write)
            os.waitpid(sibling, 0)
            return result

        r = run_forked(child)
    assert r["before"] == {"sibling_environ": "ok", "secret": "ok"}  # DAC alone would let the module in
    assert r["ids"] == [bot_uid] * 3
    layers = r["layers"]
    kinds = ["dirs", "rlimits", "shared uid", "no_new_privs", "landlock", "seccomp", "dumpable", "no hidden"]
    assert layer_kinds(layers) == kinds
    assert layer(layers, "shared uid").startswith(f"NOT own uid: the bot is not root, the module shares uid {bot_uid}")
    assert "(shared uid)" in layer(layers, "rlimits")
    assert r["secret"] == r["env_file"] == "EACCES"
    assert r["project_write"] == "EACCES"
    assert r["other_data_read"] == r["other_data_write"] == "EACCES"
    assert r["own_data_write"] == "ok"
    assert r["connect_granted"] == "ok"
    assert r["connect_refused"] == r["bind"] == "EACCES"
    assert r["kill_sibling"] == "EPERM"  # Landlock signal scope, not DAC: same uid
    assert r["sibling_environ"] == "EACCES"
    assert r["sibling_alive"] is True


# --- refusals and the trusted level ------------------------------------------------------------


def test_refuses_to_run_a_sandboxed_module_as_root(world: World) -> None:
    spec = world.spec("alpha", uid=None)

    def child() -> dict[str, Any]:
        try:
            apply_sandbox(spec)
        except SandboxError as exc:
            return {"error": str(exc), "euid": os.geteuid()}
        return {"error": None}

    r = run_forked(child)
    assert "refusing to run a sandboxed module as root" in r["error"]


def test_trusted_module_gets_only_rlimits(world: World) -> None:
    spec = world.spec("alpha", uid=None, trust="trusted")

    def child() -> dict[str, Any]:
        return {"layers": apply_sandbox(spec), "root_only": attempt(read(world.root_only)), "euid": os.geteuid()}

    r = run_forked(child)
    assert len(r["layers"]) == 2 and r["layers"][0].startswith("rlimits ") and r["layers"][1] == "trusted: no isolation"
    assert r["root_only"] == "ok" and r["euid"] == 0


# --- a private home above the code (/root/solobot with /root 0700) -------------------------------


@needs_landlock
def test_a_private_home_above_the_project_is_replaced_by_a_view_of_what_the_module_needs(world: World) -> None:
    """The world's base made 0700 (as /root is): the module still imports the core, the rest is gone."""
    uid = world.uids.allocate("alpha")
    (world.base / "operator-notes.txt").write_text("private\n")
    os.chmod(world.base, 0o700)
    spec = world.spec("alpha", uid=uid)

    def child() -> dict[str, Any]:
        sys.path.insert(0, str(world.project))
        layers = apply_sandbox(spec)
        import corepkg  # from the project, through the view

        return {
            "layers": layers,
            "core": corepkg.VALUE,
            "own_module": attempt(read(world.project / "modules" / "alpha" / "__init__.py")),
            "notes": attempt(read(world.base / "operator-notes.txt")),
            "env": attempt(read(world.project / ".env")),
            "own_data": attempt(write(world.data_dir("alpha") / "x")),
            "plant_in_view": attempt(lambda: (world.base / "planted").mkdir()),
        }

    result = run_forked(child)
    # The world's base, and the private folder this checkout sits in if it does (see the first test).
    assert hidden_by_view(result["layers"]) == {world.base, *private_folders_above_the_code()}, result
    assert result["core"] == 42 and result["own_module"] == result["own_data"] == "ok", result
    assert result["notes"] == "ENOENT" and result["env"] in ("EACCES", "ENOENT"), result
    assert result["plant_in_view"] in ("EROFS", "EACCES", "EPERM"), result
    # Nothing of the view reached the host's mount table.
    assert str(world.base) not in Path("/proc/self/mounts").read_text()
    assert {"operator-notes.txt", "root-only.txt"} <= set(os.listdir(world.base))  # the host still sees its files


def test_without_mount_namespaces_the_operator_gets_one_line_with_the_fix(world: World) -> None:
    """An unprivileged process cannot make mount views: the probe says why, fix_for what to do."""
    uid = world.uids.allocate("alpha")

    def child() -> dict[str, Any]:
        become_user(uid, uid)  # an ordinary user's bot, running its interpreter
        return {"refused": probe_mount_views()}

    refused = run_forked(child)["refused"]
    assert refused is not None and refused.startswith("mount namespaces are refused here"), refused
    line = fix_for(Path("/root"), Path("/root/solobot/handlers"))
    assert "\n" not in line and "`chmod o+x /root`" in line and "/opt/solobot" in line, line
    assert probe_mount_views() is None  # root here can
