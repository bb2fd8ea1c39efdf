"""``SolobotHost``: the whole bot as an async context manager.

Entering brings the parts up in dependency order and leaving takes them down in reverse (an
``AsyncExitStack`` owns each one):

1. the database: ``DATABASE_URL``, or an embedded PostgreSQL under ``<data_dir>/postgres``;
   core tables created (``database.init_db``); the module runtime's zygote starts meanwhile;
2. the bot (the only holder of the token), pointed at ``TELEGRAM_API_URL`` when set;
3. what several workers share (``shared_state``: FSM storage, modules' FSM quotas, throttling,
   Bot API rate limits — memory, or Redis with ``REDIS_URL``) and the Dispatcher: core outer
   middlewares, then the modules' router, then the core's routers (upstream's order);
4. the module runtime: zygote and one process per module, lent the bot (through the Bot API
   gateway), the storage and a database URL;
5. the web server (health, module webhooks), the notifications loop, and the updates: long polling,
   or with ``WEBHOOK_URL`` Telegram's webhook on the web server (``host.telegram_webhook``).
"""

from __future__ import annotations

import logging
import socket
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

import anyio
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
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
from runtime.aiogram_bridge.response_types import ResponseTypesKept
from runtime.aiogram_bridge.update_forwarding import modules_router
from runtime.supervision.sandbox_setup import ModuleSandboxes
from runtime.supervision.task_owner import OwnedTask, TaskOwner
from runtime.supervision.zygote_client import ForkServer, Zygote
from sandbox.bot_api_policy import BotApiPolicy
from sandbox.process_flags import set_dumpable
from utils import modules_loader
from workers.connection_handoff import HandedConnectionsSite
from workers.coordination import WorkerCoordination
from workers.identity import WorkerIdentity
from workers.leadership import Duty, Leadership

from .bot_users import BotUsers
from .catalog import build_installer
from .control import ControlServer
from .control_catalog import CatalogCommands
from .heap import freeze_startup_heap
from .metrics import HostMetrics
from .operator_tools import attach_operator_tools, refuse_if_bot_running
from .shared_state import SharedState, make_shared_state
from .telegram_webhook import TelegramWebhookHandler, UpdatesInFlight, register_webhook
from .telegram_webhook.metrics import WebhookCollector
from .web import build_web_app

log = logging.getLogger("solobot")

