"""Where releases live on disk while they are installed, swapped and rolled back.

``modules/<name>`` is the live release (what the runtime starts). Beside it, in
``modules/.catalog-installer/`` (hidden from module discovery, 0700, same filesystem so every
move is an atomic ``rename``): ``staging/<name>-<version>`` while a download is checked,
``previous/<name>`` for the one-step rollback, ``trash/`` for what a successful switch retires.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

WORK_DIR = ".catalog-installer"


@dataclass
class Switch:
    """One release replacing another in ``modules/<name>``; :meth:`undo` puts everything back."""

    live: Path
    previous: Path
    displaced_previous: Path | None  # the older previous release, moved to trash until the switch is kept
    had_live: bool

    def undo(self, failed_to: Path) -> None:
        """The new release goes to ``failed_to`` (for removal), the old one back to ``modules/<name>``."""
        if self.live.exists():
            os.replace(self.live, failed_to)
        if self.had_live:
            os.replace(self.previous, self.live)
        if self.displaced_previous is not None:
            os.replace(self.displaced_previous, self.previous)

    def keep(self) -> None:
        if self.displaced_previous is not None:
            shutil.rmtree(self.displaced_previous, ignore_errors=True)


class ModuleFolders:
    def __init__(self, modules_dir: Path) -> None:
        self.modules_dir = Path(modules_dir).resolve()
        self.work = self.modules_dir / WORK_DIR

    def clean_leftovers(self) -> None:
        """Staging and trash left by a bot that stopped mid-install: never live, safe to delete."""
        for area in ("staging", "trash"):
            shutil.rmtree(self.work / area, ignore_errors=True)

    def _area(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.work, 0o700)
        return path

    def live(self, module: str) -> Path:
        return self.modules_dir / module

    def previous(self, module: str) -> Path:
        return self._area("previous") / module

    def staging(self, module: str, version: str) -> Path:
        path = self._area("staging") / f"{module}-{version}-{time.time_ns()}"
        return path

    def trash(self, module: str) -> Path:
        return self._area("trash") / f"{module}-{time.time_ns()}"

    def switch_in(self, module: str, staged: Path) -> Switch:
        """Make ``staged`` the live release; the live one becomes ``previous`` (its older one waits in trash)."""
        live, previous = self.live(module), self.previous(module)
        displaced = None
        had_live = live.exists()
        if had_live and previous.exists():
            displaced = self.trash(module)
            os.replace(previous, displaced)
        if had_live:
            os.replace(live, previous)
        # Between these two renames modules/<name> is absent for an instant; only a start reads it,
        # and starts of this module wait for the installer (it drives them).
        os.replace(staged, live)
        return Switch(live, previous, displaced, had_live)

    def swap_previous(self, module: str) -> None:
        """Exchange the live release and the previous one (a rollback, or its undo)."""
        live, previous = self.live(module), self.previous(module)
        parked = self.trash(module)
        os.replace(live, parked)
        os.replace(previous, live)
        os.replace(parked, previous)

    def discard(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def remove(self, module: str) -> None:
        """The module's code, live and previous (its data lives elsewhere and is kept)."""
        for path in (self.live(module), self.previous(module)):
            if path.exists():
                parked = self.trash(module)
                os.replace(path, parked)
                shutil.rmtree(parked, ignore_errors=True)
