"""Which modules the operator stopped, persisted as upstream does.

``<DATA_DIR>/modules_state.json`` (``MODULES_STATE_FILE`` overrides; both read by ``config``) holds
``{"disabled": [names]}``: a stopped module stays stopped after the bot restarts. A file that
cannot be read is reported and moved aside before it is ever overwritten, so an operator's
hand edit is never silently lost.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("solobot.runtime")


def default_state_file() -> Path:
    """The file ``solobot run`` uses too: the operator's settings say where (``Settings.modules_state_path``)."""
    from config import load_settings

    return load_settings(require_token=False).modules_state_path


class StateStore:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_state_file()
        self._unreadable = False
        self.disabled: set[str] = self._load()

    def _load(self) -> set[str]:
        if not self.path.exists():
            return set()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            names = data["disabled"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError('"disabled" must be a list of module names')
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._unreadable = True
            log.error(
                '[modules] cannot read %s (%s); expected {"disabled": [names]}. '
                "Every module starts enabled; the file will be kept as %s.bad when state is next saved.",
                self.path,
                exc,
                self.path.name,
            )
            return set()
        return {n.strip() for n in names if n.strip()}

    def is_enabled(self, name: str) -> bool:
        return name not in self.disabled

    def set_enabled(self, name: str, enabled: bool) -> None:
        before = set(self.disabled)
        (self.disabled.discard if enabled else self.disabled.add)(name)
        if self.disabled != before:
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._unreadable and self.path.exists():
            aside = self.path.with_name(f"{self.path.name}.bad-{int(time.time())}")
            self.path.rename(aside)
            log.warning("[modules] kept the unreadable state file as %s", aside)
            self._unreadable = False
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"disabled": sorted(self.disabled)}, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)


class MirroredStateStore(StateStore):
    """The stopped modules as the shared database says (several workers): kept in memory, never in a file.

    The database row is written by ``workers.operations_journal`` after each operation; this
    process only mirrors it, so its modules start (or stay stopped) as the operator wanted.
    """

    def __init__(self, disabled: set[str]) -> None:
        self.path = Path("(the shared database)")
        self._unreadable = False
        self.disabled = set(disabled)

    def _save(self) -> None:
        return None
