"""Processes and memory a module cannot escape (``sandbox/containment``), with real cgroups and processes.

A sandboxed runtime runs ``escaper``, whose hooks try what a hostile module would: a child that
calls ``setsid()`` and double-forks a grandchild (named by ``prctl(PR_SET_NAME)`` so it can be
found), a memfd twice its ``memory_mb``, unlinked-but-open files twice its ``disk_mb``. After a
stop, a restart, a crash and the runtime's exit, no process of it may remain; the hidden memory
and disk are counted and the module killed with the reason logged under its name, while a
bystander keeps serving. The backends are also driven directly: every process in a cgroup dies
with ``kill()``, ``pids.max`` bounds a fork bomb, and a host that was SIGKILLed leaves nothing
behind after the next start.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cli.status_table import details
from handlers.admin.modules import module_card
from runtime import ModuleRuntime
from runtime.supervision.sandbox_setup import ModuleSandboxes
from sandbox.bot_api_policy import BotApiPolicy
from sandbox.containment.cgroup import CgroupBackend, CgroupLimits
from sandbox.containment.cgroup_v1 import CgroupV1Backend, writable_hierarchies
from sandbox.containment.cgroup_v2 import CgroupV2Backend, delegated_folder
from sandbox.containment.choose import choose_backend
from sandbox.containment.no_cgroup import NoCgroup
from sandbox.landlock import landlock_abi
from tests.solobot_harness import traversable_dir

from .conftest import ModuleFolder, wait_until
from .shared_zygote import ThreadedZygote

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.geteuid() != 0, reason="module uids and cgroups need root"),
    pytest.mark.skipif(landlock_abi() < 1, reason="the sandbox needs Landlock"),
]

MEMORY_MB = 128  # page cache of its files is charged too: room for the unlinked-files attack
DISK_MB = 16
ESCAPER = """
import ctypes
import os
import time

from aiogram import Router

from hooks.hooks import register_hook

router = Router()
MB = 1024 * 1024
_held = []


def _name(tag):
    ctypes.CDLL(None).prctl(15, tag.encode(), 0, 0, 0)  # PR_SET_NAME: /proc/<pid>/comm


async def escape_orphan(tag, **kwargs):
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            setsid = "ok"
        except OSError as exc:
            setsid = exc.errno
        if os.fork() == 0:
            _name(tag)
            os.write(write_end, f"{os.getpid()} {setsid}\\n".encode())
            while True:
                time.sleep(1)
        os._exit(0)  # the middle one exits: its child is an orphan
    os.waitpid(child, 0)
    pid, setsid = os.read(read_end, 100).decode().split()
    return {"grandchild": int(pid), "setsid": setsid}


async def escape_memfd(megabytes, **kwargs):
    chunk = b"x" * MB
    for written in range(megabytes):
        if written % 32 == 0:  # one memfd is bounded by RLIMIT_FSIZE: several, then
            fd = os.memfd_create("hoard")
            _held.append(fd)
        os.write(fd, chunk)
    time.sleep(2)  # held: for the watchdog, where no memory cgroup acts first
    return "written"


async def escape_unlinked(folder, megabytes, **kwargs):
    for index in range(megabytes // 8):
        path = os.path.join(folder, f"hidden{index}")
        handle = open(path, "wb")
        handle.write(os.urandom(8 * MB))
        handle.flush()
        os.unlink(path)
        _held.append(handle)
    return os.listdir(folder)


async def escape_cgroup(**kwargs):
    # Leave its cgroup: write its pid into the root cgroups (and read where it sits).
    results = {}
    try:
        results["own"] = open("/proc/self/cgroup").read()
    except OSError as exc:
        results["own"] = exc.errno
    for folder in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/unified",
                   "/sys/fs/cgroup"):
        try:
            with open(folder + "/cgroup.procs", "w") as procs:
                procs.write("0")
            results[folder] = "ok"
        except OSError as exc:
            results[folder] = exc.errno
    return results


