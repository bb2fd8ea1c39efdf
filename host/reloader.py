"""Hot reload for module developers (``solobot run --reload``).

``ModuleReloader`` watches the modules folder. Saving a file under ``modules/<name>/`` reloads
that module only, once the burst of writes has been quiet for ``debounce`` seconds; a new
module folder is started. A reload forks the module's new code first and retires the old
process only once the new one is up (``ModuleRuntime.reload``): if the new code fails to import
or to handshake, the previous version keeps serving, the runtime logs the traceback and keeps
it as ``last_error`` (``solobot modules status`` shows it), and the next save tries again.
Other modules' processes are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from types import TracebackType

from watchfiles import Change, DefaultFilter, awatch

from runtime import ModuleRuntime, Operation, UnknownModuleError

log = logging.getLogger("solobot.reload")

MAX_BATCH_MS = 5_000  # a continuous stream of writes still reloads at least this often
WATCH_TIMEOUT_MS = 500


class ModuleSourceFilter(DefaultFilter):
    """watchfiles' defaults (``__pycache__``, ``.pyc``, vim/emacs/JetBrains temp files) plus a few more editors'."""

    ignore_entity_patterns = (
        *DefaultFilter.ignore_entity_patterns,
        r"^#.*#$",  # emacs auto-save
        r"^4913$",  # vim's "can I write here" probe
        r"\.(tmp|temp|bak|orig|rej|swpx)$",
        r"\.kate-swp$",
    )


class ModuleReloader:
    """``async with ModuleReloader(runtime, modules_dir):`` watches while inside."""

    def __init__(self, runtime: ModuleRuntime, modules_dir: str | os.PathLike[str], debounce: float = 0.3) -> None:
        self.runtime = runtime
        self.modules_dir = Path(modules_dir).resolve()
        self.debounce = debounce
        self.filter = ModuleSourceFilter()
        self.reloads = 0  # successful reloads and starts, for tests and curiosity
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> ModuleReloader:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="reloader")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        # The watch runs in a thread that checks the stop event every step: setting it ends the
        # thread promptly; a bare cancel would wait for watchfiles' 5 s timeout.
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run(self) -> None:
        """Watch until :meth:`aclose` (or cancellation); reloads happen in this task, one batch at a time."""
        if not self.modules_dir.is_dir():
            log.warning("hot reload: %s does not exist: nothing to watch", self.modules_dir)
            return
        log.info("hot reload: watching %s (a saved file reloads its module)", self.modules_dir)
        changes_stream = awatch(
            self.modules_dir,
            watch_filter=self.filter,
            # watchfiles' ``step`` is the quiet time that ends a batch: that is our debounce.
            step=max(1, int(self.debounce * 1000)),
            debounce=MAX_BATCH_MS,
            stop_event=self._stop,
            rust_timeout=WATCH_TIMEOUT_MS,
            yield_on_timeout=True,  # an empty batch after the timeout tells ``wait_ready`` the watch is armed
        )
        async for changes in changes_stream:
            self._ready.set()
            names = sorted({name for _, path in changes if (name := self._module_of(path))})
            if names:
                # Different modules reload concurrently (each has its own lock in the runtime).
                await asyncio.gather(*(self._apply(name, changes) for name in names))

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the file watch is armed (tests write files only after this)."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def _module_of(self, path: str) -> str | None:
        try:
            parts = Path(path).relative_to(self.modules_dir).parts
        except ValueError:
            return None
        if not parts or parts[0].startswith(("_", ".")):  # discovery skips "_x" and ".x" folders too
            return None
        if len(parts) == 1 and not (self.modules_dir / parts[0]).is_dir():
            return None  # a file lying directly in the modules folder, or a removed folder
        return parts[0]

    async def _apply(self, name: str, changes: set[tuple[Change, str]]) -> None:
        known = name in self.runtime.module_names
        if not (self.modules_dir / name).is_dir():
            if known:
                log.warning("[modules] %s: its folder was removed; it keeps running until `solobot modules stop %s`", name, name)
            return
        try:
            status = self.runtime.module_status(name)  # discovers a folder added while running
        except UnknownModuleError:
            log.debug("hot reload: %s is not a module (yet): it has no __init__.py", name)
            return
        if not status["enabled"]:
            log.info("[modules] %s: changed, but stopped by the operator: not reloading (`solobot modules start %s`)", name, name)
            return
        files = sorted({_short(self.modules_dir, path) for _, path in changes} - {name})
        files = [f for f in files if Path(f).parts[:1] == (name,)]
        reload = known and status["pid"] is not None
        log.info("[modules] %s: %s changed: %s", name, ", ".join(files) or "folder", "reloading" if reload else "starting")
        result = await self.runtime.operate(name, Operation.RELOAD if reload else Operation.START)
        if not result.ok:
            # The runtime has logged why (with the traceback, kept as last_error); say what happens next.
            if not result.load_failed:
                what = f"{result.error} — save again to retry"
            elif result.still_serving:
                what = "the previous version keeps serving — fix the error and save again"
            else:
                what = "the module is not running — fix the error and save again"
            log.error("[modules] %s: hot reload failed; %s", name, what)
            return
        self.reloads += 1
        log.info("[modules] %s: %s, pid %s", name, "reloaded" if reload else "started", self.runtime.module_status(name)["pid"])


def _short(root: Path, path: str) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


__all__ = ["ModuleReloader", "ModuleSourceFilter"]