DRAIN_SECONDS = 20.0  # a stopping web server finishes the requests still open (module webhooks) for this long
POLLING_STOP_GRACE = 10.0  # seconds aiogram (or the webhook) gets to finish the updates in hand; then they are cancelled
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
        worker: WorkerIdentity | None = None,
        handed_connections: socket.socket | None = None,
    ) -> None:
        """``worker``: which worker this host is (``workers``): it then coordinates with the others
        through the database — leader duties, module operations, heartbeats. Given by the arbiter;
        in webhook mode without it: ``SOLOBOT_WORKER_INDEX``, else index 0 (``<hostname>-0``, as
        one bot per machine or container is). ``handed_connections``: the socket the arbiter hands
        this worker the web server's connections over (``workers.connection_handoff``; without
        it the web server binds WEB_HOST:WEB_PORT itself)."""
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
        # Webhook mode is what several workers (on this machine or others) serve one bot with: any
        # webhook bot coordinates through the database as one of them, the only one or not.
        if worker is None and settings.webhook_url:
            worker = WorkerIdentity.from_environment() or WorkerIdentity(0)
        self.worker = worker
        self.handed_connections = handed_connections
        self.shares_data_dir = handed_connections is not None  # the arbiter's workers: one DATA_DIR, one control address
        self.coordination: WorkerCoordination | None = None
        self._duties: dict[str, Duty] = {}  # exactly-once work: here, or on the leader worker
        self._leadership: Leadership | None = None
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
        # Webhook mode: the updates being handled (what a graceful stop waits for); None when polling.
        self.updates_in_flight: UpdatesInFlight | None = None
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
        if settings.webhook_url and not self.web_server:
            raise config.ConfigError("WEBHOOK_URL needs the host's web server: Telegram posts the updates to it")
        if self.operator_tools and not self.shares_data_dir:  # the arbiter checked for its workers
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
        store = None
        if self.worker is not None:
            self.coordination = coordination = WorkerCoordination(self.worker, db.get_engine(), url)
            self._stack.push_async_callback(coordination.aclose)
            store = await coordination.state_store(Path(self.state_file or settings.modules_state_path))
        # Purchases waiting for money complete when any payment (core or module) fires payment_success.
        completion = install_purchase_completion(db.async_session_maker)
        self._stack.callback(unregister_hook, "payment_success", completion)

        self.bot = bot = _make_bot(settings)
        self._stack.push_async_callback(bot.session.close)
        bot_module.set_current_bot(bot)
        self._stack.callback(bot_module.set_current_bot, None)

        shared = make_shared_state(settings.redis_url, bot.id)  # memory, or Redis shared by every worker
        storage = CoreFSMStorage(shared.fsm_storage)  # the core's clears end modules' conversations
        self._stack.push_async_callback(storage.close)
        self.dispatcher = dispatcher = Dispatcher(storage=storage)

        services = HostServices(
            bot=bot,
            fsm_storage=storage,
            fsm_ledger=shared.fsm_ledger,
            bot_api_policy=BotApiPolicy(buckets=shared.bot_api_buckets),
            sent_messages=shared.sent_messages,
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
                role_passwords=self.coordination.role_passwords if self.coordination is not None else None,
                workers=settings.workers,
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
            state_store=store,
            record_operation=self.coordination.record_operation if self.coordination is not None else None,
            record_removal=self.coordination.record_removal if self.coordination is not None else None,
        )
        await self._stack.enter_async_context(runtime)
        if self.coordination is not None:
            self.coordination.attach(runtime)
        modules_loader.use_runtime(runtime)
        self._stack.callback(modules_loader.use_runtime, None)

        _assemble(dispatcher, runtime, settings, self.throttle_rate, shared)
        self._stack.push_async_callback(self._tasks.aclose)
        if settings.catalog_enabled:
            self._use_catalog(settings)

        if self.web_server:
            await self._start_web(runtime)
        if self.notifications:
            from handlers.notifications.general_notifications import notifications_loop

            self._duty("notifications", lambda: notifications_loop(bot, db.async_session_maker, settings.notification_time))
        if self.coordination is not None:
            self._leadership = await self._stack.enter_async_context(self.coordination.leadership(self._duties))
        if settings.webhook_url and settings.webhook_secret:
            await register_webhook(bot, dispatcher, url=settings.webhook_url, secret_token=settings.webhook_secret)
        elif self.polling:
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
            self._duty("catalog-watch", self.catalog_watch.run)
        return installer

    def _duty(self, name: str, duty: Duty) -> None:
        """Periodic work that must run once per bot: here, or (workers) on whichever worker leads."""
        if self.coordination is None:
            self._tasks.spawn(duty(), name)
        elif self._leadership is None:
            self._duties[name] = duty
        else:  # the demo attaching its catalog late; never with WORKERS>1 in production
            log.warning("%s started after the leader election: it runs on this worker whether it leads or not", name)
            self._tasks.spawn(duty(), name)

    async def _start_web(self, runtime: ModuleRuntime) -> None:
        self.web_app = build_web_app(runtime, self.metrics, self._telegram_webhook())
        # Leaving, in this order (the exit stack runs these pushes backwards): stop accepting — the
        # other workers take new connections —, let the updates in hand finish (requests on kept-alive
        # connections meanwhile get 503: Telegram redelivers), then close the rest (bounded).
        runner = web.AppRunner(self.web_app, access_log=None, shutdown_timeout=DRAIN_SECONDS)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        if self.updates_in_flight is not None:
            self._stack.push_async_callback(self._stop_webhook, self.updates_in_flight)
        if self.handed_connections is not None:
            # The arbiter accepts and deals; it stops dealing to us before it tells us to stop, and
            # the connections it dealt just before are served, not reset.
            site: web.BaseSite = HandedConnectionsSite(runner, self.handed_connections)
        else:
            site = web.TCPSite(runner, self.settings.web_host, self.settings.web_port)
        await site.start()
        self._stack.push_async_callback(site.stop)
        port = runner.addresses[0][1] if runner.addresses else self.settings.web_port
        self.web_url = f"http://{self.settings.web_host}:{port}"
        log.info("web server (module webhooks) on %s", self.web_url)

    def _telegram_webhook(self) -> tuple[str, TelegramWebhookHandler] | None:
        """Webhook mode: the path Telegram posts to and aiogram's request handler for it."""
        settings = self.settings
        if not (settings.webhook_path and settings.webhook_secret):
            return None
        assert self.dispatcher is not None and self.bot is not None
        self.updates_in_flight = UpdatesInFlight()
        handler = TelegramWebhookHandler(
            self.dispatcher, self.bot, secret_token=settings.webhook_secret, in_flight=self.updates_in_flight
        )
        if self.metrics is not None:
            self.metrics.register(WebhookCollector(self.updates_in_flight, handler.refusals))
        return settings.webhook_path, handler

    @staticmethod
    async def _stop_webhook(in_flight: UpdatesInFlight) -> None:
        """The updates in hand get a bounded time to finish; the rest are cancelled (answered 503: redelivered)."""
        left = await in_flight.drain(POLLING_STOP_GRACE)
        if left:
            log.warning("stopping with %d update(s) still in hand: cancelled; Telegram delivers them again", left)
        await in_flight.aclose()

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
    api = TelegramAPIServer.from_base(settings.telegram_api_url) if settings.telegram_api_url else None
    session = ResponseTypesKept(api=api) if api is not None else ResponseTypesKept()
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


def _setup_engine(url: str, stack: AsyncExitStack) -> AsyncEngine:
    """The engine module role set-up, the database-limits sweep and schema sizes use: a connection
    of its own each time (no pool), never one of the pool the bot's updates draw from."""
    engine = create_async_engine(url, poolclass=NullPool)
    stack.push_async_callback(engine.dispose)
    return engine


def _assemble(
    dispatcher: Dispatcher, runtime: ModuleRuntime, settings: Settings, throttle_rate: float, shared: SharedState
) -> None:
    """Middlewares first (they run before any router), then module routers, then the core's."""
    from handlers import core_routers
    from middlewares import setup_middlewares

    setup_middlewares(
        dispatcher,
        admin_ids=settings.admin_ids,
        throttle_rate=throttle_rate,
        throttle_gate=shared.user_gate,
        maintenance=shared.maintenance,
    )
    dispatcher[RUNTIME_KEY] = runtime  # handlers take it as ``module_runtime`` (the admin's modules panel)
    core = core_routers()
    dispatcher.include_routers(modules_router(runtime, core), *core)
