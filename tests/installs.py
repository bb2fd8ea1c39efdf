"""Where a test installs the bot: a copy of this checkout in a private home, as operators do.

Operators clone the bot into a home of their own: ``/root/solobot`` (``/root`` mode 0700 on
stock Debian and Ubuntu) when the bot runs as root, ``/home/<user>/solobot`` (the home 0700,
owned by the user) when it runs as an ordinary user. CI clones into a private folder too, so
the checkout the tests run from may be out of reach of every other uid: a test that runs the
bot as an ordinary user runs it from that user's own copy, never from this checkout.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.identity import drop_privileges
from sandbox.private_ancestors import expose_needed_paths

PROJECT = Path(__file__).resolve().parent.parent
AS_USER = Path(__file__).resolve().parent / "as_user.py"
UNPRIVILEGED_USER = "solobot-escape"
PRIVATE_NOTE = "operator-notes.txt"  # beside the copy, in the private home: no module may see it


def unprivileged_user() -> pwd.struct_passwd:
    """The ordinary user tests run the bot as (created on first use; needs root)."""
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", UNPRIVILEGED_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(UNPRIVILEGED_USER)


def checkout_files() -> list[str]:
    """The checkout's files as a clone would have them: tracked, plus new ones not ignored yet."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (PROJECT / name).is_file()]


@contextmanager
def clone_in_private_home(owner: pwd.struct_passwd | None = None, *, with_modules: bool = False) -> Iterator[Path]:
    """This checkout's files in ``<home>/solobot``; ``<home>`` is 0700 and holds the operator's note.

    ``owner=None``: root's install (``/root/solobot``). Otherwise the ordinary user's: the home
    and every file in it belong to that user, in a folder anyone may traverse (as ``/home`` is).
    ``with_modules``: keep the project's example modules (left out by default: tests bring theirs).
    """
    base = Path(tempfile.mkdtemp(prefix="solobot-homes-"))
    base.chmod(0o755)
    home = base / ("root" if owner is None else owner.pw_name)
    home.mkdir(mode=0o700)
    try:
        clone = home / "solobot"
        for name in checkout_files():
            if with_modules or not name.startswith("modules/"):
                (clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(PROJECT / name, clone / name)
        clone.chmod(0o755)
        (home / PRIVATE_NOTE).write_text("the operator's own notes\n")
        if owner is not None:
            for path in [home, *home.rglob("*")]:
                os.lchown(path, owner.pw_uid, owner.pw_gid)
        yield clone
    finally:
        shutil.rmtree(base, ignore_errors=True)


def interpreter_paths() -> list[Path]:
    """The folders this interpreter runs from (its prefixes: the binary, the standard library, site-packages)."""
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    return list(dict.fromkeys(Path(p).resolve() for p in prefixes))


def become_user(uid: int, gid: int) -> None:
    """In a process still running as root: go on as ``uid``/``gid``, still able to run this interpreter.

    An ordinary user's bot runs an interpreter that user can read. The tests' interpreter may be
    root's (pyenv under ``/root``, which is 0700 on stock servers): then this process, and what it
    starts, get a private mount view in which the interpreter's folders are reachable (the
    product's own mechanism for root-from-``/root`` installs, ``sandbox.private_ancestors``);
    nothing changes for any other process. Where the interpreter is reachable anyway (``/usr``,
    a world-traversable ``/root``) it does nothing but drop the privileges.
    """
    expose_needed_paths(interpreter_paths(), uid, gid)
    drop_privileges(uid, gid)


def as_user_command(uid: int, gid: int, command: list[str]) -> list[str]:
    """``command`` run as ``uid``/``gid`` through ``tests/as_user.py`` (see ``become_user``); started as root."""
    return [sys.executable, str(AS_USER), str(uid), str(gid), *command]
