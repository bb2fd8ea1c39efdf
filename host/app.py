"""``SolobotHost``: the whole bot as an async context manager.

Entering brings the parts up in dependency order and leaving takes them down in reverse (an
``AsyncExitStack`` owns each one):

1. the database: ``DATABASE_URL``, or an embedded PostgreSQL under ``<data_dir>/postgres``;
   core tables created (``database.init_db``); the module runtime's zygote starts meanwhile;
2. the bot (the only holder of the token), pointed at ``TELEGRAM_API_URL`` when set;
3. FSM storage (memory, or Redis with ``REDIS_URL``) and the Dispatcher: core outer
   middlewares, then the modules' router, then the core's routers (upstream's order);
4. the module runtime: zygote and one process per module, lent the bot (through the Bot API
   gateway), the storage and a database URL;
5. the web server (health, module webhooks), the notifications loop, and polling.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

import anyio
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

import bot as bot_module
import config
import module_deps
import panels
from config import Settings
from database import db
from database.embedded import resolve_database_url
from database.init_db import init_db
from handlers.payments.pending_purchase import install_purchase_completion
from hooks.hooks import unregister_hook
from installer import Installer
from installer.lifecycle import CatalogWatch
from runtime import HostServices, ModuleRuntime, RuntimeConfig
from runtime.aiogram_bridge.core_fsm_storage import CoreFSMStorage
from runtime.aiogram_bridge.update_forwarding import modules_router
from runtime.supervision.sandbox_setup import ModuleSandboxes
from runtime.supervision.task_owner import OwnedTask, TaskOwner
from runtime.supervision.zygote_client import ForkServer, Zygote
from sandbox.process_flags import set_dumpable
from utils import modules_loader

from .bot_users import BotUsers
from .catalog import build_installer
from .control import ControlServer
from .control_catalog import CatalogCommands
from .fsm_storage import make_storage
from .heap import freeze_startup_heap
from .metrics import HostMetrics
from .operator_tools import attach_operator_tools, refuse_if_bot_running
from .web import build_web_app

log = logging.getLogger("solobot")

POLLING_STOP_GRACE = 10.0  # seconds aiogram gets to finish the updates in hand; the task owner cancels after
RUNTIME_KEY = "module_runtime"  # aiogram workflow data: what handlers declare as a parameter


class SolobotHost:
    def __init__(
        self,
        settings: Settings,
        *,
        runtime_config: RuntimeConfig | None = None,
        state_file: str | Path | None = None,
        polling: bool = True,
        notifications: bool = True,
        web_server: bool = True,
        throttle_rate: float = 0.5,
        sandbox: bool = True,
        reload: bool = False,
        operator_tools: bool = True,
        zygote: ForkServer | None = None,
    ) -> None:
        self.settings = settings
        self.runtime_config = runtime_config
        self.state_file = state_file
        self.polling = polling
        self.notifications = notifications
        self.web_server = web_server
        self.throttle_rate = throttle_rate
        self.sandbox = sandbox
        self.reload = reload
        self.operator_tools = operator_tools
        self.zygote = zygote  # None: the runtime starts its own (a shared one is the caller's: tests)
        self.database_url: str | None = None
        self.bot: Bot | None = None
        self.dispatcher: Dispatcher | None = None
        self.runtime: ModuleRuntime | None = None
        self.metrics: HostMetrics | None = None  # the runtime's fan-out observer; served at /metrics
        self.catalog: Installer | None = None  # with CATALOG_URL and CATALOG_PUBLIC_KEY
        self.catalog_watch: CatalogWatch | None = None
        self.control: ControlServer | None = None  # the control socket (with operator_tools)
        self.web_app: web.Application | None = None
        self.web_url: str | None = None
        self._stack = AsyncExitStack()
        self._tasks = TaskOwner("host")

    async def __aenter__(self) -> SolobotHost:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        settings = self.settings
        if self.operator_tools:
            refuse_if_bot_running(settings)  # a 2nd bot on this DATA_DIR would share, then stop, the embedded PostgreSQL
        if self.sandbox:
            # /proc/<host>/environ, /mem, /cmdline are then closed to module processes (other uids,
            # and same-uid ones too: a non-dumpable process's /proc files belong to root).
            set_dumpable(False)
        config.apply_public_settings(config.public_settings(settings))
        panels.configure(panels.from_config(settings))  # panel credentials: this process only
        self._stack.callback(panels.configure, panels.PanelSettings())

        zygote = self.zygote
        if zygote is None:
            # The zygote's imports (seconds on a cold machine) overlap PostgreSQL's start: both are
            # other processes, and the database is awaited in a worker thread. The host owns it
            # (the runtime forks from it; a dead one is replaced at the next fork).
            zygote = own_zygote = Zygote()
            self._stack.push_async_callback(own_zygote.aclose)
            warm_up = TaskOwner("host-startup")
            self._stack.push_async_callback(warm_up.aclose)
            warm_up.spawn(own_zygote.ensure_started(), "zygote")

        url, close_database = await resolve_database_url(settings)
        self._stack.push_async_callback(close_database)
        self.database_url = url
        db.bind(url)
        self._stack.push_async_callback(db.dispose)
        await init_db()
        # Purchases waiting for money complete when any payment (core or module) fires payment_success.
        completion = install_purchase_completion(db.async_session_maker)
        self._stack.callback(unregister_hook, "payment_success", completion)

        self.bot = bot = _make_bot(settings)
        self._stack.push_async_callback(bot.session.close)
        bot_module.set_current_bot(bot)
        self._stack.callback(bot_module.set_current_bot, None)

        storage = CoreFSMStorage(make_storage(settings.redis_url))  # the core's clears end modules' conversations
        self._stack.push_async_callback(storage.close)
        self.dispatcher = dispatcher = Dispatcher(storage=storage)

        services = HostServices(
            bot=bot,
            fsm_storage=storage,
            database_url=url,
            settings=config.public_settings(settings),
            is_user=BotUsers(),
        )
        self._stack.push_async_callback(services.panel_gateway.aclose)
        sandboxes = None
        if self.sandbox:
            sandboxes = ModuleSandboxes(
                modules_dir=Path(settings.modules_dir),
                data_dir=Path(settings.data_dir),
                policy=services.bot_api_policy,
                panel_gateway=services.panel_gateway,
                owner_engine=_setup_engine(url, self._stack),
            )
        self.metrics = HostMetrics()
        self.runtime = runtime = ModuleRuntime(
            settings.modules_dir,
            state_file=self.state_file or settings.modules_state_path,
            config=self.runtime_config,
            services=services,
            sandboxes=sandboxes,
            sandbox=self.sandbox,
            fanout_observer=self.metrics.observe_fanout,
            packages_dir=module_deps.packages_root(settings.data_dir),
            zygote=zygote,
        )
        await self._stack.enter_async_context(runtime)
        modules_loader.use_runtime(runtime)
        self._stack.callback(modules_loader.use_runtime, None)

        dispatcher["module_runtime"] = runtime  # the admin modules panel operates on it
        _assemble(dispatcher, runtime, settings, self.throttle_rate)
        self._stack.push_async_callback(self._tasks.aclose)
        if settings.catalog_enabled:
            self._use_catalog(settings)

        if self.web_server:
            await self._start_web(runtime)
        if self.notifications:
            from handlers.notifications.general_notifications import notifications_loop

            self._tasks.spawn(notifications_loop(bot, db.async_session_maker, settings.notification_time), "notifications")
        if self.polling:
            polling = self._tasks.spawn(self._poll(), "polling")
            self._stack.push_async_callback(self._stop_polling, polling)
        for status in runtime.status():
            log.info("[modules] %s %s: %s", status["name"], status["version"] or "", status["state"])
        if self.operator_tools:
            await attach_operator_tools(self, self._stack, reload=self.reload)
        freeze_startup_heap()

    def attach_catalog(self, url: str, public_key: str) -> Installer:
        """Install from the catalog at ``url`` (pinned ``public_key``) from now on — as if CATALOG_URL and
        CATALOG_PUBLIC_KEY had been set at start (the demo starts its catalog after the bot)."""
        settings = self.settings.model_copy(update={"catalog_url": url.rstrip("/"), "catalog_public_key": public_key})
        installer = self._use_catalog(settings)
        if self.control is not None:
            self.control.catalog = CatalogCommands(installer)
        return installer

    def _use_catalog(self, settings: Settings) -> Installer:
        assert self.runtime is not None and self.dispatcher is not None
        installer = build_installer(settings, self.runtime, self.bot)
        assert installer is not None
        self.settings, self.catalog = settings, installer
        self.dispatcher["catalog"] = installer  # the admin screens' «🛒 Каталог»
        self.catalog_watch = CatalogWatch(
            installer, interval=settings.catalog_check_interval, offline_grace=settings.catalog_offline_grace
        )
        if self.notifications:  # background jobs that message admins (tests drive check_once themselves)
            self._tasks.spawn(self.catalog_watch.run(), "catalog-watch")
        return installer

    async def _start_web(self, runtime: ModuleRuntime) -> None:
        self.web_app = build_web_app(runtime, self.metrics)
        runner = web.AppRunner(self.web_app, access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, self.settings.web_host, self.settings.web_port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else self.settings.web_port
        self.web_url = f"http://{self.settings.web_host}:{port}"
        log.info("web server (module webhooks) on %s", self.web_url)

    async def _stop_polling(self, polling: OwnedTask) -> None:
        """Let aiogram finish the updates in hand (its own stop), then make sure the task is gone."""
        assert self.dispatcher is not None
        if not polling.done():
            try:
                await self.dispatcher.stop_polling()
            except RuntimeError:  # polling had not started yet
                polling.cancel()
            with anyio.move_on_after(POLLING_STOP_GRACE):
                await polling.wait()

    async def _poll(self) -> None:
        assert self.dispatcher is not None and self.bot is not None
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self.dispatcher.start_polling(self.bot, handle_signals=False, close_bot_session=False, polling_timeout=10)


def _make_bot(settings: Settings) -> Bot:
    token = settings.required_bot_token()
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url)) if settings.telegram_api_url else None
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


def _setup_engine(url: str, stack: AsyncExitStack) -> AsyncEngine:
    """The engine module role set-up, the database-limits sweep and schema sizes use: a connection
    of its own each time (no pool), never one of the pool the bot's updates draw from."""
    engine = create_async_engine(url, poolclass=NullPool)
    stack.push_async_callback(engine.dispose)
    return engine


def _assemble(dispatcher: Dispatcher, runtime: ModuleRuntime, settings: Settings, throttle_rate: float) -> None:
    """Middlewares first (they run before any router), then module routers, then the core's."""
    from handlers import core_routers
    from middlewares import setup_middlewares

    setup_middlewares(dispatcher, admin_ids=settings.admin_ids, throttle_rate=throttle_rate)
    dispatcher[RUNTIME_KEY] = runtime  # handlers take it as ``module_runtime`` (the admin's modules panel)
    core = core_routers()
    dispatcher.include_routers(modules_router(runtime, core), *core)
