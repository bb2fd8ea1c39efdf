"""What a module holds that no walk of its folders sees: memfds, shared memory, unlinked-but-open files.

Read from ``/proc/<pid>/fd`` (open descriptors) and ``/proc/<pid>/map_files`` (mappings whose
descriptor was closed) of each of the module's processes, each file counted once (by device and
inode), its size as allocated blocks (a sparse ``ftruncate`` of a terabyte costs nothing):

- memfds and files on ``/dev/shm`` are memory: they count against ``memory_mb`` — except a memfd
  the process has mapped, whose touched pages its USS already counts;
- an unlinked regular file still open or mapped is disk: it counts against ``disk_mb``.

Both directories are closed to other users and to a non-dumpable process's own uid: the host
reads them as root. A host that is not root gets ``readable=False`` (and seccomp refuses memfds
to its modules instead: ``sandbox/seccomp.py`` ``deny_memfd``). Blocking, and capped: the watchdog
calls it in its worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

MAX_ENTRIES = 20_000  # descriptors and mappings looked at per sample, all processes together
# Shared memory, not disk: memfds, POSIX shm, a MAP_SHARED|MAP_ANONYMOUS area ("/dev/zero (deleted)")
# and SysV segments ("/SYSV0000002a (deleted)").
SHM_PREFIXES = ("/memfd:", "/dev/shm/", "/dev/zero", "/SYSV")
DELETED = " (deleted)"


@dataclass(frozen=True)
class HiddenFiles:
    memory_bytes: int = 0
    disk_bytes: int = 0
    readable: bool = True  # False: some process's /proc/<pid>/fd was closed to us
    truncated: bool = False  # the walk stopped at MAX_ENTRIES


def hidden_files(pids: Iterable[int], max_entries: int = MAX_ENTRIES) -> HiddenFiles:
    memory = disk = looked = 0
    readable, seen = True, set()
    for pid in pids:
        mapped = _mapped_inodes(pid)
        for folder in ("fd", "map_files"):
            try:
                entries = list(os.scandir(f"/proc/{pid}/{folder}"))
            except PermissionError:
                readable = readable and folder == "map_files"  # map_files needs CAP_SYS_ADMIN; fd is the one that matters
                continue
            except (FileNotFoundError, ProcessLookupError):
                break  # the process is gone
            for entry in entries:
                looked += 1
                if looked > max_entries:
                    return HiddenFiles(memory, disk, readable, truncated=True)
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    continue
                shared = target.startswith(SHM_PREFIXES)
                if not shared and not target.endswith(DELETED):
                    continue
                try:
                    info = os.stat(entry.path)  # the magic link leads to the file itself, unlinked or not
                except OSError:
                    continue
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                size = info.st_blocks * 512
                if not shared:
                    disk += size
                elif folder == "fd" and info.st_ino not in mapped:
                    memory += size  # a mapped one is in the process's USS already
    return HiddenFiles(memory, disk, readable)


def _mapped_inodes(pid: int) -> set[int]:
    """Inodes of the shared-memory files ``pid`` maps (``/proc/<pid>/maps``: readable where smaps is)."""
    inodes: set[int] = set()
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith(SHM_PREFIXES):
                    inodes.add(int(fields[4]))
    except (OSError, ValueError):
        pass
    return inodes
