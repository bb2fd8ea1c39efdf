"""The demo's web chat: talk to the bot in a browser as in Telegram, and operate its modules.

``WebChat(api, runtime)`` serves one static page (``static/index.html``) and a small JSON API
with live updates (Server-Sent Events) over the local Bot API's world; see ``server.py``.
"""

from .render import telegram_html
from .server import DEFAULT_USERS, ChatUser, WebChat

__all__ = ["DEFAULT_USERS", "ChatUser", "WebChat", "telegram_html"]
