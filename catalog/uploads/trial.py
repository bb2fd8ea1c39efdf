"""``WarmTrial``: the catalog's side of the start check — one warm child process (``trial_start``), started on first use.

Checks go through it one at a time. A check that does not answer in time, or a child that died,
is killed and replaced on the next check; what it wrote to stderr (its log) is quoted in the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120.0  # the child imports the runtime and starts its zygote
CHECK_TIMEOUT = 60.0


class TrialFailed(RuntimeError):
    """The start check itself failed (not the module); the message has the tail of the child's log."""


class WarmTrial:
    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._root: Path | None = None
        self._lock = asyncio.Lock()

    async def start_module(self, source: Path, name: str) -> dict[str, Any]:
        """Start the module in ``source`` (a folder named anything) as ``name``; the child's answer."""
        async with self._lock:
            process = await self._ensure()
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps({"source": str(source), "name": name}).encode() + b"\n")
            try:
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), CHECK_TIMEOUT)
            except (TimeoutError, ConnectionError) as exc:
                await self._discard()
                raise TrialFailed(f"no answer within {CHECK_TIMEOUT:.0f} s ({exc.__class__.__name__})") from None
            if not line:
                tail = self._log_tail()
                await self._discard()
                raise TrialFailed(f"the check process exited: {tail}")
            return json.loads(line)

    async def prepare(self) -> None:
        """Start the child now, so the first upload does not wait for it (failures are retried at the next check)."""
        async with self._lock:
            with contextlib.suppress(TrialFailed):
                await self._ensure()

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        await self._discard()
        self._root = Path(tempfile.mkdtemp(prefix="solobot-catalog-trial-"))
        self._root.chmod(0o755)  # module processes (their own uid) traverse it
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        with open(self._root / "trial.log", "wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "catalog.uploads.trial_start", str(self._root),
                cwd=str(PROJECT_ROOT), env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=log, start_new_session=True,
            )  # fmt: skip
        assert self._process.stdout is not None
        try:
            ready = await asyncio.wait_for(self._process.stdout.readline(), READY_TIMEOUT)
        except TimeoutError:
            ready = b""
        if not ready.strip().startswith(b'{"ready"'):
            tail = self._log_tail()
            await self._discard()
            raise TrialFailed(f"the check process did not start: {tail}")
        return self._process

    def _log_tail(self) -> str:
        try:
            lines = (self._root / "trial.log").read_text(errors="replace").strip().splitlines()  # type: ignore[operator]
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:]) or "(empty log)"

    async def _discard(self) -> None:
        process, root = self._process, self._root
        self._process = self._root = None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()  # EOF: the child leaves its runtime cleanly (module processes, zygote)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                await process.wait()
        if root is not None:
            await asyncio.to_thread(shutil.rmtree, root, True)

    async def aclose(self) -> None:
        async with self._lock:
            await self._discard()
