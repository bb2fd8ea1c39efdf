"""The periodic check: licences and revocations, update notices (every ``CATALOG_CHECK_INTERVAL``).

* A paid module whose licence expired or was revoked is stopped (its data stays) and the admins
  are told why; when a valid licence appears again it is started.
* When the catalog cannot be reached, the last verified revocation list keeps counting for
  ``CATALOG_OFFLINE_GRACE`` seconds since the catalog last answered; after that paid modules are
  stopped (a licence that cannot be re-checked is not trusted forever).
* Admins get one message per new release of an installed module, with its changelog and
  «Обновить»; a release that failed to start here is not announced again.
"""

from __future__ import annotations

import asyncio
import logging
import time

from catalog.verify import Index
from runtime.operations import Operation

from .errors import InstallRefused
from .feed import CatalogUnreachable
from .service import Installer, newer

log = logging.getLogger("solobot.installer")

CHANGELOG_LIMIT = 1500


class CatalogWatch:
    def __init__(self, installer: Installer, *, interval: float, offline_grace: float) -> None:
        self.installer = installer
        self.interval = interval
        self.offline_grace = offline_grace

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # one bad round must not end the checks
                log.exception("[catalog] the periodic licence/update check failed")
            await asyncio.sleep(self.interval)

    async def check_once(self, now: float | None = None) -> None:
        installer = self.installer
        moment = time.time() if now is None else now
        index = None
        offline_reason = None
        try:
            index = await installer.feed.index()
            revoked = (await installer.feed.revocations()).ids
        except (CatalogUnreachable, InstallRefused) as exc:
            last = installer.state.last_contact
            cached = installer.feed.cached_revocations()
            if last is not None and moment - last <= self.offline_grace and cached is not None:
                revoked = cached.ids
                log.warning("[catalog] %s — using the revocation list from %s", exc, time.ctime(last))
            else:
                revoked = frozenset()
                hours = int(self.offline_grace // 3600)
                offline_reason = f"каталог недоступен дольше {hours} ч, лицензию нельзя перепроверить ({exc})"
        await self._licences(revoked, moment, offline_reason)
        if index is not None:
            await self._notices(index)

    async def _licences(self, revoked: frozenset[str], moment: float, offline_reason: str | None) -> None:
        installer = self.installer
        stopped = installer.state.stopped_for_licence()
        for name, record in installer.records.all().items():
            if not record.paid:
                continue
            problem = offline_reason
            if problem is None:
                try:
                    installer.wallet.licence_for(name, revoked, now=moment)
                except InstallRefused as exc:
                    problem = str(exc)
            if problem is not None:
                if name in stopped and installer.runtime.module_status(name)["state"] == "stopped":
                    continue  # stopped already, the admins were told
                # Also when someone started it by hand since: without a licence it does not run.
                result = await installer.runtime.operate(name, Operation.STOP)
                if not result.ok:  # not marked stopped: the next check tries again
                    await self._tell(f"⚠️ Модуль {name} без действующей лицензии ({problem}), но не остановился: {result.error}")
                    continue
                installer.state.set_licence_stopped(name, problem)
                log.warning("[catalog] %s stopped: %s", name, problem)
                await self._tell(f"⛔️ Модуль {name} остановлен: {problem}. Данные модуля сохранены.")
            elif problem is None and name in stopped:
                installer.state.set_licence_stopped(name, None)
                result = await installer.runtime.operate(name, Operation.START)
                if result.ok:
                    await self._tell(f"✅ Лицензия модуля {name} снова действует: модуль запущен.")
                else:
                    await self._tell(f"⚠️ Лицензия модуля {name} снова действует, но он не запустился: {result.error}")

    async def _notices(self, index: Index) -> None:
        installer = self.installer
        for name, record in installer.records.all().items():
            latest = index.latest(name)
            if latest is None or latest.version == record.version:
                continue
            if not newer(latest.version, record.version) or installer.state.was_notified(name, latest.version):
                continue
            if latest.version in installer.state.failed(name):
                continue
            changelog = (latest.changelog or "—").strip()
            if len(changelog) > CHANGELOG_LIMIT:
                changelog = changelog[: CHANGELOG_LIMIT - 1] + "…"
            text = f"🆕 Доступно обновление {name}: {record.version} → {latest.version}\n\nЧто нового:\n{changelog}"
            if installer.notify is not None:
                await installer.notify(text, (name, latest.version))
            installer.state.mark_notified(name, latest.version)

    async def _tell(self, text: str) -> None:
        if self.installer.notify is not None:
            await self.installer.notify(text, None)
