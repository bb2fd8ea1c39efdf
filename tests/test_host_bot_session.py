"""The module's bot session (``runtime.child.host_bot_session``) over a real channel pair."""

from __future__ import annotations

import gc
import socket
import weakref
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import Default
from aiogram.methods import Response
from aiogram.types import BufferedInputFile, Message

from ipc import Peer, Ref
from runtime.aiogram_bridge.response_types import response_type
from runtime.aiogram_bridge.telegram_codec import telegram_codec
from runtime.child.host_bot_session import HostBotSession

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

MESSAGE = {"message_id": 7, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "hi"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_response_types_survive_the_garbage_collector() -> None:
    # The premise: pydantic keeps a parametrized model only weakly, so a collection drops it
    # (and the next call builds it again). If pydantic ever keeps them, this cache can go.
    plain = weakref.ref(Response[list[Message]])
    gc.collect()
    assert plain() is None, "pydantic now keeps parametrized models: response_type() may be removed"
    kept = weakref.ref(response_type(list[Message]))
    gc.collect()
    assert kept() is not None and kept() is response_type(list[Message])


async def test_calls_cross_as_sent_files_as_refs_and_results_come_back_bound_to_the_bot() -> None:
    seen: list[dict[str, Any]] = []

    async def host(method: str, params: Any) -> Any:
        seen.append(params)
        return {"result": MESSAGE}

    async def refuse(method: str, params: Any) -> Any:
        raise LookupError(method)

    host_sock, module_sock = socket.socketpair()
    host_peer = await Peer.connect(host_sock, "host", host, codec=telegram_codec())
    module_peer = await Peer.connect(module_sock, "module", refuse, codec=telegram_codec())
    bot = Bot("42:sandbox", session=HostBotSession(module_peer))
    try:
        sent = await bot.send_message(5, "hi")
        await bot.send_document(5, BufferedInputFile(b"data", filename="a.txt"), caption="c")
    finally:
        module_peer.close()
        host_peer.close()
    assert isinstance(sent, Message) and sent.message_id == 7 and sent.bot is bot
    assert seen[0]["method"] == "sendMessage" and {"chat_id": 5, "text": "hi"}.items() <= seen[0]["params"].items()
    assert seen[0]["params"]["parse_mode"] == Default("parse_mode")  # resolved by the host's bot
    assert seen[1]["method"] == "sendDocument"
    assert seen[1]["params"]["document"] == Ref("file", ["a.txt", b"data"]) and seen[1]["params"]["caption"] == "c"


async def test_the_hosts_bot_keeps_the_response_types_of_its_calls() -> None:
    # The host's real bot (``host.app._make_bot``) against the local Bot API server: after a
    # collection, aiogram's ``Response[User]`` is still pydantic's cached model, not rebuilt.
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import User

    from local_bot_api import LocalBotAPI
    from runtime.aiogram_bridge.response_types import ResponseTypesKept

    async with LocalBotAPI() as api:
        bot = Bot(api.token, session=ResponseTypesKept(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            me = await bot.get_me()
            model = weakref.ref(Response[User])
            gc.collect()
            assert model() is not None and Response[User] is model()
            assert (await bot.get_me()).id == me.id
        finally:
            await bot.session.close()
