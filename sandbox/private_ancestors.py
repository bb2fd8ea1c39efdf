"""Reach the bot's code from a private home: ``/root/solobot`` when ``/root`` is mode 0700.

A module runs under its own uid, and the kernel checks the execute (traverse) bit of every
folder on a path it opens. On stock Debian and Ubuntu ``/root`` is 0700, so a bot cloned to
``/root/solobot`` and run as root gives its modules code, interpreter and data they cannot
reach: every module would fail with ``PermissionError: '/root/solobot'``.

The fix changes nothing on the operator's system. The module process, still root, moves into a
mount namespace of its own (``unshare(CLONE_NEWNS)``, every mount made private first so nothing
propagates back to the host), covers the highest private ancestor (``/root``) with an empty,
read-only-to-others tmpfs and bind-mounts into it, at the same paths, exactly the folders the
module needs (``/root/solobot``, a virtualenv under ``/root``…). Paths do not change, so
``sys.path``, Landlock rules and tracebacks stay the same; the rest of the private folder
(``/root/.ssh``, other projects) is not even visible to the module. The bound folders are the
original inodes, so Landlock (applied afterwards) still decides what the module may read.

If this system refuses mount namespaces (some containers), ``probe_mount_views`` says so; the
host then names the one fix (``chmod o+x`` on the private folder, or a folder outside it).
"""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

CLONE_NEWNS = 0x0002_0000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MAX_COVERS = 64  # private folders covered in one process: far more than any real layout has

_libc = ctypes.CDLL(None, use_errno=True)


class MountViewError(OSError):
    """The private mount view could not be set up (the message names the fix)."""


def blocked_ancestor(path: Path, uid: int, gid: int) -> Path | None:
    """The highest folder above ``path`` that ``uid``/``gid`` (no other groups) cannot traverse."""
    for ancestor in reversed(Path(path).parents):
        try:
            st = os.stat(ancestor)
        except OSError:
            return None  # a missing path is not ours to report here
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return ancestor
    return None


def private_ancestors(paths: Iterable[str | Path], uid: int, gid: int) -> dict[Path, list[Path]]:
    """Each private folder above the given paths → the paths beneath it (existing paths only)."""
    found: dict[Path, list[Path]] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            continue
        ancestor = blocked_ancestor(path, uid, gid)
        if ancestor is not None:
            found.setdefault(ancestor, []).append(path)
    return found


def expose_needed_paths(paths: Iterable[str | Path], uid: int, gid: int) -> str | None:
    """In the module process, as root: make every path reachable for ``uid``; describe what was done.

    ``None`` when no ancestor is private (nothing to do: the common case). Raises
    ``MountViewError`` when a private ancestor exists but the mount view cannot be set up.
    """
    needed = sorted({Path(p) for p in paths if Path(p).exists()}, key=lambda p: len(p.parts))
    covered: list[Path] = []
    for _ in range(MAX_COVERS):
        blocked = private_ancestors(needed, uid, gid)
        if not blocked:
            break
        cover = min(blocked, key=lambda p: len(p.parts))
        if not covered:
            _private_namespace()
        _cover_and_bind(cover, [p for p in needed if cover in p.parents])
        covered.append(cover)
    else:
        raise MountViewError(f"more than {MAX_COVERS} private folders above the module's paths")
    if not covered:
        return None
    return "private mount view: " + ", ".join(f"{c} (0700) hidden" for c in covered) + ", needed paths bound at the same place"


def _private_namespace() -> None:
    if _libc.unshare(CLONE_NEWNS) != 0:
        _raise("unshare(CLONE_NEWNS)")
    # Before any other mount: a shared root (systemd's default) would propagate ours to the host.
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def _cover_and_bind(cover: Path, beneath: list[Path]) -> None:
    # Outermost paths only: a path inside another bound path comes along with it (if a private
    # folder lies between them, the next round covers that one).
    roots = [p for p in beneath if not any(other in p.parents for other in beneath)]
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in roots}  # opened before they vanish under the cover
    try:
        _mount("tmpfs", str(cover), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k")
        for path, fd in fds.items():
            for folder in [*reversed(path.parents), path]:
                if cover in folder.parents and not folder.exists():
                    if folder == path and not stat.S_ISDIR(os.fstat(fd).st_mode):
                        folder.touch()
                    else:
                        folder.mkdir()
                    os.chmod(folder, 0o755)  # explicit: the module process's umask is 077 by now
            _mount(f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC)
        # The skeleton itself is read-only: nothing a module does can add to it.
        _mount(None, str(cover), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    finally:
        for fd in fds.values():
            os.close(fd)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: s.encode() if s is not None else None  # noqa: E731 - four C strings
    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        _raise(f"mount {source or ''} on {target}")


def _raise(what: str) -> None:
    err = ctypes.get_errno()
    raise MountViewError(err, f"{what}: {os.strerror(err)}")


_PROBE = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    f"ok = libc.unshare({CLONE_NEWNS}) == 0 and libc.mount(None, b'/', None, ctypes.c_ulong({MS_REC | MS_PRIVATE}), None) == 0\n"
    "sys.exit(0 if ok else ctypes.get_errno() or 1)\n"
)


def probe_mount_views() -> str | None:
    """Can a module process of this host set up a private mount view? ``None`` if so, else why not."""
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=30, check=False, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run the probe: {exc}"
    if done.returncode == 0:
        return None
    return f"mount namespaces are refused here ({os.strerror(done.returncode) if done.returncode < 256 else done.returncode})"


def fix_for(ancestor: Path, needed: Path) -> str:
    """The one line an operator needs when the view is not possible."""
    return (
        f"modules cannot reach {needed}: {ancestor} is private (no execute bit for other users) and this system "
        f"refuses private mount views; fix: `chmod o+x {ancestor}` (traverse only, nothing becomes listable) "
        f"or move the bot to a folder outside {ancestor}, e.g. /opt/solobot"
    )
