"""Webhook mode: Telegram posts updates to the host's web server instead of the host long-polling.

* ``request_handler``: aiogram's ``SimpleRequestHandler`` on the host's aiohttp app, the secret
  header checked, each update handled as an owned, counted task;
* ``updates_in_flight``: the one place that knows which updates are being handled (a drain waits on it);
* ``refusal_log``: requests without the right secret, logged once per source;
* ``registration``: ``setWebhook`` at start;
* ``metrics``: updates in flight, accepting, refused requests on ``/metrics``.
"""

from .registration import register_webhook
from .request_handler import TelegramWebhookHandler
from .updates_in_flight import UpdatesInFlight

__all__ = ("TelegramWebhookHandler", "UpdatesInFlight", "register_webhook")
