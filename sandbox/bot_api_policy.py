"""Which Bot API methods a module may have the host run for it, and how often.

By default a module may do what its handlers need — send, copy, forward, edit and delete
messages, answer callback/inline/pre-checkout/shipping queries, send media, invoices, polls and
locations, read chats, members, files and profile photos. Everything else is refused unless the
operator grants it in ``modules.toml`` (``bot_api = [...]``): methods that change the bot itself
(webhook, updates, commands, profile), end its session, moderate chats (bans, restrictions,
promotions), manage invite links, business accounts, stickers, stars and gifts.

Each module also has a token bucket of ``bot_api_rate`` calls per second (one second's worth of
burst); a call over it is answered like Telegram's own 429, so aiogram code in the module sees
``TelegramRetryAfter``. A ``trusted`` module has upstream's behaviour: every method, no limit.
The buckets are this process's, or shared by every worker of the bot in Redis
(``shared_state.token_buckets``), so a module does not get N times its rate from N workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiogram.methods as _methods
from aiogram.methods import TelegramMethod

from shared_state.token_buckets import LocalTokenBuckets, TokenBuckets

# Every Bot API method aiogram knows (``__api_method__`` of its method classes).
API_METHODS: frozenset[str] = frozenset(
    cls.__api_method__
    for cls in vars(_methods).values()
    if isinstance(cls, type) and issubclass(cls, TelegramMethod) and isinstance(getattr(cls, "__api_method__", None), str)
)

_SEND = {
    "sendMessage",
    "sendPhoto",
    "sendAudio",
    "sendDocument",
    "sendVideo",
    "sendAnimation",
    "sendVoice",
    "sendVideoNote",
    "sendLivePhoto",
    "sendMediaGroup",
    "sendLocation",
    "sendVenue",
    "sendContact",
    "sendPoll",
    "sendChecklist",
    "sendDice",
    "sendSticker",
    "sendChatAction",
    "sendInvoice",
    "sendMessageDraft",
    "sendRichMessage",
    "sendRichMessageDraft",
    "copyMessage",
    "copyMessages",
    "forwardMessage",
    "forwardMessages",
    "createInvoiceLink",
}
_EDIT = {
    "editMessageText",
    "editMessageCaption",
    "editMessageMedia",
    "editMessageReplyMarkup",
    "editMessageLiveLocation",
    "editMessageChecklist",
    "stopMessageLiveLocation",
    "stopPoll",
    "deleteMessage",
    "deleteMessages",
    "setMessageReaction",
    "editEphemeralMessageText",
    "editEphemeralMessageCaption",
    "editEphemeralMessageMedia",
    "editEphemeralMessageReplyMarkup",
    "deleteEphemeralMessage",
}
_ANSWER = {
    "answerCallbackQuery",
    "answerInlineQuery",
    "answerPreCheckoutQuery",
    "answerShippingQuery",
    "answerWebAppQuery",
    "savePreparedInlineMessage",
}
_READ = {
    "getMe",
    "getChat",
    "getChatMember",
    "getChatMemberCount",
    "getChatAdministrators",
    "getFile",
    "getUserProfilePhotos",
    "getUserChatBoosts",
    "getCustomEmojiStickers",
    "getStickerSet",
    "getForumTopicIconStickers",
    "getMyCommands",
    "getMyName",
    "getMyDescription",
    "getMyShortDescription",
}

# What every sandboxed module may call without a grant (only names aiogram knows: a method that
# an older aiogram lacks simply drops out).
DEFAULT_ALLOWED: frozenset[str] = frozenset((_SEND | _EDIT | _ANSWER | _READ) & API_METHODS)

# Methods that act on the bot as a whole; listed for messages (they are refused like any other
# method outside DEFAULT_ALLOWED).
BOT_WIDE_METHODS: frozenset[str] = frozenset(
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

DEFAULT_RATE = 30.0  # calls per second per module
BURST_SECONDS = 1.0  # a bucket holds this many seconds' worth of calls


@dataclass(frozen=True)
class Refusal:
    """Why the host will not run a call: ``forbidden`` (not allowed) or ``rate_limited`` (retry later)."""

    kind: Literal["forbidden", "rate_limited"]
    message: str
    retry_after: int | None = None  # whole seconds, as Telegram's 429 carries it


@dataclass
class _ModulePolicy:
    granted: frozenset[str] = frozenset()
    rate: float = DEFAULT_RATE
    trusted: bool = False
    chats: frozenset[int] = frozenset()  # chats it may send to beyond this bot's users (bot_api_scope)


@dataclass
class BotApiPolicy:
    """Per-module allowlist + rate limit. ``grants``/``rates`` seed it; :meth:`configure` updates one module.

    ``check`` is what the gateway calls for every call; ``clock`` (of the local buckets) is
    injectable for tests; ``buckets`` are the local ones unless shared ones are passed in.
    """

    grants: Mapping[str, Iterable[str]] = field(default_factory=dict)  # module → methods beyond DEFAULT_ALLOWED
    rates: Mapping[str, float] = field(default_factory=dict)  # module → calls/s
    default_rate: float = DEFAULT_RATE
    burst_seconds: float = BURST_SECONDS
    clock: Callable[[], float] = time.monotonic
    buckets: TokenBuckets | None = None

    def __post_init__(self) -> None:
        self._modules: dict[str, _ModulePolicy] = {}
        self._buckets: TokenBuckets = self.buckets if self.buckets is not None else LocalTokenBuckets(self.clock)
        for module in set(self.grants) | set(self.rates):
            self.configure(module, bot_api=self.grants.get(module, ()), rate=self.rates.get(module, self.default_rate))

    def configure(
        self,
        module: str,
        *,
        bot_api: Iterable[str] = (),
        rate: float | None = None,
        trusted: bool = False,
        chats: Iterable[int] = (),
    ) -> None:
        """Set ``module``'s grants and rate (from its ``ModulePermissions``); resets its bucket."""
        rate = self.default_rate if rate is None else float(rate)
        if rate <= 0:
            raise ValueError(f"Bot API rate of module {module!r} must be > 0 calls/s, got {rate}")
        self._modules[module] = _ModulePolicy(frozenset(bot_api), rate, trusted, chats=frozenset(chats))
        self._buckets.reset(module)

    def configure_from(self, module: str, permissions: Any) -> None:
        """:meth:`configure` from a ``sandbox.permissions.ModulePermissions``."""
        self.configure(
            module,
            bot_api=permissions.bot_api,
            rate=permissions.bot_api_rate,
            trusted=permissions.trust == "trusted",
            chats=permissions.send_to_chats,
        )

    def is_trusted(self, module: str) -> bool:
        policy = self._modules.get(module)
        return policy is not None and policy.trusted

    def chats_of(self, module: str) -> frozenset[int]:
        """Chats ``module`` may send to beyond this bot's users (``send_to_chats`` in modules.toml)."""
        policy = self._modules.get(module)
        return policy.chats if policy is not None else frozenset()

    def forget(self, module: str) -> None:
        self._modules.pop(module, None)

    def allowed(self, module: str, method: str) -> bool:
        policy = self._modules.get(module)
        if policy is not None and policy.trusted:
            return True
        return method in DEFAULT_ALLOWED or (policy is not None and method in policy.granted)

    def refusal(self, module: str, method: str) -> str | None:
        """``None`` when ``module`` may call ``method`` at all (no rate accounting), else the reason."""
        if self.allowed(module, method):
            return None
        why = "it changes the bot itself" if method in BOT_WIDE_METHODS else "it is not in the default Bot API allowlist"
        return (
            f"Forbidden: module {module!r} may not call {method} ({why}); "
            f'an operator can grant it in modules.toml: [modules.{module}] bot_api = ["{method}"]'
        )

    async def check(self, module: str, method: str) -> Refusal | None:
        """``None`` when the call may run now (and count it), else a :class:`Refusal`."""
        reason = self.refusal(module, method)
        if reason is not None:
            return Refusal("forbidden", reason)
        policy = self._modules.setdefault(module, _ModulePolicy(rate=self.default_rate))
        if policy.trusted:
            return None
        wait = await self._buckets.take(module, policy.rate, max(1.0, policy.rate * self.burst_seconds))
        if wait <= 0:
            return None
        retry_after = max(1, math.ceil(wait))
        return Refusal(
            "rate_limited",
            f"Too Many Requests: retry after {retry_after} (module {module!r} may make {policy.rate:g} Bot API calls/s; "
            f"an operator can raise bot_api_rate in modules.toml [modules.{module}])",
            retry_after,
        )
