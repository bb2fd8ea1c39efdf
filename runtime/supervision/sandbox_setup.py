"""The host side of the sandbox: what each module start is confined to, and who watches it.

For every start of a module, ``ModuleSandboxes.prepare`` reads the operator's permissions
(``modules.toml``; a module with an invalid entry does not start, with the file and line),
allocates the module's own uid when the bot runs as root, creates or updates its PostgreSQL
role and schema (so its process connects with that role, never the owner's), configures its
Bot API policy, and builds the ``SandboxSpec`` the module process applies to itself before any
module code is imported (``runtime.supervision.zygote``). Once the process runs, ``watch`` hands it to the
resource watchdog, which kills it (and so gets it restarted, with the reason) when it uses more
memory or CPU than it may.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panels.gateway import PanelGateway
from runtime.discovery import discover
from sandbox.apply import SandboxSpec, default_list_only_paths, default_read_only_paths, default_read_write_paths, needed_paths
from sandbox.bot_api_policy import BotApiPolicy
from sandbox.containment.cgroup import CgroupBackend, CgroupLimits, ModuleCgroup
from sandbox.containment.choose import choose_backend
from sandbox.db_limits import DatabaseReaper
from sandbox.identity import ModuleIdentities
from sandbox.module_requests import describe_pending, load_module_requests
from sandbox.network.availability import unavailable_reason
from sandbox.network.destinations import NetworkRules, parse_destination, rules_for
from sandbox.permissions import ModulePermissions, PermissionsError, load_operator_config
from sandbox.private_ancestors import fix_for, private_ancestors, probe_mount_views
from sandbox.watchdog import ResourceWatchdog

from .environment import PROJECT_ROOT
from .once_in_thread import OnceInThread

log = logging.getLogger("solobot.runtime")


RolePasswords = Callable[[str], Awaitable[str]]  # module name → its database role's password


class SandboxConfigError(RuntimeError):
    """The module's permissions cannot be used (``modules.toml`` / ``module.toml``); it is not started."""


@dataclass(frozen=True)
class LaunchPlan:
    permissions: ModulePermissions
    spec: dict[str, Any]  # SandboxSpec.to_wire(), sent with the fork request
    database_url: str | None  # the module's own role (the owner's only for a trusted module)
    cgroup: ModuleCgroup | None = None  # this start's own cgroup; the module process joins it first thing
    network: NetworkRules | None = None  # checked by the host on every connect; None: not supervised


