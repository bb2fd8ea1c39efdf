"""The router summary a module process reports, and the host's matching on it.

Real aiogram routers and filters on the child side; the host side gets only the wire form, as
it would from an untrusted process.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import F, Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Chat, Message, User

from ipc import ProtocolError, decode, encode
from runtime.aiogram_bridge.route_index import RouteIndex
from runtime.child.route_filters import describe_router


class Flow(StatesGroup):
    code = State()
    confirm = State()


class Item(CallbackData, prefix="item"):
    id: int


def index(router: Router) -> RouteIndex:
    return RouteIndex.from_wire(decode(encode(describe_router(router))))


def callback(data: str) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=User(id=1, is_bot=False, first_name="u"), chat_instance="1", data=data)


def message(text: str | None = None, caption: str | None = None) -> Message:
    return Message(message_id=1, date=0, chat=Chat(id=1, type="private"), text=text, caption=caption)


def handlers_router() -> Router:
    router = Router()
    noop: Any = lambda *a, **k: None  # noqa: E731
    router.callback_query(F.data == "hello|open")(noop)
    router.callback_query(F.data.startswith("happ_tv|"))(noop)
    router.callback_query(F.data.in_({"a", "b"}))(noop)
    router.callback_query(Item.filter())(noop)
    router.message(CommandStart())(noop)
    router.message(Command("top", "stats"))(noop)
    router.message(Flow.code)(noop)
    router.message(StateFilter(Flow.confirm), F.text == "да")(noop)
    return router


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("hello|open", True),
        ("hello|other", False),
        ("happ_tv|key1", True),
        ("a", True),
        ("c", False),
        ("item:5", True),
        ("profile", False),
        ("view_key|x", False),
    ],
)
def test_callback_data_filters_are_decided_in_the_host(data: str, expected: bool) -> None:
    assert index(handlers_router()).may_match("callback_query", callback(data), None) is expected


@pytest.mark.parametrize(
    ("text", "state", "expected"),
    [
        ("/start", None, True),
        ("/start ref42", None, True),
        ("/top", None, True),
        ("/profile", None, False),
        ("hello", None, False),
        ("hello", "Flow:code", True),
        ("да", "Flow:confirm", True),
        ("нет", "Flow:confirm", False),
        ("hello", "Other:state", False),
    ],
)
def test_commands_texts_and_states(text: str, state: str | None, expected: bool) -> None:
    assert index(handlers_router()).may_match("message", message(text), state) is expected


def test_a_command_in_a_caption_matches() -> None:
    assert index(handlers_router()).may_match("message", message(caption="/top"), None)


def test_filters_that_cannot_be_read_mean_may_match() -> None:
    router = Router()
    router.callback_query(lambda c: c.data.endswith("!"))(lambda *a: None)
    router.message(F.from_user.id == 5)(lambda *a: None)
    idx = index(router)
    assert idx.may_match("callback_query", callback("anything"), None)
    assert idx.may_match("message", message("anything"), "Some:state")
    assert not idx.may_match("inline_query", message("x"), None)  # no handlers of that type


def test_router_level_filters_and_sub_routers_narrow_their_handlers() -> None:
    parent = Router()
    parent.callback_query.filter(F.data.startswith("mod|"))
    parent.callback_query()(lambda *a: None)
    child = Router()
    child.message(F.text == "x")(lambda *a: None)
    parent.include_router(child)
    idx = index(parent)
    assert idx.may_match("callback_query", callback("mod|1"), None)
    assert not idx.may_match("callback_query", callback("other"), None)
    assert idx.may_match("message", message("x"), None)
    assert not idx.may_match("message", message("y"), None)


@pytest.mark.parametrize(
    "routes",
    [
        [],
        {"message": "all"},
        {"message": [{"data": [["regex", ".*"]]}]},
        {"message": [{"unknown_kind": []}]},
        {"message": [{"state": [1]}]},
        {"message": [{"text": [["eq", "x" * 5000]]}]},
        {"bad type!": []},
    ],
)
def test_a_malformed_summary_is_a_protocol_error(routes: Any) -> None:
    with pytest.raises(ProtocolError):
        RouteIndex.from_wire(routes)
