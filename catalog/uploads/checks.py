"""Every upload, checked before anyone can install it: archive safety, the seed's layout, the
project's checker (``solobot modules check``: errors block, warnings are shown) and a start of the
module in a sandboxed process that must reach ``running``.

The module is unpacked into a fresh temporary folder that module processes can traverse
(their own uid when the catalog runs as root) and removed afterwards, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from modcheck import check_module

from ..config import UploadLimits
from .archive import ArchiveRejected, extract_module
from .manifest import ManifestError, read_manifest
from .report import Report, Step
from .trial import TrialFailed, WarmTrial

# The checker's rules whose findings block a release; the others are shown as warnings.
BLOCKING_RULES = frozenset({"SB000", "SB001", "SB004", "SB005", "SB006", "SB008", "SB009", "SB013", "SB014", "SB015"})
LAYOUT_FILES = ("__init__.py", "router.py")


class UploadChecker:
    """Runs the checks; ``start_check=False`` leaves the sandboxed start out (reported as not run)."""

    def __init__(self, limits: UploadLimits, *, start_check: bool = True, concurrency: int = 2) -> None:
        self.limits = limits
        self.start_check = start_check
        self._slots = asyncio.Semaphore(concurrency)
        self._trial = WarmTrial()  # started by warm_up() or on the first upload that gets that far
        self._warming: asyncio.Future[None] | None = None

    async def check(self, data: bytes, module: str) -> Report:
        async with self._slots:
            root = Path(tempfile.mkdtemp(prefix="solobot-catalog-check-"))
            try:
                root.chmod(0o755)
                return await self._check_in(root, data, module)
            finally:
                await asyncio.to_thread(shutil.rmtree, root, True)

    async def _check_in(self, root: Path, data: bytes, module: str) -> Report:
        report = Report()
        folder = root / "modules" / module
        (root / "modules").mkdir(mode=0o755)
        archive = report.step("archive", "Безопасность архива")
        try:
            files = await asyncio.to_thread(extract_module, data, module, folder, self.limits)
            archive.notes.append(f"{len(files)} файлов, {len(data)} байт")
        except ArchiveRejected as exc:
            archive.errors.append(str(exc))
            return report
        layout = report.step("layout", "Структура модуля (как в руководстве)")
        for name in LAYOUT_FILES:
            if not (folder / name).is_file():
                layout.errors.append(f"Нет файла {name} в modules/{module}/.")
        try:
            manifest = read_manifest(folder)
            report.version, report.min_core = manifest.version, manifest.min_core
            report.requests, report.reasons = manifest.requests, manifest.reasons
        except ManifestError as exc:
            layout.errors.append(str(exc))
        checker = report.step("checker", "Проверка solobot modules check")
        findings = await asyncio.to_thread(check_module, folder)
        for finding in findings:
            where = os.path.relpath(finding.file, root) if os.path.isabs(finding.file) else finding.file
            line = f"{where}:{finding.line}: {finding.rule} {finding.message}"
            (checker.errors if finding.rule in BLOCKING_RULES else checker.warnings).append(line)
        start = report.step("start", "Запуск в песочнице")
        if not self.start_check:
            start.ran = False
            start.notes.append("не запускался (проверка запуска отключена)")
        elif not report.ok:
            start.ran = False
            start.errors.append("Не запускался: сначала исправьте ошибки выше.")
        else:
            await self._start(root, module, start)
        return report

    async def _start(self, root: Path, module: str, step: Step) -> None:
        try:
            result = await self._trial.start_module(root / "modules" / module, module)
        except TrialFailed as exc:
            step.errors.append(f"Проверка запуска не удалась: {exc}")
            return
        if result["state"] != "running":
            step.errors.append(f"Модуль не дошёл до состояния running ({result['state']}): {result['error'] or 'без сообщения'}")
            return
        step.notes.append("running; песочница: " + ", ".join(result["sandbox"]))
        if result["hooks"]:
            step.notes.append("хуки: " + ", ".join(result["hooks"]))
        step.warnings.extend(result["warnings"])

    def warm_up(self) -> None:
        """Start the start-check process in the background (the catalog does this when it starts)."""
        if self.start_check and self._warming is None:
            self._warming = asyncio.ensure_future(self._trial.prepare())

    async def aclose(self) -> None:
        """Stop the warm start-check process (the catalog does this when it stops)."""
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
        await self._trial.aclose()

    async def __aenter__(self) -> UploadChecker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
