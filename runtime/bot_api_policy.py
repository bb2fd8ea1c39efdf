"""Which Bot API methods a module may have the host run for it.

The default lets a module do what its handlers need — send, edit, delete, answer callbacks,
send media, read chats and members — and refuses the methods that change the bot itself
(its webhook, updates, commands, profile) or end its session. An operator can grant more per
module (the sandbox configuration will carry the grants; here they are a mapping).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Methods that act on the bot as a whole: a module never needs them to serve its users.
BOT_WIDE_METHODS = frozenset(
    {
        "close",
        "logOut",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "setMyCommands",
        "deleteMyCommands",
        "setMyName",
        "setMyDescription",
        "setMyShortDescription",
        "setMyDefaultAdministratorRights",
        "setChatMenuButton",
        "setMyProfilePhoto",
        "removeMyProfilePhoto",
        "setBusinessAccountName",
        "setBusinessAccountUsername",
        "setBusinessAccountBio",
        "transferBusinessAccountStars",
        "transferGift",
    }
)


@dataclass(frozen=True)
class BotApiPolicy:
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)  # module → extra methods

    def refusal(self, module: str, method: str) -> str | None:
        """``None`` when ``module`` may call ``method``, else the reason, for the module and the log."""
        if method in BOT_WIDE_METHODS and method not in self.grants.get(module, frozenset()):
            return f"Forbidden: module {module!r} may not call {method} (it changes the bot itself; an operator can grant it)"
        return None
