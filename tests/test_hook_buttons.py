"""insert_hook_buttons: the seed's operation protocol applied to a core keyboard (in-process)."""

from __future__ import annotations

import logging

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo
from aiogram.utils.keyboard import InlineKeyboardBuilder

from hooks.hook_buttons import insert_hook_buttons
from hooks.operations import MAX_BUTTONS_PER_MODULE
from hooks.results import HookResults

from .conftest import callback_rows

PROFILE = ["view_keys", "balance", "invite", "instructions", "start"]


def profile_keyboard() -> InlineKeyboardBuilder:
    builder = InlineKeyboardBuilder()
    for data in PROFILE:
        builder.row(InlineKeyboardButton(text=data, callback_data=data))
    return builder


def btn(data: str, **kwargs: object) -> InlineKeyboardButton:
    if kwargs:
        return InlineKeyboardButton(text=data, **kwargs)
    return InlineKeyboardButton(text=data, callback_data=data)


def apply(*results: tuple[str, object]) -> list[list[str]]:
    return callback_rows(insert_hook_buttons(profile_keyboard(), HookResults("profile_menu", list(results))))


def test_append_after_insert_at_and_bare_button() -> None:
    rows = apply(
        ("a", {"button": btn("a")}),
        ("b", {"after": "balance", "button": btn("b")}),
        ("c", {"insert_at": 0, "button": btn("c")}),
        ("d", btn("d")),
    )
    assert rows == [["c"], ["view_keys"], ["balance"], ["b"], ["invite"], ["instructions"], ["start"], ["a"], ["d"]]


def test_after_keeps_load_order_for_the_same_anchor() -> None:
    rows = apply(("a", {"after": "balance", "button": btn("a")}), ("b", {"after": "balance", "button": btn("b")}))
    assert rows == [["view_keys"], ["balance"], ["a"], ["b"], ["invite"], ["instructions"], ["start"]]


def test_after_unknown_anchor_appends() -> None:
    assert apply(("a", {"after": "nope", "button": btn("a")}))[-1] == ["a"]


def test_removals_apply_before_insertions() -> None:
    rows = apply(
        ("a", {"after": "invite", "button": btn("a")}),  # anchor removed below: appended instead
        ("b", [{"remove": ["invite", "instructions"]}]),
    )
    assert rows == [["view_keys"], ["balance"], ["start"], ["a"]]


def test_remove_prefix_and_urls_including_web_apps() -> None:
    builder = profile_keyboard()
    builder.row(btn("legacy_1"), btn("legacy_2"))
    builder.row(btn("site", url="https://example.com/page"))
    builder.row(btn("app", web_app=WebAppInfo(url="https://app.example.com/x")))
    builder.row(btn("chan", url="https://t.me/chan"))
    results = HookResults(
        "profile_menu",
        [
            ("a", {"remove_prefix": "legacy_"}),
            ("b", {"remove_url": "https://example.com/page"}),
            ("c", {"remove_url_prefix": "https://app.example.com/"}),
        ],
    )
    assert callback_rows(insert_hook_buttons(builder, results)) == [[d] for d in PROFILE] + [["https://t.me/chan"]]


def test_replace_keyboard_first_wins() -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[btn("x"), btn("y")]])
    rows = apply(
        ("a", {"replace_keyboard": markup}),
        ("b", {"replace_keyboard": [[btn("z")]]}),
        ("c", {"button": btn("c")}),
    )
    assert rows == [["x", "y"]]


def test_nested_lists_are_flattened() -> None:
    rows = apply(("a", [[{"button": btn("a1")}], [[{"button": btn("a2")}]], btn("a3")]))
    assert rows[-3:] == [["a1"], ["a2"], ["a3"]]


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        ("just a string", "must be a dict or a button"),
        (42, "must be a dict or a button"),
        ({"nothing": 1}, "no known operation key"),
        ({"button": "not a button"}, "InlineKeyboardButton"),
        ({"button": InlineKeyboardButton(text="long", callback_data="x" * 200)}, "callback_data is 200 bytes"),
        ({"button": InlineKeyboardButton(text="  ", callback_data="ok")}, "text is empty"),
        ({"button": InlineKeyboardButton(text="two", callback_data="a", url="https://x.org")}, "exactly one action"),
        ({"button": InlineKeyboardButton(text="none")}, "exactly one action"),
        ({"button": InlineKeyboardButton(text="js", url="javascript:alert(1)")}, "scheme"),
        ({"button": InlineKeyboardButton(text="nohost", url="https:///path")}, "no host"),
        ({"after": 5, "button": btn("ok")}, "'after' must be"),
        ({"insert_at": -1, "button": btn("ok")}, "non-negative"),
        ({"insert_at": True, "button": btn("ok")}, "non-negative"),
        ({"insert_at": 0}, "need a 'button'"),
        ({"remove_prefix": ""}, "non-empty"),
        ({"remove": [1, 2]}, "list of strings"),
        ({"replace_keyboard": "everything"}, "must be a keyboard"),
        ({"replace_keyboard": [[InlineKeyboardButton(text="t", callback_data="é" * 33)]]}, "callback_data is 66 bytes"),
        ([[[[[{"button": btn("deep")}]]]]], "nested more than"),
    ],
)
def test_invalid_operations_are_dropped_and_logged(garbage: object, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="solobot.hooks"):
        rows = apply(("evil_mod", garbage), ("good_mod", {"after": "balance", "button": btn("good")}))
    assert rows == [["view_keys"], ["balance"], ["good"], ["invite"], ["instructions"], ["start"]]
    messages = [r.getMessage() for r in caplog.records]
    assert any("evil_mod" in m and reason in m for m in messages), messages


def test_button_cap_per_module(caplog: pytest.LogCaptureFixture) -> None:
    flood = [{"button": btn(f"f{i}")} for i in range(10_000)]
    with caplog.at_level(logging.WARNING, logger="solobot.hooks"):
        rows = apply(("flooder", flood), ("good_mod", {"button": btn("good")}))
    added = [row[0] for row in rows if row[0].startswith("f")]
    assert len(added) == MAX_BUTTONS_PER_MODULE
    assert rows[: len(PROFILE)] == [[d] for d in PROFILE]
    assert rows[-1] == ["good"]
    # One summarised line for the whole call, not one per dropped item.
    lines = [r.getMessage() for r in caplog.records if "flooder" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "9990 invalid button operation(s) dropped; first: " in lines[0]
    assert f"more than {MAX_BUTTONS_PER_MODULE} buttons" in lines[0]


def test_plain_list_results_work_like_upstream() -> None:
    builder = insert_hook_buttons(profile_keyboard(), [{"after": "balance", "button": btn("x")}, None, {}])
    assert callback_rows(builder)[2] == ["x"]


def test_original_builder_is_untouched() -> None:
    builder = profile_keyboard()
    insert_hook_buttons(builder, [{"remove": "balance"}])
    assert callback_rows(builder) == [[d] for d in PROFILE]