register_hook("escape_cgroup", escape_cgroup)
register_hook("escape_orphan", escape_orphan)
register_hook("escape_memfd", escape_memfd)
register_hook("escape_unlinked", escape_unlinked)
"""


def _operator_config(path: Path) -> Path:
    path.write_text(f"[modules.escaper]\nmemory_mb = {MEMORY_MB}\ndisk_mb = {DISK_MB}\ncpu_cores = 0.5\n")
    return path


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _named(tag: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] == tag and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return found


async def _orphan(rt: ModuleRuntime, tag: str) -> dict:
    results = await rt.run_hooks("escape_orphan", tag=tag)
    outcome = results[0]
    assert _alive(outcome["grandchild"]), outcome
    return outcome


def _sandboxed(root: Path, folder: ModuleFolder, zygote: ThreadedZygote, cgroups: CgroupBackend | None = None) -> ModuleRuntime:
    sandboxes = ModuleSandboxes(
        modules_dir=folder.root,
        data_dir=root / "storage",
        policy=BotApiPolicy(),
        config_path=_operator_config(root / "modules.toml"),
        cgroups=cgroups,
    )
    return ModuleRuntime(folder.root, state_file=root / "state.json", sandboxes=sandboxes, zygote=zygote)


@pytest.mark.parametrize("backend", ["chosen", "none"])
async def test_no_process_of_a_module_outlives_stop_restart_crash_or_exit(backend: str, shared_zygote: ThreadedZygote) -> None:
    """setsid + double fork: with a cgroup the kernel holds them; without one seccomp keeps them in the group."""
    with traversable_dir("solobot-contain-") as root:
        folder = ModuleFolder(root / "modules")
        folder.add("escaper", ESCAPER)
        folder.add_button_module("bystander")
        cgroups = NoCgroup("turned off for this test") if backend == "none" else None
        runtime = _sandboxed(root, folder, shared_zygote, cgroups)
        tag = f"esc{os.getpid() % 100000}{backend[0]}"
        async with runtime as rt:
            layers = rt.module_status("escaper")["sandbox"]
            if backend == "chosen":
                cgroup_layer = next(line for line in layers if line.startswith("cgroup v"))
                assert f"memory {MEMORY_MB}M" in cgroup_layer or f"memory.max {MEMORY_MB}M" in cgroup_layer, layers
                assert "pids 64" in cgroup_layer or "pids.max 64" in cgroup_layer, layers
                assert "cpu 0.5 cores" in cgroup_layer or "cpu.max 0.5 cores" in cgroup_layer, layers
            else:
                cgroup_layer = next(line for line in layers if line.startswith("NOT cgroup: turned off for this test"))
            # What the operator sees: `solobot modules status escaper` and the admin card.
            assert f"processes: {cgroup_layer}" in details(rt.module_status("escaper"))
            assert cgroup_layer in module_card(rt.module_status("escaper"), 0)[0]
            bystander = rt.module_status("bystander")["pid"]
            escaped = (await rt.run_hooks("escape_cgroup"))[0]
            assert "ok" not in escaped.values(), f"the module moved itself out of its cgroup: {escaped}"
            assert escaped["/sys/fs/cgroup/pids"] == 13, escaped  # EACCES: Landlock grants nothing under /sys

            outcome = await _orphan(rt, tag)
            assert outcome["setsid"] == str(1), f"setsid was not refused (EPERM): {outcome}"
            await rt.stop("escaper")
            await wait_until(lambda: not _alive(outcome["grandchild"]), timeout=5)  # outlived the stop?

            await rt.start("escaper")
            outcome = await _orphan(rt, tag)
            await rt.restart("escaper")
            await wait_until(lambda: not _alive(outcome["grandchild"]), timeout=5)  # outlived the restart?

            outcome = await _orphan(rt, tag)
            restarts = rt.module_status("escaper")["restarts"]
            os.kill(rt.module_status("escaper")["pid"], signal.SIGKILL)  # a crash
            status = rt.module_status
            await wait_until(lambda: status("escaper")["restarts"] > restarts and status("escaper")["state"] == "running")
            await wait_until(lambda: not _alive(outcome["grandchild"]))

            outcome = await _orphan(rt, tag)
            assert rt.module_status("bystander")["pid"] == bystander
        await wait_until(lambda: not _alive(outcome["grandchild"]), timeout=5)  # outlived the runtime?
        assert _named(tag) == []
        if backend == "chosen":
            assert not _our_cgroups(runtime), f"cgroups left behind: {_our_cgroups(runtime)}"


def _our_cgroups(runtime: ModuleRuntime) -> list[Path]:
    assert runtime.sandboxes is not None
    backend = runtime.sandboxes.cgroups
    if isinstance(backend, CgroupV1Backend):
        return [
            own / "solobot" / backend.host_folder
            for own in backend.hierarchies.values()
            if (own / "solobot" / backend.host_folder).exists()
        ]
    if isinstance(backend, CgroupV2Backend):
        return [backend.host_folder_path] if backend.host_folder_path.exists() else []
    return []


def _without_memory_controller() -> CgroupBackend:
    """A cgroup that kills and lists but charges no memory (cgroup v2 without controllers, else none)."""
    folder, why = delegated_folder(None)
    if folder is not None:
        backend = CgroupV2Backend(folder, why)
        if "memory" not in backend.controllers:
            return backend
        backend.close()
    return NoCgroup("no memory controller for this test")


@pytest.mark.parametrize("memory", ["kernel", "watchdog"])
async def test_memfd_and_unlinked_files_count_against_the_limits(memory: str, shared_zygote: ThreadedZygote, caplog) -> None:
    """``kernel``: the machine's cgroup charges the memfds; ``watchdog``: nothing does, the watchdog counts them."""
    caplog.set_level(logging.INFO)
    with traversable_dir("solobot-hidden-") as root:
        folder = ModuleFolder(root / "modules")
        folder.add("escaper", ESCAPER)
        folder.add_button_module("bystander")
        cgroups = _without_memory_controller() if memory == "watchdog" else None
        async with _sandboxed(root, folder, shared_zygote, cgroups) as rt:
            if memory == "watchdog":
                assert any(line.startswith("hidden files: memfds") for line in rt.module_status("escaper")["sandbox"])
            bystander = rt.module_status("bystander")["pid"]
            pid = rt.module_status("escaper")["pid"]
            try:
                await rt.run_hooks("escape_memfd", megabytes=2 * MEMORY_MB)
            except Exception:
                pass  # the kernel may kill it mid-call
            await wait_until(lambda: rt.module_status("escaper")["pid"] not in (None, pid), timeout=20)
            error = rt.module_status("escaper")["last_error"] or ""
            assert f"memory at the {MEMORY_MB} MB limit" in error or f"over the {MEMORY_MB} MB limit" in error, error
            assert any("[module escaper]" in r.getMessage() and f"{MEMORY_MB} MB limit" in r.getMessage() for r in caplog.records)

            await wait_until(lambda: rt.module_status("escaper")["state"] == "running", timeout=20)
            pid = rt.module_status("escaper")["pid"]
            tmp = root / "storage" / "tmp" / "escaper"
            await rt.run_hooks("escape_unlinked", folder=str(tmp), megabytes=2 * DISK_MB)  # may be killed mid-call
            await wait_until(lambda: rt.module_status("escaper")["pid"] not in (None, pid), timeout=20)
            error = rt.module_status("escaper")["last_error"] or ""
            assert f"over the {DISK_MB} MB limit" in error and "unlinked-but-open files" in error, error
            assert rt.module_status("bystander")["pid"] == bystander
            assert await rt.run_hooks("profile_menu")  # the bystander still answers


