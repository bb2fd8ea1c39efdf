"""``python tests/as_user.py UID GID COMMAND...``: run COMMAND as another user, with this interpreter.

Started as root. A fresh, single-threaded process does what ``subprocess``'s ``preexec_fn`` must
not do in a test process full of threads: set up the mount view ``become_user`` may need, drop
the privileges, then exec COMMAND (usually ``sys.executable ...``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout this launcher belongs to

from tests.installs import become_user  # importable once the checkout is on sys.path


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        raise SystemExit("usage: python tests/as_user.py UID GID COMMAND...")
    uid, gid, command = int(argv[0]), int(argv[1]), argv[2:]
    become_user(uid, gid)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
