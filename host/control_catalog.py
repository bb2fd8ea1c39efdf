"""The control socket's ``catalog`` command: ``solobot catalog ...`` asks the running bot's installer.

    → {"cmd": "catalog", "action": "list"}                      ← {"ok", "catalog", "offline", "modules": [...]}
    → {"cmd": "catalog", "action": "show", "module": x, "version": v|null}
                                                                ← {"ok", "module": card (releases, requests, reasons,
                                                                   licence, installed, hand_placed, failed_before)}
    → {"cmd": "catalog", "action": "install", "module": x, "version": v|null, "grant": bool, "replace": bool}
    → {"cmd": "catalog", "action": "update", "module": x|null}  ← {"ok", "results": [{"module", "version", "message"}]}
    → {"cmd": "catalog", "action": "rollback"|"remove", "module": x}
    → {"cmd": "catalog", "action": "licence", "token": t}      ← {"ok", "message"}

Everything in a request is untrusted: names must be module names, versions text, flags booleans;
the installer checks names and versions against the signed index.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from installer import Installer, InstallRefused
from installer.service import Outcome
from runtime.discovery import is_valid_module_name

ACTIONS = ("list", "show", "install", "update", "rollback", "remove", "licence")
MAX_VERSION = 64
MAX_TOKEN = 4096


class CatalogCommands:
    def __init__(self, installer: Installer) -> None:
        self.installer = installer

    def problem(self, request: dict[str, Any]) -> str | None:
        """Why ``request`` is malformed, or None."""
        action = request.get("action")
        if action not in ACTIONS:
            return f"unknown catalog action {action!r}: use one of {', '.join(ACTIONS)}"
        module = request.get("module")
        needs_module = action in ("show", "install", "rollback", "remove")
        if (needs_module or module is not None) and (not isinstance(module, str) or not is_valid_module_name(module)):
            return f'"module" must be a module name for catalog {action}'
        version = request.get("version")
        if version is not None and (not isinstance(version, str) or not 0 < len(version) <= MAX_VERSION):
            return '"version" must be a release version such as "1.2.0"'
        for flag in ("grant", "replace"):
            if request.get(flag) is not None and not isinstance(request.get(flag), bool):
                return f'"{flag}" must be true or false'
        token = request.get("token")
        if action == "licence" and (not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN):
            return '"token" must be the licence token from the catalog cabinet'
        return None

    def is_long(self, request: dict[str, Any]) -> bool:
        return request.get("action") in ("install", "update", "rollback", "remove")

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._handle(request)
        except InstallRefused as exc:
            return {"ok": False, "error": str(exc), "refused": True}

    async def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        installer = self.installer
        action, module, version = request["action"], request.get("module"), request.get("version")
        if action == "list":
            return await self._list()
        if action == "update":
            return {"ok": True, "results": [_result(o) for o in await installer.update(module)]}
        if action == "licence":
            licence = await installer.add_licence(request["token"])
            return {"ok": True, "message": f"licence {licence.licence_id} for {licence.module} (user {licence.user_id}) kept"}
        assert isinstance(module, str)  # problem() refused show/install/rollback/remove without a module name
        if action == "show":
            return {"ok": True, "module": await self._card(module, version)}
        if action == "install":
            outcome = await installer.install(
                module, version, grant=bool(request.get("grant")), replace_hand_placed=bool(request.get("replace"))
            )
            return _outcome(outcome)
        if action == "rollback":
            return _outcome(await installer.rollback(module))
        return _outcome(await installer.remove(module))

    async def _list(self) -> dict[str, Any]:
        installer = self.installer
        index, offline = await installer.feed.index_or_cached()
        try:
            revoked = await installer.revoked()
        except InstallRefused:
            revoked = frozenset()
        modules = []
        for name, entry in sorted(index.modules.items()):
            latest = index.latest(name)
            record = installer.records.get(name)
            modules.append(
                {
                    "name": name,
                    "latest": latest.version if latest else None,
                    "paid": bool(entry.get("paid")),
                    "description": str(entry.get("description") or ""),
                    "installed": record.version if record else None,
                    "licence_held": bool(installer.wallet.valid(name, revoked)),
                }
            )
        return {"ok": True, "catalog": installer.catalog_url, "offline": offline, "modules": modules}

    async def _card(self, module: str, version: str | None) -> dict[str, Any]:
        plan = await self.installer.plan(module, version)
        index = await self.installer.index()
        entry = index.modules[module]
        return {
            "name": module,
            "version": plan.release.version,
            "paid": plan.paid,
            "description": str(entry.get("description") or ""),
            "releases": [{"version": r.version, "yanked": r.yanked, "changelog": r.changelog} for r in index.releases(module)],
            "requests": plan.requests,
            "reasons": plan.reasons,
            "new_requests": plan.new_requests,
            "licence": plan.licence.licence_id if plan.licence else None,
            "licence_problem": plan.licence_problem,
            "installed": asdict(plan.installed) if plan.installed else None,
            "hand_placed": plan.hand_placed,
            "failed_before": plan.failed_before,
        }

    def source_of(self, module: str) -> dict[str, Any] | None:
        """The install record of ``module`` for ``solobot modules status`` (None: not from the catalog)."""
        record = self.installer.records.get(module)
        return asdict(record) if record else None


def _result(outcome: Outcome) -> dict[str, Any]:
    return {"module": outcome.module, "version": outcome.version, "message": outcome.message}


def _outcome(outcome: Outcome) -> dict[str, Any]:
    return {"ok": True, **_result(outcome), "status": outcome.status}
