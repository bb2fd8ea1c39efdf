"""The Bot API policy: default allowlist, operator grants, per-module rate limit (fake clock)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.bot_api_policy import API_METHODS, BOT_WIDE_METHODS, DEFAULT_ALLOWED, BotApiPolicy
from sandbox.permissions import ModulePermissions


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_default_allowlist_serves_handlers_and_refuses_the_rest(anyio_backend: str) -> None:
    policy = BotApiPolicy()
    for method in (
        "sendMessage",
        "editMessageText",
        "deleteMessage",
        "answerCallbackQuery",
        "answerPreCheckoutQuery",
        "sendPhoto",
        "sendDocument",
        "sendInvoice",
        "sendPoll",
        "sendLocation",
        "getChat",
        "getChatMember",
        "getChatMemberCount",
        "getMe",
        "getFile",
        "getUserProfilePhotos",
        "copyMessage",
        "createInvoiceLink",
    ):
        assert await policy.check("m", method) is None, method
    for method in (
        "setWebhook",
        "deleteWebhook",
        "getUpdates",
        "logOut",
        "close",
        "setMyCommands",
        "banChatMember",
        "restrictChatMember",
        "promoteChatMember",
        "unbanChatMember",
        "leaveChat",
        "refundStarPayment",
        "getStarTransactions",
        "transferBusinessAccountStars",
        "createChatInviteLink",
        "setChatPermissions",
    ):
        refusal = await policy.check("m", method)
        assert refusal is not None and refusal.kind == "forbidden", method
        assert refusal.message.startswith(f"Forbidden: module 'm' may not call {method}")
        assert f'[modules.m] bot_api = ["{method}"]' in refusal.message
    assert DEFAULT_ALLOWED <= API_METHODS
    assert not DEFAULT_ALLOWED & BOT_WIDE_METHODS
    assert "changes the bot itself" in policy.refusal("m", "setWebhook")  # type: ignore[operator]
    assert "not in the default Bot API allowlist" in policy.refusal("m", "banChatMember")  # type: ignore[operator]


async def test_grants_are_per_module_and_trusted_gets_everything(anyio_backend: str) -> None:
    policy = BotApiPolicy(grants={"admin_tools": ["setMyCommands", "banChatMember"]})
    assert await policy.check("admin_tools", "setMyCommands") is None
    assert await policy.check("admin_tools", "banChatMember") is None
    assert await policy.check("other", "setMyCommands") is not None
    policy.configure_from("other", ModulePermissions(bot_api=("setMyCommands",)))
    assert await policy.check("other", "setMyCommands") is None
    assert await policy.check("other", "logOut") is not None
    policy.configure_from("legacy", ModulePermissions(trust="trusted", bot_api_rate=1))
    for _ in range(100):
        assert await policy.check("legacy", "logOut") is None


async def test_rate_limit_is_a_token_bucket_per_module(anyio_backend: str) -> None:
    clock = Clock()
    policy = BotApiPolicy(rates={"slow": 2}, clock=clock)
    assert [await policy.check("slow", "sendMessage") for _ in range(2)] == [None, None]  # burst: one second's worth
    refusal = await policy.check("slow", "sendMessage")
    assert refusal is not None and refusal.kind == "rate_limited" and refusal.retry_after == 1
    assert refusal.message.startswith("Too Many Requests: retry after 1")
    assert "bot_api_rate" in refusal.message
    assert await policy.check("fast", "sendMessage") is None  # another module has its own bucket (default 30/s)
    clock.now += 0.5  # refills one token at 2/s
    assert await policy.check("slow", "sendMessage") is None
    assert await policy.check("slow", "sendMessage") is not None
    clock.now += 10  # refills to the burst, not beyond
    assert [await policy.check("slow", "sendMessage") is None for _ in range(3)] == [True, True, False]
    # a forbidden call does not use a token
    clock.now += 1
    assert (await policy.check("slow", "setWebhook")).kind == "forbidden"  # type: ignore[union-attr]
    assert [await policy.check("slow", "sendMessage") is None for _ in range(3)] == [True, True, False]


async def test_slow_rate_retry_after_rounds_up_and_bad_rates_are_refused(anyio_backend: str) -> None:
    clock = Clock()
    policy = BotApiPolicy(rates={"drip": 0.25}, clock=clock)
    assert await policy.check("drip", "sendMessage") is None
    refusal = await policy.check("drip", "sendMessage")
    assert refusal is not None and refusal.retry_after == 4
    with pytest.raises(ValueError, match="must be > 0"):
        policy.configure("drip", rate=0)


async def test_gateway_answers_like_telegram(anyio_backend: str) -> None:
    from runtime.aiogram_bridge.bot_gateway import BotGateway

    class FakeBot:
        async def __call__(self, method: Any) -> Any:
            return True

    clock = Clock()
    gateway = BotGateway(FakeBot(), BotApiPolicy(rates={"m": 1}, clock=clock))  # type: ignore[arg-type]
    call = {"method": "sendChatAction", "params": {"chat_id": 1, "action": "typing"}}
    assert await gateway.call("m", call) == {"result": True}
    limited = await gateway.call("m", call)
    assert limited["error"]["type"] == "TelegramRetryAfter" and limited["error"]["retry_after"] == 1
    refused = await gateway.call("m", {"method": "setWebhook", "params": {"url": "https://x.example"}})
    assert refused["error"]["type"] == "TelegramForbiddenError"


def test_old_import_path_still_works() -> None:
    from sandbox.bot_api_policy import BotApiPolicy as Old

    assert Old is BotApiPolicy
