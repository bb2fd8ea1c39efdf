"""The host's HTTP server: a health check and Prometheus metrics, then module webhooks (``runtime.aiogram_bridge.webhooks``).

Core routes are registered first and reserved, so a module cannot claim them; every other path
goes to the module webhook table.
"""

from __future__ import annotations

from aiohttp import web

from config import ConfigError
from runtime import ModuleRuntime
from runtime.aiogram_bridge.webhooks import ModuleWebhooks

from .metrics import HostMetrics, add_metrics_route
from .telegram_webhook import TelegramWebhookHandler

HEALTH_PATH = "/healthz"
WEBHOOKS_KEY = web.AppKey("module_webhooks", ModuleWebhooks)


def build_web_app(
    runtime: ModuleRuntime,
    metrics: HostMetrics | None = None,
    telegram_webhook: tuple[str, TelegramWebhookHandler] | None = None,
) -> web.Application:
    """``metrics``: the host's, also passed to the runtime as its fan-out observer (a fresh one without latencies if None).
    ``telegram_webhook``: in webhook mode, the path Telegram posts to (WEBHOOK_URL's) and its handler."""
    app = web.Application(client_max_size=runtime.config.webhook_max_body + 1)

    async def health(_: web.Request) -> web.Response:
        statuses = runtime.status()  # cheap: no /proc reads
        states = {s["name"]: s["state"] for s in statuses}
        return web.json_response({"ok": True, "modules": states, "sandboxed": runtime.sandboxes is not None})

    app.router.add_get(HEALTH_PATH, health)
    add_metrics_route(app, runtime, metrics or HostMetrics())  # GET /metrics (host.metrics)
    if telegram_webhook is not None:
        path, handler = telegram_webhook
        taken = {resource.canonical for resource in app.router.resources()}
        if path in taken:
            raise ConfigError(f"WEBHOOK_URL's path {path} is the host's own {path} route: choose another, e.g. /telegram/webhook")
        handler.register(app, path=path)
    reserved = {resource.canonical for resource in app.router.resources()}
    webhooks = ModuleWebhooks(runtime, reserved)
    app.router.add_route("*", "/{tail:.*}", webhooks.handle)
    app[WEBHOOKS_KEY] = webhooks
    webhooks.routes()  # at start: paths a module does not own, or shares with another, are refused and logged now
    return app
