"""Per-module unprivileged identities when the bot runs as root.

Each module gets its own uid (= gid) from a reserved range, allocated once and kept forever in a
JSON state file, so its files stay its own across restarts and a removed module's uid is never
handed to another module (which would inherit its files). The default range starts at 2,000,000:
far above login users (1000–60000), systemd's dynamic users (61184–65519) and ``nobody``; ids that
the system already knows (NSS: /etc/passwd, /etc/group, LDAP…) or that fall in a /etc/subuid or
/etc/subgid delegation are skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

DEFAULT_FIRST_ID = 2_000_000
DEFAULT_COUNT = 65_536


class IdentityError(RuntimeError):
    pass


class ModuleIdentities:
    """Stable uid=gid per module name, persisted in ``state_file`` (written atomically)."""

    def __init__(self, state_file: Path, first_id: int = DEFAULT_FIRST_ID, count: int = DEFAULT_COUNT) -> None:
        self.state_file = Path(state_file)
        self.first_id = first_id
        self.end_id = first_id + count

    def get(self, module: str) -> int | None:
        return self._load()["modules"].get(module)

    def all(self) -> dict[str, int]:
        return dict(self._load()["modules"])

    def allocate(self, module: str) -> int:
        """The module's uid (= gid), allocated on first use."""
        if not module.isidentifier():
            raise IdentityError(f"not a module name: {module!r}")
        with self._locked():
            state = self._load()
            if module in state["modules"]:
                return state["modules"][module]
            # Allocation only moves forward: an id once given is never considered again, even if
            # its module was removed from the state file by hand.
            candidate = max(state["next"], self.first_id)
            taken = set(state["modules"].values())
            delegated = _subid_ranges()
            while candidate < self.end_id and (candidate in taken or _known_to_system(candidate) or _in(candidate, delegated)):
                candidate += 1
            if candidate >= self.end_id:
                raise IdentityError(f"module id range {self.first_id}..{self.end_id - 1} is exhausted")
            state["modules"][module] = candidate
            state["next"] = candidate + 1
            self._save(state)
            return candidate

    def _load(self) -> dict:
        try:
            state = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {"version": 1, "next": self.first_id, "modules": {}}
        if not isinstance(state, dict) or not isinstance(state.get("modules"), dict):
            raise IdentityError(f"{self.state_file}: not a module identity state file")
        return state

    def _save(self, state: dict) -> None:
        directory = self.state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{self.state_file.name}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Two hosts (or a host and an admin tool) allocating at once must not hand out one id twice."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_file.with_name(self.state_file.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` for good (real, effective and saved ids; no supplementary groups).

    Called as root (glibc applies set*id to every thread of the process). Verified afterwards:
    all three ids changed, no capability left, and root cannot be regained.
    """
    if uid == 0 or gid == 0:
        raise IdentityError("refusing to 'drop' to uid or gid 0")
    os.setgroups([])  # first: needs CAP_SETGID, which setresuid below takes away
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups() not in ([], [gid]):
        raise IdentityError(f"privilege drop did not stick: uid {os.getresuid()} gid {os.getresgid()} groups {os.getgroups()}")
    caps = _capabilities()
    if any(caps.get(name, 0) for name in ("CapInh", "CapPrm", "CapEff", "CapAmb")):
        raise IdentityError(f"capabilities left after the drop: {caps}")
    for regain in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.setgroups([0])):
        try:
            regain()
        except PermissionError:
            continue
        raise IdentityError("root could be regained after the privilege drop")


def prepare_private_dirs(data_dir: Path, tmp_dir: Path, uid: int | None, gid: int | None) -> None:
    """Create the module's data and temp folders, mode 0700, owned by the module's uid.

    Called as root before the drop (or as the bot's own user, ``uid=None``: then only created).
    Parents are created root-owned, mode 0711: traversable, not listable, so modules cannot see
    each other's folder names through DAC. A leaf that is a symlink or owned by someone else
    (neither root nor the module) is refused rather than chowned: ``chown`` through a planted
    symlink would hand the module any file on the system.
    """
    for folder in (Path(data_dir), Path(tmp_dir)):
        for parent in reversed(folder.parents):
            if not parent.exists():
                try:
                    parent.mkdir()
                except FileExistsError:  # created meanwhile by a sibling module's start
                    continue
                os.chmod(parent, 0o711)  # explicit: mkdir's mode is filtered by the umask
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            st = os.fstat(fd)
            owners = {os.geteuid()} | ({uid} if uid is not None else set())
            if not stat.S_ISDIR(st.st_mode) or st.st_uid not in owners:
                raise IdentityError(f"{folder}: exists and belongs to uid {st.st_uid}, refusing to use it")
            if uid is not None and gid is not None:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)


def _known_to_system(xid: int) -> bool:
    try:
        pwd.getpwuid(xid)
        return True
    except KeyError:
        pass
    try:
        grp.getgrgid(xid)
        return True
    except KeyError:
        return False


def _subid_ranges() -> list[tuple[int, int]]:
    ranges = []
    for name in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                ranges.append((int(parts[1]), int(parts[1]) + int(parts[2])))
    return ranges


def _in(xid: int, ranges: list[tuple[int, int]]) -> bool:
    return any(start <= xid < end for start, end in ranges)


def _capabilities() -> dict[str, int]:
    caps = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Cap"):
            key, _, value = line.partition(":")
            caps[key] = int(value.strip(), 16)
    return caps
