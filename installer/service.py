"""``Installer``: install, update, roll back and remove catalog modules on a running bot.

Every operation runs under one lock (one change to ``modules/`` at a time), refuses with
:class:`InstallRefused` before touching anything it cannot finish, and on a failed start puts
the folders, ``modules.toml`` and the records back as they were. The runtime is driven through
its own operations: ``start`` for a new module, ``reload`` (keep-last-good) for an update or a
rollback, so a failing release never replaces one that serves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packaging.version import Version

from catalog.uploads.manifest import grows_beyond
from catalog.verify import Index, Licence, Release, VerificationError, load_public_key
from runtime.operations import Operation, OperationResult

from . import grants
from .errors import InstallRefused
from .feed import CatalogFeed, CatalogUnreachable
from .folders import ModuleFolders
from .licences import LicenceWallet
from .records import Installed, InstallRecords, new_record
from .staging import stage_release
from .state import ClientState

log = logging.getLogger("solobot.installer")

CLIENT_DIR = "catalog-client"


class ModuleOperations(Protocol):
    """The part of ``ModuleRuntime`` the installer drives."""

    async def operate(self, name: str, operation: Operation | str) -> OperationResult: ...
    async def forget(self, name: str) -> None: ...
    def module_status(self, name: str) -> dict[str, Any]: ...


# notify(text, update_to): a message to every admin; ``update_to`` = (module, version) adds «Обновить».
Notify = Callable[[str, "tuple[str, str] | None"], Awaitable[None]]


@dataclass(frozen=True)
class Plan:
    """What installing ``release`` would do, for the operator to confirm."""

    release: Release
    paid: bool
    requests: dict[str, Any]
    reasons: dict[str, str]
    licence: Licence | None
    licence_problem: str | None
    installed: Installed | None
    hand_placed: bool  # modules/<name> exists and was not installed from the catalog
    failed_before: str | None  # why this release failed to start here before
    new_requests: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    module: str
    version: str
    message: str
    status: dict[str, Any] | None = None


def newer(a: str, b: str) -> bool:
    try:
        return Version(a) > Version(b)
    except ValueError:
        return False


class Installer:
    def __init__(
        self,
        *,
        catalog_url: str,
        public_key: str,
        data_dir: Path,
        modules_dir: Path,
        modules_config: Path,
        admin_ids: tuple[int, ...],
        bot_id: int | None,
        runtime: ModuleOperations,
        notify: Notify | None = None,
    ) -> None:
        try:
            key = load_public_key(public_key)
        except VerificationError as exc:
            raise InstallRefused(f"CATALOG_PUBLIC_KEY: {exc}") from None
        folder = Path(data_dir) / CLIENT_DIR
        self.catalog_url = catalog_url.rstrip("/")
        self.state = ClientState(folder / "state.json")
        self.records = InstallRecords(folder / "installed.json")
        self.wallet = LicenceWallet(folder / "licences.json", key, admin_ids, bot_id)
        self.feed = CatalogFeed(catalog_url, key, self.state)
        self.folders = ModuleFolders(modules_dir)
        self.folders.clean_leftovers()
        self.modules_config = Path(modules_config)
        self.admin_ids = admin_ids
        self.runtime = runtime
        self.notify = notify
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ reading

    async def index(self, *, allow_cached: bool = True) -> Index:
        """The catalog's index; when it is unreachable, the last verified one that has not expired."""
        try:
            return await self.feed.index()
        except CatalogUnreachable:
            cached = self.feed.cached_index() if allow_cached else None
            if cached is None:
                raise
            return cached

    async def revoked(self) -> frozenset[str]:
        try:
            return (await self.feed.revocations()).ids
        except CatalogUnreachable:
            cached = self.feed.cached_revocations()
            if cached is None:
                raise
            return cached.ids

    def _choose(self, index: Index, name: str, version: str | None) -> Release:
        if name not in index.modules:
            known = ", ".join(sorted(index.modules)) or "каталог пуст"
            raise InstallRefused(f"В каталоге нет модуля {name!r} (есть: {known}).")
        if version is None:
            release = index.latest(name)
            if release is None:
                raise InstallRefused(f"{name}: у модуля нет опубликованных релизов.")
            return release
        try:
            release = index.release(name, version)
        except VerificationError:
            versions = ", ".join(r.version for r in index.releases(name))
            raise InstallRefused(f"{name}: нет релиза {version} (есть: {versions}).") from None
        if release.yanked:
            raise InstallRefused(f"{name} {version}: релиз отозван разработчиком — выберите другой.")
        return release

    async def plan(self, name: str, version: str | None = None) -> Plan:
        index = await self.index()
        release = self._choose(index, name, version)
        entry = index.modules[name]
        paid = bool(entry.get("paid"))
        licence, problem = None, None
        if paid:
            try:
                licence = self.wallet.licence_for(name, await self.revoked())
            except InstallRefused as exc:
                problem = str(exc)
        installed = self.records.get(name)
        hand_placed = installed is None and self.folders.live(name).exists()
        previous_requests: dict[str, Any] = {}
        if installed is not None:
            try:
                previous_requests = dict(index.release(name, installed.version).requests)
            except VerificationError:
                previous_requests = {}
        return Plan(
            release=release,
            paid=paid,
            requests=dict(release.requests),
            reasons=dict(release.reasons or {}),
            licence=licence,
            licence_problem=problem,
            installed=installed,
            hand_placed=hand_placed,
            failed_before=self.state.failed(name).get(release.version),
            new_requests=grows_beyond(dict(release.requests), previous_requests) if installed else [],
        )

    # --------------------------------------------------------------- operations

    async def add_licence(self, token: str) -> Licence:
        try:
            revoked = await self.revoked()
        except CatalogUnreachable:
            revoked = frozenset()
        return self.wallet.add(token, revoked)

    async def install(
        self, name: str, version: str | None = None, *, grant: bool = True, replace_hand_placed: bool = False
    ) -> Outcome:
        """Install ``name`` (its latest release, or ``version``), or update to it when installed."""
        async with self._lock:
            plan = await self.plan(name, version)
            return await self._install(plan, grant=grant, replace_hand_placed=replace_hand_placed)

    async def update(self, name: str | None = None) -> list[Outcome]:
        """Update ``name`` (or every catalog module) to its latest release; releases that failed before are skipped."""
        names = [name] if name else sorted(self.records.all())
        if name is not None and self.records.get(name) is None:
            raise InstallRefused(f"{name}: модуль не установлен из каталога — установите его: solobot catalog install {name}")
        outcomes = []
        async with self._lock:
            index = await self.index()
            for module in names:
                current = self.records.get(module)
                latest = index.latest(module)
                if current is None or latest is None or not newer(latest.version, current.version):
                    outcomes.append(Outcome(module, current.version if current else "", f"{module}: обновлений нет."))
                    continue
                if latest.version in self.state.failed(module):
                    why = self.state.failed(module)[latest.version]
                    outcomes.append(
                        Outcome(
                            module,
                            current.version,
                            f"{module} {latest.version} уже не запустился здесь ({why}); "
                            f"повторить вручную: solobot catalog install {module}=={latest.version}",
                        )
                    )
                    continue
                plan = await self.plan(module, latest.version)
                try:
                    outcomes.append(await self._install(plan, grant=True, replace_hand_placed=False))
                except InstallRefused as exc:
                    if name is not None:
                        raise
                    outcomes.append(Outcome(module, current.version, str(exc)))
        return outcomes

    async def _install(self, plan: Plan, *, grant: bool, replace_hand_placed: bool) -> Outcome:
        release = plan.release
        name, label = release.module, f"{release.module} {release.version}"
        if plan.installed is not None and plan.installed.version == release.version:
            raise InstallRefused(f"{label} уже установлен.")
        if plan.paid and plan.licence is None:
            raise InstallRefused(plan.licence_problem or f"{name}: нет лицензии.")
        if plan.hand_placed and not replace_hand_placed:
            raise InstallRefused(
                f"Папка modules/{name} уже есть и поставлена не из каталога. Заменить её можно только с подтверждением "
                f"(«Заменить папку» или --replace); старая папка сохранится для отката."
            )
        data = await self.feed.download(release)
        staged = await stage_release(data, release, self.folders.staging(name, release.version))
        before = grants.snapshot(self.modules_config)
        source_note = f"{label} из каталога {self.catalog_url} (sha256 {release.sha256[:12]}…)"
        try:
            if grant and staged.manifest.requests:
                grants.write_grant(self.modules_config, name, staged.manifest.requests, f"выдано при установке {source_note}")
            switch = self.folders.switch_in(name, staged.folder)
        except BaseException:
            grants.restore(self.modules_config, before)
            self.folders.discard(staged.folder)
            raise
        fresh = plan.installed is None and not plan.hand_placed
        result = await self.runtime.operate(name, Operation.START if fresh else Operation.RELOAD)
        if not result.ok:
            reason = result.error
            failed = self.folders.trash(name)
            switch.undo(failed)
            self.folders.discard(failed)
            grants.restore(self.modules_config, before)
            if fresh:
                await self.runtime.forget(name)
            self.state.remember_failure(name, release.version, reason)
            kept = f"; работает прежняя версия {plan.installed.version}" if plan.installed else ""
            message = f"{label} не запустился{kept}. Причина: {reason}"
            log.error("[catalog] %s", message)
            if self.notify is not None and not fresh:
                await self.notify("⚠️ " + message, None)
            raise InstallRefused(message)
        switch.keep()
        self.state.forget_failure(name, release.version)
        previous = None
        if plan.installed is not None:
            previous = {"version": plan.installed.version, "sha256": plan.installed.sha256}
        elif plan.hand_placed:
            previous = {"version": "вручную", "sha256": ""}
        self.records.put(
            name,
            new_record(
                release.version,
                release.sha256,
                self.catalog_url,
                licence_id=plan.licence.licence_id if plan.licence else None,
                paid=plan.paid,
                previous=previous,
            ),
        )
        self.state.set_licence_stopped(name, None)
        verb = "обновлён до" if plan.installed else "установлен:"
        log.info("[catalog] %s %s %s", name, verb, release.version)
        return Outcome(name, release.version, f"✅ {name} {verb} {release.version}", self.runtime.module_status(name))

    async def rollback(self, name: str) -> Outcome:
        """Back to the release kept beside the live one; the live one becomes the previous (a second rollback undoes it)."""
        async with self._lock:
            record = self.records.get(name)
            if record is None:
                raise InstallRefused(f"{name}: модуль не установлен из каталога — откатывать нечего.")
            if record.previous is None or not self.folders.previous(name).exists():
                raise InstallRefused(f"{name}: предыдущей версии нет — откат возможен после обновления.")
            if record.paid:
                self.wallet.licence_for(name, await self.revoked())
            self.folders.swap_previous(name)
            result = await self.runtime.operate(name, Operation.RELOAD)
            if not result.ok:
                self.folders.swap_previous(name)
                old = record.previous["version"]
                raise InstallRefused(f"{name}: версия {old} не запустилась, работает {record.version}. Причина: {result.error}")
            self.records.put(
                name,
                Installed(
                    version=record.previous["version"],
                    sha256=record.previous.get("sha256", ""),
                    source=record.source,
                    installed_at=record.installed_at,
                    licence_id=record.licence_id,
                    paid=record.paid,
                    previous={"version": record.version, "sha256": record.sha256},
                ),
            )
            return Outcome(
                name,
                record.previous["version"],
                f"↩️ {name} откатан к {record.previous['version']}",
                self.runtime.module_status(name),
            )

    async def remove(self, name: str) -> Outcome:
        """Stop the module and delete its code (live and previous); its database schema and data folder stay."""
        async with self._lock:
            record = self.records.get(name)
            if record is None:
                raise InstallRefused(
                    f"{name}: модуль не установлен из каталога; папку, поставленную вручную, удалите сами "
                    f"(solobot modules stop {name}, затем удалите modules/{name})."
                )
            await self.runtime.forget(name)
            self.folders.remove(name)
            grants.remove_grant(self.modules_config, name)
            self.records.drop(name)
            self.state.set_licence_stopped(name, None)
            return Outcome(name, record.version, f"🗑 {name} удалён; его данные (схема в базе, папка данных) сохранены.")