# --- the backends on their own ------------------------------------------------------------------


def _backends() -> list[pytest.param]:
    params = []
    if writable_hierarchies():
        params.append(pytest.param("v1", id="cgroup-v1"))
    if "freezer" in writable_hierarchies():
        params.append(pytest.param("v1-no-freezer", id="cgroup-v1-without-freezer"))  # kills in rounds
    folder, _why = delegated_folder(None)
    if folder is not None:
        params.append(pytest.param("v2", id="cgroup-v2"))
    return params


def _open(kind: str) -> CgroupBackend:
    if kind == "v1":
        return CgroupV1Backend(writable_hierarchies())
    if kind == "v1-no-freezer":
        return CgroupV1Backend({c: folder for c, folder in writable_hierarchies().items() if c != "freezer"})
    folder, why = delegated_folder(None)
    assert folder is not None, why
    return CgroupV2Backend(folder, why)


def _contained_child(procs_files: tuple[str, ...], body: str) -> subprocess.Popen[str]:
    """A Python process that joins the cgroup first, then runs ``body``."""
    join = "".join(f"open({f!r}, 'w').write('0')\n" for f in procs_files)
    return subprocess.Popen([sys.executable, "-c", join + body], stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("kind", _backends())
def test_kill_reaches_every_process_in_the_cgroup(kind: str) -> None:
    backend = _open(kind)
    try:
        cgroup = backend.create("probe", CgroupLimits(64, 32, 1.0))
        assert cgroup is not None
        child = _contained_child(
            cgroup.procs_files,
            "import os, time\nos.setsid()\nif os.fork() == 0:\n    if os.fork() == 0:\n"
            "        print(os.getpid(), flush=True); time.sleep(600)\n    os._exit(0)\ntime.sleep(600)\n",
        )
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        assert set(cgroup.pids()) >= {child.pid, grandchild}
        signalled = cgroup.kill()
        assert {child.pid, grandchild} <= set(signalled)
        child.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(grandchild)
        deadline = time.monotonic() + 10
        while not cgroup.remove() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cgroup.remove()
    finally:
        backend.close()


@pytest.mark.skipif("pids" not in writable_hierarchies(), reason="no writable cgroup v1 pids hierarchy on this machine")
def test_pids_max_bounds_a_fork_bomb() -> None:
    backend = CgroupV1Backend(writable_hierarchies())
    try:
        cgroup = backend.create("bomb", CgroupLimits(256, 8, 1.0))
        child = _contained_child(
            cgroup.procs_files,
            "import os, time\nforked = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(600)\n"
            "        forked += 1\nexcept OSError as exc:\n    print(forked, exc.errno, flush=True)\ntime.sleep(600)\n",
        )
        assert child.stdout is not None
        forked, errno = map(int, child.stdout.readline().split())
        assert errno == 11 and forked == 7, (forked, errno)  # EAGAIN once the 8th task would exist
        cgroup.kill()
        child.wait(timeout=10)
    finally:
        backend.close()


def _offers_a_cgroup() -> bool:
    """What ``choose_backend`` would find: a cgroup v2 folder or a writable v1 hierarchy (not turned off)."""
    configured = os.environ.get("SOLOBOT_CGROUP") or None
    if configured == "off":
        return False
    return delegated_folder(configured)[0] is not None or bool(writable_hierarchies())


@pytest.mark.skipif(not _offers_a_cgroup(), reason="no cgroup this user may create folders in on this machine")
def test_a_killed_hosts_cgroups_are_swept_at_the_next_start(tmp_path: Path) -> None:
    """The host is SIGKILLed with a module process (and its orphan) in a cgroup: the next start kills and removes them."""
    script = tmp_path / "host.py"
    script.write_text(
        "import os, sys, time\n"
        "from sandbox.containment.choose import choose_backend\n"
        "from sandbox.containment.cgroup import CgroupLimits\n"
        "backend = choose_backend()\n"
        "cgroup = backend.create('left', CgroupLimits(64, 16, 1.0))\n"
        "if os.fork() == 0:\n"
        "    for f in cgroup.procs_files:\n"
        "        open(f, 'w').write('0')\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(600)\n"
        "    time.sleep(600)\n"
        "time.sleep(0.3)\n"
        "print(backend.name.replace(' ', '-'), *cgroup.pids(), flush=True)\n"
        "time.sleep(600)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert host.stdout is not None
        name, *left = host.stdout.readline().split()
    finally:
        host.kill()  # the crash
        host.wait()
    assert name != "none"  # the machine offers a cgroup (the skipif above): the host must have used it
    pids = [int(p) for p in left]
    assert len(pids) == 2
    assert all(_alive(pid) for pid in pids)  # the crash left them running
    backend = choose_backend()
    try:
        assert any(entry.split("/")[1].startswith("left") for entry in backend.swept), backend.swept
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not any(_alive(pid) for pid in pids)
    finally:
        backend.close()


def test_a_host_without_cgroups_says_what_is_missing() -> None:
    lines = NoCgroup("the bot runs as uid 1000, not root, and no cgroup2 file system is mounted").describe_missing()
    assert lines[0].startswith("NOT cgroup: the bot runs as uid 1000") and "SOLOBOT_CGROUP" in lines[0]
    assert choose_backend({"SOLOBOT_CGROUP": "off"}).name == "none"


def test_hidden_files_tell_memory_from_disk(tmp_path: Path) -> None:
    """A memfd held open is memory; an unlinked file held open is disk; a shared anonymous mapping is neither (USS has it)."""
    import mmap

    from sandbox.containment.hidden_files import hidden_files

    MB = 1024 * 1024
    memfd = os.memfd_create("probe")
    os.write(memfd, b"m" * 3 * MB)
    path = tmp_path / "gone"
    unlinked = open(path, "wb")
    unlinked.write(b"d" * 5 * MB)
    unlinked.flush()
    os.fsync(unlinked.fileno())
    path.unlink()
    area = mmap.mmap(-1, 7 * MB)
    area.write(b"a" * 7 * MB)
    try:
        found = hidden_files([os.getpid()])
        assert found.readable
        assert 3 * MB <= found.memory_bytes < 4 * MB, found
        assert 5 * MB <= found.disk_bytes < 6 * MB, found
    finally:
        area.close()
        unlinked.close()
        os.close(memfd)


HOST_WITHOUT_CGROUPS = """
import asyncio, sys, time
from pathlib import Path
from runtime import ModuleRuntime
from runtime.supervision.sandbox_setup import ModuleSandboxes
from sandbox.bot_api_policy import BotApiPolicy
from sandbox.containment.no_cgroup import NoCgroup

root = Path(sys.argv[1])


async def main():
    sandboxes = ModuleSandboxes(
        modules_dir=root / "modules", data_dir=root / "storage", policy=BotApiPolicy(), cgroups=NoCgroup("test")
    )
    async with ModuleRuntime(root / "modules", state_file=root / "state.json", sandboxes=sandboxes) as rt:
        outcome = (await rt.run_hooks("escape_orphan", tag=sys.argv[2]))[0]
        print(outcome["grandchild"], flush=True)
        await asyncio.sleep(600)


asyncio.run(main())
"""


@pytest.mark.slow  # starts a whole host, kills it and waits for the sweep (about a minute loaded)
def test_a_killed_hosts_module_processes_are_swept_without_cgroups() -> None:
    """No cgroup, and the host is SIGKILLed: the module process dies with it, its double fork does not — until the next start."""
    with traversable_dir("solobot-orphans-") as root:
        ModuleFolder(root / "modules").add("escaper", ESCAPER)
        script = root / "host.py"
        script.write_text(HOST_WITHOUT_CGROUPS)
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        tag = f"swp{os.getpid() % 100000}"
        host = subprocess.Popen([sys.executable, str(script), str(root), tag], stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert host.stdout is not None
            line = host.stdout.readline()
        finally:
            host.kill()  # the crash
            host.wait()
        grandchild = int(line)
        time.sleep(0.5)
        assert _alive(grandchild), "expected the crash to leave the double fork running (else this test proves nothing)"
        backend = NoCgroup("the next start")
        assert f"pid {grandchild}" in backend.swept, backend.swept
        deadline = time.monotonic() + 10
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(grandchild) and _named(tag) == []


def test_where_cgroups_are_and_whose_they_are() -> None:
    """/proc/self/mountinfo and /proc/self/cgroup as a hybrid machine and a container write them."""
    from sandbox.containment.host_folder import new_host_folder_name, owner_alive
    from sandbox.containment.mounts import cgroup_mounts, folder_of, own_cgroups

    mountinfo = (
        "35 25 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
        "36 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "37 25 0:32 /docker/abc /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "38 25 0:33 / /proc rw - proc proc rw\n"
    )
    mounts = cgroup_mounts(mountinfo)
    assert [(m.fstype, str(m.mountpoint), m.controllers) for m in mounts] == [
        ("cgroup", "/sys/fs/cgroup/memory", frozenset({"rw", "memory"})),
        ("cgroup", "/sys/fs/cgroup/cpu,cpuacct", frozenset({"rw", "cpu", "cpuacct"})),
        ("cgroup2", "/sys/fs/cgroup/unified", frozenset()),
    ]
    own = own_cgroups("4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/docker/abc/bot\n")
    assert own == {"memory": "/process_api/x", "cpu": "/", "cpuacct": "/", "": "/docker/abc/bot"}
    assert folder_of(mounts[0], own["memory"]) == Path("/sys/fs/cgroup/memory/process_api/x")
    assert folder_of(mounts[2], own[""]) == Path("/sys/fs/cgroup/unified/bot")  # the container sees its own root
    assert owner_alive(new_host_folder_name())  # this process: alive
    assert not owner_alive("host-999999999-1-1")  # no such pid
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not owner_alive(f"host-{int(dead.stdout)}-1-1")
    assert owner_alive("hugetlb")  # not a name we make: never ours to sweep
