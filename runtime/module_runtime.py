"""``ModuleRuntime``: the host-facing API (ARCHITECTURE.md §7).

    async with ModuleRuntime(modules_dir="modules") as rt:
        results = await rt.run_hooks("profile_menu", chat_id=1, admin=False)
        rt.status()
        await rt.stop("name"); await rt.start("name"); await rt.restart("name"); await rt.reload("name")

Entering starts the zygote and one process per enabled module (concurrently) and installs the
runtime as the dispatcher of ``hooks.hooks.run_hooks``, so core code calls hooks exactly as
upstream does. Leaving stops every module process and the zygote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

import module_deps
from hooks import hooks as hook_registry
from hooks.results import HookResults
from runtime.aiogram_bridge.callback_ownership import ModuleRouting, collisions, module_claims
from runtime.aiogram_bridge.host_layers import describe_host_layers
from runtime.aiogram_bridge.host_services import HostServices
from runtime.aiogram_bridge.routing_declaration import declaration_collisions, load_routing_declaration
from runtime.calls.caller_session import release_if_read_only
from runtime.calls.fanout import FanoutObserver, Subscriber, fan_out, subscribers_of
from runtime.calls.hook_arguments import kwargs_to_wire
from runtime.calls.module_hook_calls import HookCallRefused, UpdatesInFlight, check_hook_allowed, vouched_kwargs
from runtime.supervision.module_logs import ModuleLogSink
from runtime.supervision.process import ModuleLoadError, ModuleProcess
from runtime.supervision.sandbox_setup import ModuleSandboxes, SandboxConfigError
from runtime.supervision.state_store import StateStore
from runtime.supervision.supervisor import ModuleState, ModuleSupervisor
from runtime.supervision.task_owner import TaskOwner
from runtime.supervision.zygote_client import ForkServer, Zygote
from sandbox import process_flags
from sandbox.permissions import DEFAULTS, ModulePermissions, PermissionsError

from .config import RuntimeConfig
from .discovery import discover
from .operations import Operation, OperationResult, operate

log = logging.getLogger("solobot.runtime")

OperationRecorder = Callable[[str, Operation], Awaitable[object]]  # tells other workers (``workers.operations_journal``)
RemovalRecorder = Callable[[str], Awaitable[object]]  # tells other workers a module was removed from the folder
MAX_WARNED = 10_000  # distinct (module, kind) refusal lines kept to log each once
CORE_SOURCE = "core"  # results of hooks registered in the host process itself


class UnknownModuleError(KeyError):
    def __str__(self) -> str:
        return f"no module named {self.args[0]!r} in the modules folder"


class ModuleRuntime:
    def __init__(
        self,
        modules_dir: str | os.PathLike[str] = "modules",
        *,
        state_file: str | os.PathLike[str] | None = None,
        config: RuntimeConfig | None = None,
        services: HostServices | None = None,
        sandboxes: ModuleSandboxes | None = None,
        sandbox: bool = True,
        data_dir: str | os.PathLike[str] | None = None,
        fanout_observer: FanoutObserver | None = None,
        packages_dir: str | os.PathLike[str] | None = None,
        zygote: ForkServer | None = None,
        state_store: StateStore | None = None,
        record_operation: OperationRecorder | None = None,
        record_removal: RemovalRecorder | None = None,
    ) -> None:
        """Secure by default: every module runs sandboxed with ``modules.toml``'s permissions (defaults
        without an entry), its private folders under ``data_dir`` (default: ``storage``, the bot's
        ``DATA_DIR`` default) and, when ``services`` name a database, its own role there.

        ``sandboxes``: the caller's own set-up (the host passes one). ``sandbox=False`` opts out: the
        modules run as the bot's own user with no confinement, and every module's status says so
        ("NOT sandboxed: ..."); for tests of the process model and trusted development set-ups only.
        ``zygote``: one the caller owns (the host starts its own while PostgreSQL starts; tests share one).
        ``state_store``: which modules the operator stopped, when not ``state_file`` (a worker mirrors
        the shared database's); ``record_operation``: called after each ``operate`` so the other
        workers run it too; ``record_removal``: after each ``forget``, so they drop the module too.
        """
        self.modules_dir = Path(modules_dir).resolve()
        # <DATA_DIR>/module-packages: each module's own site folder (``solobot modules deps``); without
        # it, a module's requirements must all be met by the bot's own environment.
        self.packages_dir = Path(packages_dir).resolve() if packages_dir is not None else None
        self.config = config or RuntimeConfig()
        self.services = services or HostServices()
        if sandboxes is not None and not sandbox:
            raise ValueError("ModuleRuntime: pass either sandboxes=... or sandbox=False, not both")
        self._own_setup_engine: Any = None  # an unpooled engine of the default sandboxes' own, disposed on close
        if sandboxes is None and sandbox:
            sandboxes = self._default_sandboxes(Path(data_dir) if data_dir is not None else Path("storage"))
        self.sandboxes = sandboxes  # None: opted out (sandbox=False): no confinement, said in status
        self.fanout_observer = fanout_observer  # told about every hook fan-out (the host's metrics)
        self._store = state_store if state_store is not None else StateStore(state_file)
        self._record_operation = record_operation
        self._record_removal = record_removal
        self._tasks = TaskOwner("runtime")
        # Without ``zygote`` the runtime starts, replaces and stops its own; one passed in is the
        # caller's to start and stop (the test suite shares one between runtimes).
        self._own_zygote: Zygote | None = None
        if zygote is None:
            zygote = self._own_zygote = Zygote(on_death=self._replace_zygote)
        self._zygote: ForkServer = zygote
        self._supervisors: dict[str, ModuleSupervisor] = {}
        self._log_sinks: dict[str, ModuleLogSink] = {}
        self._host_calls: dict[str, int] = {}
        self._permissions: dict[str, ModulePermissions] = {}  # the operator's grants, per started module
        self._warned: set[tuple[str, str]] = set()
        self.updates_in_flight = UpdatesInFlight()
        self._routing: dict[str, tuple[ModuleProcess, ModuleRouting]] = {}
        self._declared: dict[str, tuple[str, ...]] = {}  # callback prefixes each module.toml declares
        self._previous_dispatcher: hook_registry.Dispatcher | None = None

    def _default_sandboxes(self, data_dir: Path) -> ModuleSandboxes:
        owner_engine = None
        if self.services.database_url:
            from sqlalchemy.ext.asyncio import create_async_engine
            from sqlalchemy.pool import NullPool

            # Role set-up and the database-limits sweep get a connection of their own each time.
            owner_engine = self._own_setup_engine = create_async_engine(self.services.database_url, poolclass=NullPool)
        return ModuleSandboxes(
            modules_dir=self.modules_dir,
            data_dir=data_dir,
            policy=self.services.bot_api_policy,
            panel_gateway=self.services.panel_gateway,
            owner_engine=owner_engine,
        )

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ModuleRuntime:
        try:
            process_flags.set_child_subreaper()
        except OSError as exc:  # pragma: no cover - every Linux since 3.4 has it
            log.warning("cannot become a child subreaper (%s): module processes may outlive a crash", exc)
        if not self.modules_dir.is_dir():
            log.warning("[modules] modules folder %s does not exist: no modules", self.modules_dir)
        if self._own_zygote is not None:
            await self._own_zygote.start()
        if self.sandboxes is None:
            log.warning("[modules] sandbox=False: module code runs unconfined, as the bot's own user")
        else:
            self._tasks.spawn(self.sandboxes.watchdog.run(), "resource-watchdog")
            if self.sandboxes.db_reaper is not None:
                self._tasks.spawn(self.sandboxes.db_reaper.run(), "database-limits")
        for spec in discover(self.modules_dir):
            self._supervisors[spec.name] = ModuleSupervisor(spec, self._launch, self.config, self._tasks, self._store)
        self._previous_dispatcher = hook_registry.set_dispatcher(self._dispatch)
        await asyncio.gather(*(self._autostart(sup) for sup in self._supervisors.values()))
        return self

    def _replace_zygote(self) -> None:
        if self._tasks.closed or self._own_zygote is None:
            return  # shutting down: the zygote exiting is expected
        self._tasks.spawn(self._own_zygote.start(), "zygote-restart")

    async def _autostart(self, supervisor: ModuleSupervisor) -> None:
        if not supervisor.enabled:
            log.info("[modules] %s: stopped by the operator earlier; not starting", supervisor.name)
            return
        try:
            await supervisor.start(persist=False)
        except ModuleLoadError:
            pass  # logged by the supervisor; the module is 'failed', the others go on

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        hook_registry.set_dispatcher(self._previous_dispatcher)
        await self._tasks.aclose()  # restart timers and watchers first: nothing restarts now
        processes = [sup.process for sup in self._supervisors.values() if sup.process is not None]
        await asyncio.gather(*(p.terminate("runtime shutting down") for p in processes), return_exceptions=True)
        if self.sandboxes is not None:
            await asyncio.to_thread(self.sandboxes.close)  # this host's cgroups, and anything still in them
        if self._own_zygote is not None:
            await self._own_zygote.aclose()
        if self._own_setup_engine is not None:
            await self._own_setup_engine.dispose()

    # ---------------------------------------------------------------- hooks

    async def run_hooks(self, hook: str, /, **kwargs: Any) -> HookResults:
        """Call ``hook`` in every running module subscribed to it; results in load order."""
        timeout = self.config.timeout_for(hook)
        if kwargs.get("session") is not None and subscribers_of(hook, self._supervisors.values()):
            await release_if_read_only(kwargs)  # no pooled connection held while modules answer
        local: list[Any] = []
        if hook_registry.has_registered(hook):
            # In-process (core) hooks run and come first, as they were registered before any module.
            local, failures = await hook_registry.call_registered(hook, kwargs, timeout)
            hook_registry.log_failures(hook, failures)
        # The modules serving now, after any wait above (one may have started or stopped meanwhile).
        subscribers = subscribers_of(hook, self._supervisors.values())
        with self._lend_state(kwargs, subscribers):
            remote = await fan_out(hook, kwargs_to_wire(kwargs), subscribers, timeout, self.fanout_observer)
        if not local:
            return remote
        return HookResults(hook, [(CORE_SOURCE, v) for v in local] + list(zip(remote.sources, remote, strict=True)))

    def _lend_state(self, kwargs: dict[str, Any], subscribers: list[Subscriber]) -> contextlib.AbstractContextManager[None]:
        """The caller's FSM state (``state=``), lent to the modules called for as long as they run."""
        gateway = self.services.fsm_gateway
        if gateway is None or not subscribers or kwargs.get("state") is None:
            return contextlib.nullcontext()
        return gateway.lend_state_of(kwargs, self._supervisors)

    async def _dispatch(self, hook: str, kwargs: dict[str, Any]) -> HookResults:
        return await self.run_hooks(hook, **kwargs)

    # ---------------------------------------------------------- operations

    async def start(self, name: str) -> None:
        await self._supervisor(name).start()

    async def stop(self, name: str) -> None:
        await self._supervisor(name).stop()

    async def restart(self, name: str) -> None:
        await self._supervisor(name).restart()

    async def reload(self, name: str) -> None:
        await self._supervisor(name).reload()

    async def operate(self, name: str, operation: Operation | str) -> OperationResult:
        """Run an operator's operation; failures come back in the result (``UnknownModuleError`` is raised).

        With several workers the operation is then recorded for the others, even when it failed
        here: what the operator wants (this module stopped, or running) holds for every worker.
        """
        operation = Operation(operation)
        result = await self.operate_here(name, operation)
        if self._record_operation is not None:
            try:
                await self._record_operation(name, operation)
            except Exception as exc:  # the database is away: the other workers do not know
                log.exception("[modules] %s: %s done here but not recorded for the other workers", name, operation.value)
                if result.ok:
                    return OperationResult(
                        name, operation, False, f"done on this worker only; the other workers were not told ({exc})"
                    )
        return result

    async def operate_here(self, name: str, operation: Operation | str) -> OperationResult:
        """``operate`` on this process's runtime only (another worker's operation, applied here)."""
        return await operate(self._supervisor(name), Operation(operation))

    async def forget(self, name: str) -> None:
        """Stop ``name`` and drop it from the runtime (its folder is being removed, by the installer).

        With several workers the removal is then recorded, so every worker drops the module; if the
        database is away only this worker did (logged: the others keep it until they restart).
        """
        await self.forget_here(name)
        if self._record_removal is not None:
            try:
                await self._record_removal(name)
            except Exception:
                log.exception("[modules] %s: removed here but not recorded for the other workers", name)

    async def forget_here(self, name: str) -> None:
        """``forget`` on this process's runtime only (another worker's removal, applied here)."""
        supervisor = self._supervisors.get(name)
        if supervisor is None:
            return
        await supervisor.stop()
        self._supervisors = {k: v for k, v in self._supervisors.items() if k != name}

    def status(self) -> list[dict[str, Any]]:
        """One dict per module, in load order (see ``ModuleSupervisor.status``); cheap: no memory figures."""
        return [self._with_host_layers(sup.status()) for sup in self._supervisors.values()]

    async def status_with_usage(self, name: str | None = None) -> list[dict[str, Any]]:
        """``status()`` (of every module, or of ``name``) with memory (RSS, USS) and CPU read in a worker thread."""
        supervisors = [self._supervisor(name)] if name is not None else list(self._supervisors.values())
        statuses = [self._with_host_layers(sup.status()) for sup in supervisors]

        def measure() -> list[dict[str, Any]]:
            return [sup.usage(status["pid"]) for sup, status in zip(supervisors, statuses, strict=True)]

        for status, usage in zip(statuses, await anyio.to_thread.run_sync(measure), strict=True):
            status.update(usage)
        return statuses

    def module_status(self, name: str) -> dict[str, Any]:
        return self._with_host_layers(self._supervisor(name).status())

    def _with_host_layers(self, status: dict[str, Any]) -> dict[str, Any]:
        """The kernel layers the module process reported, then what the host's services enforce for it."""
        name = status["name"]
        status["updates_in_flight"] = self.updates_in_flight.count(name)
        status["max_updates_in_flight"] = self.max_updates_in_flight(name)
        if status.get("sandbox"):
            host = describe_host_layers(
                name, self._permissions.get(name), self.routing_of(name), status.get("webhook_path"), self._network_line(name)
            )
            status["sandbox"] = [*status["sandbox"], *host]
        return status

    def _network_line(self, name: str) -> str | None:
        """What the running process of ``name`` may reach, and what its supervisor refused so far."""
        supervisor = self._supervisors.get(name)
        process = supervisor.running_process if supervisor is not None else None
        network = process.network if process is not None else None
        if network is None:
            return None
        counters = network.counters
        line = f"network by address: {network.rules.describe()}; {counters.allowed} allowed, {counters.refused} refused"
        return line + (f" (last: {counters.last_refused})" if counters.last_refused else "")

    @property
    def module_names(self) -> list[str]:
        return list(self._supervisors)

    @property
    def supervisors(self) -> list[ModuleSupervisor]:
        """Every module's supervisor, in load order (update routing, webhooks, fast flows read them)."""
        return list(self._supervisors.values())

    @property
    def zygote_pid(self) -> int | None:
        return self._zygote.pid

    def _supervisor(self, name: str) -> ModuleSupervisor:
        supervisor = self._supervisors.get(name)
        if supervisor is None:
            # A module folder added while running is picked up on first use.
            for spec in discover(self.modules_dir):
                if spec.name == name:
                    supervisor = ModuleSupervisor(spec, self._launch, self.config, self._tasks, self._store)
                    self._supervisors = dict(sorted({**self._supervisors, name: supervisor}.items()))
                    break
            else:
                raise UnknownModuleError(name)
        return supervisor

    # ------------------------------------------------ module process wiring

    async def _launch(self, name: str) -> ModuleProcess:
        params = self.services.init_params(name)
        site = self._site_packages(name)
        if site is not None:
            params["site_packages"] = str(site)
        plan = None
        if self.sandboxes is not None:
            try:
                plan = await self.sandboxes.prepare(name, site_packages=site)
            except SandboxConfigError as exc:
                raise ModuleLoadError(name, str(exc)) from None
            params["database_url"] = plan.database_url
            if not plan.permissions.trusted:
                self._declared[name] = self._declared_routing(name)
        params["panels"] = self.services.panel_gateway.granted(name)  # configured from modules.toml by the sandboxes
        process = await ModuleProcess.spawn(
            self._zygote,
            name,
            str(self.modules_dir),
            self.config,
            self._serve_module_request,
            self._on_module_notify,
            params,
            plan.spec if plan else None,
            plan.cgroup if plan else None,
            plan.network if plan else None,
        )
        if plan is not None and self.sandboxes is not None:
            self._permissions[name] = plan.permissions
            self.sandboxes.watch(name, process.pid, plan.permissions, process.kill)
            # Stopped, crashed or quarantined: no longer watched (its pid may soon be someone else's).
            sandboxes, pid = self.sandboxes, process.pid
            process.exited.add_done_callback(lambda _exit: sandboxes.unwatch(name, pid))
            self._report_route_collisions(name, process)
        return process

    def permissions_of(self, name: str) -> ModulePermissions | None:
        """The operator's grants for a module this sandboxed runtime started (``None``: bare runtime or never started)."""
        return self._permissions.get(name)

    def max_updates_in_flight(self, name: str) -> int:
        """How many updates ``name`` may be handling at once (``modules.toml``; the default for a bare runtime)."""
        return self._permissions.get(name, DEFAULTS).max_updates_in_flight

    def routing_of(self, name: str) -> ModuleRouting | None:
        """The callback data a sandboxed module owns; ``None``: trusted, bare runtime or not running (upstream's routing)."""
        permissions = self._permissions.get(name)
        supervisor = self._supervisors.get(name)
        process = supervisor.running_process if supervisor is not None else None
        if permissions is None or permissions.trusted or process is None:
            return None
        cached = self._routing.get(name)
        if cached is None or cached[0] is not process:
            cached = self._routing[name] = (process, self._routing_for(name, process, permissions))
        return cached[1]

    def _routing_for(self, name: str, process: ModuleProcess, permissions: ModulePermissions) -> ModuleRouting:
        declared = self._declared.get(name, ())
        claims = module_claims(name, process.routes.callback_claims(), declared)
        return ModuleRouting(name, claims, permissions.override, declared)

    def _declared_routing(self, name: str) -> tuple[str, ...]:
        """The callback prefixes ``name``'s module.toml declares; ``ModuleLoadError`` on a mistake or a collision."""
        try:
            declared = load_routing_declaration(self.modules_dir / name)
        except PermissionsError as exc:
            raise ModuleLoadError(name, str(exc)) from None
        others: dict[str, tuple[str, ...]] = {}
        for spec in discover(self.modules_dir):
            if spec.name != name and spec.problem is None:
                try:
                    others[spec.name] = load_routing_declaration(spec.path)
                except PermissionsError:
                    others[spec.name] = ()  # that module's own start reports its mistake
        problems = declaration_collisions(name, declared, others)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            log.error("[module %s] %s%s", name, problems[0], more)
            raise ModuleLoadError(name, problems[0] + more)
        return declared

    def _report_route_collisions(self, name: str, process: ModuleProcess) -> None:
        """At start: callback data this module claims that another running module claims too."""
        permissions = self._permissions[name]
        if permissions.trusted:
            return
        others = [routing for other in self._supervisors if other != name and (routing := self.routing_of(other)) is not None]
        for line in collisions(self._routing_for(name, process, permissions), others):
            log.error("[module %s] %s", name, line)

    def _site_packages(self, name: str) -> Path | None:
        """The module's own site folder if it needs one; ``ModuleLoadError`` when its requirements are missing."""
        site = self.packages_dir / name if self.packages_dir is not None else None
        try:
            return module_deps.check_requirements(self.modules_dir / name, site)
        except (module_deps.MissingRequirements, module_deps.RequirementsError) as exc:
            raise ModuleLoadError(name, str(exc)) from None

    async def _serve_module_request(self, module: str, method: str, params: Any) -> Any:
        """Requests module processes make of the host. Everything in ``params`` is untrusted."""
        in_flight = self._host_calls.get(module, 0)
        if in_flight >= self.config.max_host_calls_in_flight:
            raise RuntimeError(f"too many concurrent requests to the host (limit {self.config.max_host_calls_in_flight})")
        self._host_calls[module] = in_flight + 1
        try:
            if method == "bot_api" and self.services.bot_gateway is not None:
                update = self.updates_in_flight.get(module, params.get("update_id") if isinstance(params, dict) else None)
                return await self.services.bot_gateway.call(module, params, update)
            if method == "fsm" and self.services.fsm_gateway is not None:
                return await self.services.fsm_gateway.call(module, params)
            if method == "panel":
                return await self.services.panel_gateway.call(module, params)
            if method == "run_hooks":
                hook, kwargs = _hook_call_params(params)
                results = await self._run_hooks_for_module(module, hook, kwargs, params.get("update_id"))
                return [[results.source_of(i), value] for i, value in enumerate(results)]
            raise LookupError(f"the host offers no {method!r} here")
        finally:
            self._host_calls[module] -= 1

    async def _run_hooks_for_module(self, module: str, hook: str, kwargs: dict[str, Any], update_id: Any) -> HookResults:
        """A module fires a hook: the host checks the hook and vouches for the arguments (``module_hook_calls``)."""
        update = self.updates_in_flight.get(module, update_id)
        try:
            check_hook_allowed(module, hook, self._permissions.get(module, DEFAULTS).call_hooks)
            vouched, changed = vouched_kwargs(module, hook, kwargs, update)
        except HookCallRefused as exc:
            self._warn_once(module, f"refused:{hook}", "[module %s] run_hooks refused: %s", module, exc)
            raise
        if changed:
            self._warn_once(module, f"changed:{hook}", "[module %s] run_hooks(%r): %s", module, hook, "; ".join(changed))
        return await self.run_hooks(hook, **vouched)

    def _warn_once(self, module: str, kind: str, message: str, *args: Any) -> None:
        """One line per module and kind of refusal: a module looping over refused calls cannot flood the log."""
        if (module, kind) in self._warned or len(self._warned) >= MAX_WARNED:
            return
        self._warned.add((module, kind))
        log.warning(message, *args)

    def _on_module_notify(self, module: str, method: str, params: Any) -> None:
        if method == "log":
            sink = self._log_sinks.get(module)
            if sink is None:
                sink = self._log_sinks[module] = ModuleLogSink(module, self.config.log_lines_per_second)
            sink.emit(params)


def _hook_call_params(params: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(params, dict) or not isinstance(params.get("hook"), str) or not params["hook"]:
        raise ValueError("run_hooks needs {'hook': name, 'kwargs': {...}}")
    kwargs = params.get("kwargs") or {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
        raise ValueError("run_hooks kwargs must be a map of identifier names")
    return params["hook"], kwargs


__all__ = ["HostServices", "ModuleRuntime", "ModuleState", "UnknownModuleError"]