class ModuleSandboxes:
    def __init__(
        self,
        *,
        modules_dir: Path,
        data_dir: Path,
        policy: BotApiPolicy,
        config_path: Path | None = None,
        owner_engine: Any = None,  # AsyncEngine of the bot's database, to create module roles
        watchdog: ResourceWatchdog | None = None,
        panel_gateway: PanelGateway | None = None,
        cgroups: CgroupBackend | None = None,
        role_passwords: RolePasswords | None = None,
        workers: int = 1,
    ) -> None:
        """``role_passwords``: each module role's password — by default one per module for this
        process's lifetime; several workers share one module role, so they share its password
        (``workers.role_passwords``). ``workers``: how many processes of each module connect at once."""
        self.modules_dir = Path(modules_dir).resolve()
        self.data_dir = Path(data_dir).resolve()
        module_data = self.data_dir / "modules"
        if module_data == self.modules_dir or self.modules_dir in module_data.parents or module_data in self.modules_dir.parents:
            # The private data folders would be the module's code folders (chowned to the module).
            raise SandboxConfigError(f"DATA_DIR {self.data_dir} must not contain or be the modules folder {self.modules_dir}")
        self.policy = policy
        self.panel_gateway = panel_gateway
        self.config_path = config_path
        self.owner_engine = owner_engine
        self.watchdog = watchdog or ResourceWatchdog()
        # The kernel's per-module containment, where the machine offers it (sandbox/containment).
        self.cgroups = cgroups if cgroups is not None else choose_backend()
        self.as_root = os.geteuid() == 0
        self.identities = ModuleIdentities(self.data_dir / "module-ids.json") if self.as_root else None
        self._reported: set[str] = set()
        # Modules start concurrently; PostgreSQL refuses concurrent GRANT/REVOKE on one object
        # ("tuple concurrently updated"), so role set-up runs one module at a time.
        self._roles_lock = asyncio.Lock()
        self._passwords: dict[str, str] = {}
        self._role_passwords = role_passwords or self._own_password
        self._workers = workers
        self._db_limits: dict[str, tuple[str, float, float]] = {}  # role → (module, statement s, idle s)
        self.db_reaper = (
            DatabaseReaper(owner_engine, lambda: self._db_limits, on_sizes=self.watchdog.set_database_bytes)
            if owner_engine is not None
            else None
        )
        self._mount_views_refused = OnceInThread(probe_mount_views)  # why mount views are refused, or None

    async def prepare(self, module: str, site_packages: Path | None = None) -> LaunchPlan:
        """Everything one start of ``module`` is confined to; ``site_packages``: its own installed requirements."""
        known = [spec.name for spec in discover(self.modules_dir)]  # the runtime's own notion of a module
        try:
            config = load_operator_config(self.config_path, known)
            permissions = config.permissions(module)
            requests = load_module_requests(self.modules_dir / module)
        except PermissionsError as exc:
            raise SandboxConfigError(str(exc)) from None
        self._report_pending(module, describe_pending(requests, permissions))
        self.policy.configure_from(module, permissions)
        if self.panel_gateway is not None:
            self.panel_gateway.configure_from(module, permissions)
        database_url = await self._database_url(module, permissions)
        network = None if permissions.trusted else await asyncio.to_thread(_network_rules, permissions, database_url)
        spec = self._spec(module, permissions, database_url, site_packages)
        spec.network_by_address = network is not None
        refused = unavailable_reason(self.as_root) if network is not None else None
        if refused is not None:  # the module says so in its layers; the host does not serve it
            spec.network_refused, network = refused, None
        await self._check_reachable(spec)
        cgroup = await asyncio.to_thread(self._contain, module, permissions, spec)
        return LaunchPlan(permissions, spec.to_wire(), database_url, cgroup, network)

    def _contain(self, module: str, permissions: ModulePermissions, spec: SandboxSpec) -> ModuleCgroup | None:
        """Create this start's cgroup; fill in what the module process joins and reports (blocking: a thread)."""
        limits = CgroupLimits(permissions.memory_mb, permissions.max_processes, permissions.cpu_cores)
        try:
            cgroup = self.cgroups.create(module, limits)
        except OSError as exc:
            raise SandboxConfigError(f"cannot create its cgroup ({self.cgroups.name}): {exc}") from None
        spec.cgroup_procs = list(cgroup.procs_files) if cgroup is not None else []
        spec.containment = [cgroup.layer] if cgroup is not None else []
        spec.containment += self.cgroups.describe_missing()
        # Memory in memfds that no memory cgroup charges is refused where the bot is not root: its
        # watchdog reads a module's /proc/<pid>/fd only while the module stays dumpable.
        spec.deny_memfd = spec.trust == "sandboxed" and not self.as_root and not (cgroup is not None and cgroup.memory_limited)
        return cgroup

    def close(self) -> None:
        """Remove this host's cgroups (blocking: the runtime calls it in a thread at exit)."""
        self.cgroups.close()

    async def _check_reachable(self, spec: SandboxSpec) -> None:
        """Own uid under a private folder (``/root`` 0700): fine if a mount view is possible, else one clear line."""
        if spec.uid is None or spec.gid is None:
            return
        blocked = private_ancestors(needed_paths(spec), spec.uid, spec.gid)
        if not blocked:
            return
        ancestor, paths = next(iter(blocked.items()))
        refused, first = await self._mount_views_refused.get()  # modules start concurrently: one probe for all
        if first and refused is None:
            log.info("[modules] %s is private: each module sees it through a mount view of only what it needs", ancestor)
        elif first:  # said once, at start, in one line; the modules fail with the same line
            log.error("[modules] %s (%s)", fix_for(ancestor, paths[0]), refused)
        if refused is not None:
            raise SandboxConfigError(f"{fix_for(ancestor, paths[0])} ({refused})")

    def _report_pending(self, module: str, pending: list[str]) -> None:
        if module in self._reported:
            return
        self._reported.add(module)
        for line in pending:
            log.warning("[module %s] permission requested, not granted: %s", module, line)

    async def _database_url(self, module: str, permissions: ModulePermissions) -> str | None:
        if self.owner_engine is None:
            return None
        from sandbox.db_roles import ensure_module_role, role_name

        password = await self._role_passwords(module)
        async with self._roles_lock:
            url = await ensure_module_role(self.owner_engine, module, permissions, password=password, processes=self._workers)
        if not permissions.trusted:
            self._db_limits[role_name(module)] = (module, permissions.db_statement_seconds, permissions.db_idle_seconds)
        return url

    async def _own_password(self, module: str) -> str:
        """One password per module for the host's lifetime: during a reload the old process keeps
        opening connections with it until it is retired."""
        return self._passwords.setdefault(module, secrets.token_urlsafe(24))

    def _spec(
        self, module: str, permissions: ModulePermissions, database_url: str | None, site_packages: Path | None
    ) -> SandboxSpec:
        uid = self.identities.allocate(module) if self.identities is not None and not permissions.trusted else None
        if site_packages is not None and uid is not None:
            _share_with_module(site_packages, uid)
        data = self.data_dir / "modules" / module
        tmp = self.data_dir / "tmp" / module
        ports = list(permissions.tcp_ports) if permissions.network else []
        if permissions.network:  # Landlock's port rules stay, under the host's address check
            ports.extend(parse_destination(d).port for d in permissions.destinations)
        if database_url and not permissions.trusted:
            from database.embedded import module_host_port

            ports.append(module_host_port(database_url)[1])
        list_only = default_list_only_paths(self.modules_dir)
        return SandboxSpec(
            module=module,
            trust=permissions.trust,
            uid=uid,
            gid=uid,
            data_dir=str(data),
            tmp_dir=str(tmp),
            memory_mb=permissions.memory_mb,
            max_processes=permissions.max_processes,
            max_open_files=permissions.max_open_files,
            max_file_size_mb=permissions.max_file_size_mb,
            read_only=[str(p) for p in default_read_only_paths(PROJECT_ROOT, self.modules_dir / module)],
            # Its own packages may hold compiled extensions: they are mapped executable.
            read_execute=[str(site_packages)] if site_packages is not None else [],
            read_write=[str(p) for p in default_read_write_paths(data, tmp)],
            list_only=[str(p) for p in list_only],
            prelisted=[str(PROJECT_ROOT)],
            tcp_connect_ports=sorted(set(ports)),
            allow_network=permissions.network and not permissions.tcp_ports and not permissions.destinations,
            udp=permissions.network,
        )

    def watch(self, module: str, pid: int, permissions: ModulePermissions, kill: Callable[[str], None]) -> None:
        self.watchdog.watch(
            module,
            pid,
            permissions.memory_mb,
            permissions.cpu_seconds,
            kill,
            disk_paths=[self.data_dir / "modules" / module, self.data_dir / "tmp" / module],
            disk_mb=permissions.disk_mb,
        )

    def unwatch(self, module: str, pid: int | None = None) -> None:
        self.watchdog.unwatch(module, pid)


def _network_rules(permissions: ModulePermissions, database_url: str | None) -> NetworkRules | None:
    """What the module may reach (names resolved here, off the loop); ``None``: any address and port."""
    database = None
    if database_url:
        from database.embedded import module_host_port

        database = module_host_port(database_url)
    return rules_for(
        database=database,
        network=permissions.network,
        tcp_ports=permissions.tcp_ports,
        destinations=permissions.destinations,
    )


def _share_with_module(site_packages: Path, gid: int) -> None:
    """Only the module's group (and root) may enter its site folder; its files stay the bot's, read-only.

    Landlock already keeps other modules out; this is the same rule in plain permissions, for
    kernels without Landlock.
    """
    try:
        os.chown(site_packages, 0, gid, follow_symlinks=False)
        os.chmod(site_packages, 0o750, follow_symlinks=False)
    except OSError as exc:
        log.warning("[module] cannot restrict %s to the module's group: %s", site_packages, exc)
