"""End-to-end tests of the local Bot API server with a real aiogram Bot and Dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    Message,
)

from local_bot_api import LocalBotAPI

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def make_bot(api: LocalBotAPI, token: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    return Bot(token=token or api.token, session=session)


def menu(counter: int = 0) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Plus one", callback_data=f"inc:{counter}")],
            [InlineKeyboardButton(text="Docs", url="https://example.org")],
        ]
    )


def counter_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Counter: 0", reply_markup=menu())

    @router.callback_query(F.data.startswith("inc:"))
    async def increment(query: CallbackQuery) -> None:
        value = int(query.data.split(":")[1]) + 1
        await query.message.edit_text(f"Counter: {value}", reply_markup=menu(value))
        await query.answer(f"now {value}")

    return router


@asynccontextmanager
async def polling(api: LocalBotAPI, router: Router) -> AsyncIterator[Bot]:
    """A real Dispatcher long-polling the local server for the duration of the block."""
    bot = make_bot(api)
    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        yield bot
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(task, 5)
        await bot.session.close()


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI(token="123456:TEST") as server:
        yield server


async def test_start_button_edits_message_in_place(api: LocalBotAPI) -> None:
    user = api.user(tg_id=1001, first_name="Ivan", username="ivan")
    async with polling(api, counter_router()):
        await user.send("/start")
        reply = await user.wait_for_reply(timeout=5)
        assert reply.from_bot and reply.text == "Counter: 0"
        assert reply.keyboard == [[("Plus one", "inc:0")], [("Docs", "https://example.org")]]
        assert not reply.edited

        await user.press("Plus one")
        edited = await user.wait_for_reply(timeout=5)
        assert edited.message_id == reply.message_id
        assert edited.text == "Counter: 1" and edited.edited
        await user.wait_until(lambda u: u.callback_answers, timeout=5)
        assert user.callback_answers[0]["text"] == "now 1"

        await user.press("inc:1")  # by callback_data too
        assert (await user.wait_for_reply()).text == "Counter: 2"
    # One user message plus one bot message edited twice in place.
    assert [m.text for m in user.chat] == ["/start", "Counter: 2"]
    assert user.last_message is not None and user.last_message.buttons == ["Plus one", "Docs"]


async def test_edit_errors_and_button_validation(api: LocalBotAPI) -> None:
    user = api.user(tg_id=1002, first_name="Olga")
    async with make_bot(api) as bot:
        sent = await bot.send_message(user.id, "<b>Hello</b>", parse_mode="HTML", reply_markup=menu())
        assert sent.from_user is not None and sent.from_user.is_bot
        assert user.last_message is not None and user.last_message.text == "<b>Hello</b>"

        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(text="<b>Hello</b>", chat_id=user.id, message_id=sent.message_id, reply_markup=menu())
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text(text="x", chat_id=user.id, message_id=999)
        changed = await bot.edit_message_reply_markup(chat_id=user.id, message_id=sent.message_id, reply_markup=None)
        assert changed.reply_markup is None

        too_long = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="a" * 65)]])
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(user.id, "hi", reply_markup=too_long)
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(424242, "hi")
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(user.id, "x" * 4097)


async def test_photo_upload_reuse_caption_and_delete(api: LocalBotAPI) -> None:
    user = api.user(tg_id=1003, first_name="Petr")
    async with make_bot(api) as bot:
        first = await bot.send_photo(user.id, BufferedInputFile(b"\x89PNG fake", filename="a.png"), caption="one")
        assert first.photo
        file_id = first.photo[-1].file_id
        assert api.world.files[file_id].data == b"\x89PNG fake"

        second = await bot.send_photo(user.id, file_id, caption="two")
        assert second.photo and second.photo[-1].file_id == file_id
        with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
            await bot.send_photo(user.id, "no-such-file")

        recaptioned = await bot.edit_message_caption(chat_id=user.id, message_id=second.message_id, caption="three")
        assert recaptioned.caption == "three"

        doc = await bot.send_document(user.id, BufferedInputFile(b"report", filename="r.txt"))
        assert doc.document is not None and doc.document.file_name == "r.txt"

        assert await bot.delete_message(user.id, first.message_id)
        assert [m.message_id for m in user.chat] == [second.message_id, doc.message_id]
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message(user.id, first.message_id)


async def test_unknown_token_is_unauthorized(api: LocalBotAPI) -> None:
    async with make_bot(api, token="999:WRONG") as bot:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()


async def test_get_updates_offset_confirms(api: LocalBotAPI) -> None:
    user = api.user(tg_id=1004, first_name="Anna")
    async with make_bot(api) as bot:
        await user.send("one")
        await user.send("two")
        updates = await bot.get_updates(timeout=0)
        assert [u.message.text for u in updates if u.message] == ["one", "two"]
        assert updates[0].message is not None and updates[0].message.from_user.id == user.id

        # Re-reading without offset returns the same; confirming the first drops it.
        assert len(await bot.get_updates(timeout=0)) == 2
        rest = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
        assert [u.message.text for u in rest if u.message] == ["two"]
        assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []

        # Long poll: a message sent while waiting is returned at once.
        waiter = asyncio.create_task(bot.get_updates(offset=updates[-1].update_id + 1, timeout=5))
        await asyncio.sleep(0.1)
        await user.send("three")
        fresh = await asyncio.wait_for(waiter, 3)
        assert [u.message.text for u in fresh if u.message] == ["three"]

        entities = fresh[0].message.entities if fresh[0].message else None
        assert entities is None
        await user.send("/start deep")
        cmd = await bot.get_updates(offset=fresh[-1].update_id + 1, timeout=0)
        assert cmd[0].message is not None and cmd[0].message.entities[0].type == "bot_command"


async def test_rate_limit_raises_retry_after() -> None:
    async with LocalBotAPI(rate_limit=(2, 30)) as api:
        user = api.user(tg_id=1005, first_name="Oleg")
        async with make_bot(api) as bot:
            await bot.send_message(user.id, "1")
            await bot.send_message(user.id, "2")
            with pytest.raises(TelegramRetryAfter) as info:
                await bot.send_message(user.id, "3")
            assert info.value.retry_after >= 1
            assert "Too Many Requests: retry after" in info.value.message


async def test_webhook_and_commands(api: LocalBotAPI) -> None:
    async with make_bot(api) as bot:
        assert (await bot.get_me()).username == "local_test_bot"
        assert await bot.set_webhook("https://example.org/hook")
        assert (await bot.get_webhook_info()).url == "https://example.org/hook"
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
        assert next(iter(api.world.commands.values()))[0]["command"] == "start"


async def test_chat_info_media_edit_and_url_photo(api: LocalBotAPI) -> None:
    user = api.user(tg_id=1006, first_name="Vera", username="vera")
    async with make_bot(api) as bot:
        chat = await bot.get_chat("@vera")
        assert chat.id == user.id and chat.type == "private" and chat.username == "vera"
        member = await bot.get_chat_member(user.id, user.id)
        assert member.status == "member" and member.user.first_name == "Vera"

        by_url = await bot.send_photo(user.id, "https://example.org/cat.jpg")
        assert by_url.photo and api.world.files[by_url.photo[-1].file_id].url == "https://example.org/cat.jpg"

        media = InputMediaDocument(media=BufferedInputFile(b"new", filename="n.bin"), caption="swapped")
        swapped = await bot.edit_message_media(media=media, chat_id=user.id, message_id=by_url.message_id)
        assert swapped.document is not None and swapped.caption == "swapped" and not swapped.photo
        view = user.last_message
        assert view is not None and view.edited and view.document_file_id == swapped.document.file_id
        same = InputMediaDocument(media=swapped.document.file_id, caption="swapped")
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_media(media=same, chat_id=user.id, message_id=by_url.message_id)
