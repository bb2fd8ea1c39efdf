"""The operator's panel credentials, held by the host only.

The host calls :func:`configure` at start-up with what ``config.Settings`` read (``REMNAWAVE_*``
for Remnawave, ``XUI_*``/upstream's ``ADMIN_USERNAME``/``ADMIN_PASSWORD`` for 3x-ui). A module
process never gets them: there :func:`current` is the empty default, and a panel client used
there must be given credentials explicitly (the operator grants the module network access to
the panel's address and hands it its own panel account through the module's settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 15.0  # seconds per panel request, as the seed's guide asks of network calls


@dataclass(frozen=True)
class PanelSettings:
    remnawave_login: str | None = None
    remnawave_password: str | None = None
    remnawave_token: str | None = None  # an API token instead of a login (upstream: REMNAWAVE_TOKEN_LOGIN_ENABLED)
    xui_username: str | None = None
    xui_password: str | None = None
    xui_token: str | None = None  # 3x-ui's API token (upstream: USE_XUI_TOKEN + XUI_TOKEN)
    supernode: bool = False  # upstream's SUPERNODE: delete 3x-ui clients by id without looking them up
    public_link: str | None = None  # upstream's PUBLIC_LINK: 3x-ui keys get "<PUBLIC_LINK><email>/<tg_id>"
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:  # never print the secrets
        shown = {
            "remnawave": "login" if self.remnawave_login else "token" if self.remnawave_token else None,
            "3x-ui": "login" if self.xui_username else "token" if self.xui_token else None,
        }
        return f"PanelSettings({shown})"


def from_config(settings: Any) -> PanelSettings:
    """The panel part of the host's ``config.Settings``."""
    public_link = settings.public_link
    return PanelSettings(
        remnawave_login=settings.remnawave_login,
        remnawave_password=settings.remnawave_password,
        remnawave_token=settings.remnawave_access_token,
        xui_username=settings.xui_username,
        xui_password=settings.xui_password,
        xui_token=settings.xui_token,
        supernode=settings.supernode,
        public_link=public_link if not public_link or public_link.endswith("/") else public_link + "/",
    )


_current = PanelSettings()


def configure(settings: PanelSettings) -> None:
    global _current
    _current = settings


def current() -> PanelSettings:
    return _current
