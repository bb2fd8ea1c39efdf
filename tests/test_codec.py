"""Property tests of ``ipc.codec``: what goes in comes back out, and nothing else gets through.

Every round trip is checked strictly (``assert_same``): equal values *and* identical types all
the way down, so ``True`` coming back as ``1`` or ``-0.0`` as ``0.0`` would fail.
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from decimal import Decimal
from typing import Any

import aiogram.types as tg
import msgpack
import pytest
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputMediaPhoto,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    TelegramObject,
    User,
)
from aiogram.utils.web_app import WebAppUser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipc import DEFAULT_MAX_FRAME, Ref, codec
from ipc.codec import EXT_DATE, EXT_DATETIME, EXT_DECIMAL
from ipc.errors import CodecError
from runtime.aiogram_bridge.telegram_codec import EXT_TELEGRAM, HOST_CODEC

# The codec of a host↔module channel: the generic one plus Telegram objects.
encode, decode, describe_unsupported = HOST_CODEC.encode, HOST_CODEC.decode, HOST_CODEC.describe_unsupported

# Deterministic runs (same examples every time); no deadline because the first validation of an
# aiogram model builds its pydantic schema, which is slow once and would trip the deadline.
FAST = settings(derandomize=True, deadline=None, max_examples=100)
SLOW = settings(derandomize=True, deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- helpers


def assert_same(actual: Any, expected: Any, path: str = "value") -> None:
    """``actual == expected`` with identical types at every level (lists, dict keys included)."""
    assert type(actual) is type(expected), f"{path}: got {type(actual).__name__}, expected {type(expected).__name__}"
    if isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert len(actual) == len(expected), f"{path}: {len(actual)} keys != {len(expected)}"
        for (ak, av), (ek, ev) in zip(actual.items(), expected.items(), strict=True):
            assert_same(ak, ek, f"{path} key {ek!r}")
            assert_same(av, ev, f"{path}[{ek!r}]")
    elif isinstance(expected, float):
        # bit-exact: keeps -0.0 apart from 0.0 and infinities intact
        assert struct.pack(">d", actual) == struct.pack(">d", expected), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, dt.datetime):
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
        assert actual.utcoffset() == expected.utcoffset(), f"{path}: offset {actual.utcoffset()} != {expected.utcoffset()}"
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), f"{path}: wall clock changed"
    elif isinstance(expected, Decimal):
        # str() tells apart 1.10 and 1.1, -0 and 0, NaN payloads and signs
        assert str(actual) == str(expected), f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def wire_form(value: Any) -> Any:
    """What ``decode(encode(value))`` should give: tuples become lists, enums their values."""
    if isinstance(value, enum.Enum):
        return wire_form(value.value)
    if isinstance(value, (list, tuple)):
        return [wire_form(item) for item in value]
    if isinstance(value, dict):
        return {wire_form(k): wire_form(v) for k, v in value.items()}
    if isinstance(value, bool):
        return value
    if isinstance(value, int):  # IntEnum/IntFlag members are ints too; msgpack sends them as int
        return int(value)
    if isinstance(value, str):
        return str(value)  # StrEnum members are str
    return value


def round_trip(value: Any) -> Any:
    data = encode(value)
    assert isinstance(data, bytes)
    return decode(data)


def ext(code: int, payload: bytes) -> bytes:
    return msgpack.packb(msgpack.ExtType(code, payload))


def telegram_envelope(name: Any, fields: Any) -> bytes:
    return ext(EXT_TELEGRAM, msgpack.packb([name, fields], use_bin_type=True))


class Color(enum.Enum):
    RED = "red"
    GREEN = 2
    BLUE = (1, "b")  # a tuple value comes back as a list
    BIRTHDAY = dt.date(2000, 1, 2)  # an ext-typed value comes back as a date


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 10


class Mode(enum.StrEnum):
    FAST = "fast"
    SAFE = "safe"


class Perm(enum.IntFlag):
    READ = 1
    WRITE = 2


class Opaque:
    """A value the codec cannot know about."""


# ---------------------------------------------------------------------------- strategies

INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
FLOATS = st.floats(allow_nan=False)  # infinities and -0.0 included
# Whole-second offsets (historical local mean times have seconds, e.g. +00:19:32). Sub-second
# offsets are left out: Python 3.11's datetime.fromisoformat() reads "+00:00:00.000001" as UTC.
FIXED_OFFSETS = st.integers(min_value=-86399, max_value=86399).map(lambda s: dt.timezone(dt.timedelta(seconds=s)))
NAIVE_DATETIMES = st.datetimes()
AWARE_DATETIMES = st.datetimes(timezones=FIXED_OFFSETS)
FINITE_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
ENUM_MEMBERS = st.sampled_from([*Color, *Level, *Mode, Perm.READ, Perm.WRITE, Perm.READ | Perm.WRITE])

PRIMITIVES = st.none() | st.booleans() | INT64 | FLOATS | st.text() | st.binary()
KEYS = st.none() | st.booleans() | INT64 | FLOATS | st.text() | st.binary()
SCALARS = PRIMITIVES | NAIVE_DATETIMES | AWARE_DATETIMES | st.dates() | FINITE_DECIMALS | ENUM_MEMBERS
EXT_KEYS = KEYS | NAIVE_DATETIMES | st.dates() | FINITE_DECIMALS

NESTED = st.recursive(
    PRIMITIVES,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
EVERYTHING = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.tuples(children, children) | st.dictionaries(EXT_KEYS, children, max_size=4)
    ),
    max_leaves=20,
)
WITH_TUPLES = st.recursive(
    PRIMITIVES,
    lambda children: st.tuples() | st.tuples(children) | st.tuples(children, children, children) | st.lists(children, max_size=3),
    max_leaves=15,
)

# aiogram objects as Telegram sends them: dates are whole seconds in UTC. The range stops well
# before 2603: pydantic reads a number above 2e10 as *milliseconds*, an aiogram limitation.
TG_DATES = st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2500, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=dt.UTC)
)
SHORT_TEXT = st.text(min_size=1, max_size=30)
USERS = st.builds(
    User,
    id=st.integers(min_value=1, max_value=2**52),
    is_bot=st.booleans(),
    first_name=SHORT_TEXT,
    last_name=st.none() | SHORT_TEXT,
    username=st.none() | st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{4,31}", fullmatch=True),
    language_code=st.none() | st.sampled_from(["en", "ru", "uk"]),
)
BUTTONS = st.one_of(
    st.builds(InlineKeyboardButton, text=SHORT_TEXT, callback_data=st.text(min_size=1, max_size=64)),
    st.builds(
        InlineKeyboardButton,
        text=SHORT_TEXT,
        url=st.from_regex(r"https://[a-z]{1,10}\.[a-z]{2,3}/[a-z0-9]{0,10}", fullmatch=True),
    ),
)
MARKUPS = st.builds(InlineKeyboardMarkup, inline_keyboard=st.lists(st.lists(BUTTONS, min_size=1, max_size=4), max_size=4))
PRIVATE_CHATS = st.builds(Chat, id=st.integers(min_value=-(2**63), max_value=2**63 - 1), type=st.just("private"))
MESSAGES = st.builds(
    Message,
    message_id=st.integers(min_value=1, max_value=2**31 - 1),
    chat=PRIVATE_CHATS,
    date=TG_DATES,
    text=st.text(max_size=100),
    from_user=st.none() | USERS,
    reply_markup=st.none() | MARKUPS,
)
CALLBACK_QUERIES = st.builds(
    CallbackQuery,
    id=st.text(min_size=1, max_size=20),
    from_user=USERS,
    chat_instance=st.text(min_size=1, max_size=20),
    data=st.none() | st.text(max_size=64),
    message=st.none() | MESSAGES,
)
TELEGRAM_OBJECTS = USERS | BUTTONS | MARKUPS | MESSAGES | CALLBACK_QUERIES


# ---------------------------------------------------------------------------- round trips: plain data


@FAST
@given(PRIMITIVES)
def test_primitives_round_trip(value: Any) -> None:
    assert_same(round_trip(value), value)


@pytest.mark.parametrize(
    "value",
    [0, -1, 2**63 - 1, 2**64 - 1, -(2**63), True, False, None, -0.0, float("inf"), float("-inf"), "", b"", "ёж 🦔", b"\x00\xff"],
)
def test_boundary_primitives_round_trip(value: Any) -> None:
    assert_same(round_trip(value), value)


@FAST
@given(NESTED)
def test_nested_lists_and_dicts_round_trip(value: Any) -> None:
    assert_same(round_trip(value), value)


@FAST
@given(WITH_TUPLES)
def test_tuples_come_back_as_lists(value: Any) -> None:
    decoded = round_trip(value)
    assert_same(decoded, wire_form(value))


def test_tuple_comes_back_as_list_explicitly() -> None:
    decoded = round_trip((1, ("a", b"b"), []))
    assert decoded == [1, ["a", b"b"], []]
    assert type(decoded) is list
    assert type(decoded[1]) is list


@FAST
@given(NAIVE_DATETIMES)
def test_naive_datetimes_stay_naive(value: dt.datetime) -> None:
    decoded = round_trip(value)
    assert type(decoded) is dt.datetime
    assert decoded.tzinfo is None
    assert decoded == value
    assert decoded.isoformat() == value.isoformat()


@FAST
@given(AWARE_DATETIMES)
def test_aware_datetimes_keep_their_offset(value: dt.datetime) -> None:
    decoded = round_trip(value)
    assert type(decoded) is dt.datetime
    assert decoded.tzinfo is not None
    assert decoded.utcoffset() == value.utcoffset()
    assert decoded == value
    assert decoded.replace(tzinfo=None) == value.replace(tzinfo=None)


def test_aware_datetime_in_utc_and_in_a_named_zone() -> None:
    utc = dt.datetime(2024, 3, 1, 12, 30, 15, 250, tzinfo=dt.UTC)
    assert_same(round_trip(utc), utc)
    moscow = dt.datetime(2024, 3, 1, 15, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=3), "MSK"))
    decoded = round_trip(moscow)
    assert decoded.utcoffset() == dt.timedelta(hours=3)
    assert decoded == utc.replace(microsecond=0)  # the same instant


@FAST
@given(st.dates())
def test_dates_round_trip_as_dates(value: dt.date) -> None:
    decoded = round_trip(value)
    assert type(decoded) is dt.date  # not promoted to datetime
    assert decoded == value


@FAST
@given(FINITE_DECIMALS)
def test_finite_decimals_round_trip_exactly(value: Decimal) -> None:
    decoded = round_trip(value)
    assert type(decoded) is Decimal
    assert decoded == value
    assert str(decoded) == str(value)  # precision and exponent kept (1.10 stays 1.10)


@pytest.mark.parametrize("text", ["NaN", "-NaN", "NaN123", "sNaN", "-sNaN7", "Infinity", "-Infinity", "-0", "1.10", "1E+400"])
def test_special_decimals_round_trip(text: str) -> None:
    value = Decimal(text)
    decoded = round_trip(value)
    assert type(decoded) is Decimal
    assert str(decoded) == str(value)
    assert decoded.is_nan() == value.is_nan()
    assert decoded.is_snan() == value.is_snan()
    assert decoded.is_signed() == value.is_signed()


@FAST
@given(ENUM_MEMBERS)
def test_enums_come_back_as_their_value(member: enum.Enum) -> None:
    decoded = round_trip(member)
    assert not isinstance(decoded, enum.Enum)
    assert_same(decoded, wire_form(member.value))


def test_enum_values_explicitly() -> None:
    assert_same(round_trip(Color.RED), "red")
    assert_same(round_trip(Color.BLUE), [1, "b"])
    assert_same(round_trip(Color.BIRTHDAY), dt.date(2000, 1, 2))
    assert_same(round_trip(Level.HIGH), 10)
    assert_same(round_trip(Mode.SAFE), "safe")
    assert_same(round_trip({"color": Color.GREEN, "levels": [Level.LOW]}), {"color": 2, "levels": [1]})


@FAST
@given(EVERYTHING)
def test_mixed_structures_round_trip(value: Any) -> None:
    assert_same(round_trip(value), wire_form(value))


@FAST
@given(EVERYTHING)
def test_describe_unsupported_agrees_with_encode_on_supported_values(value: Any) -> None:
    assert describe_unsupported(value, "argument") is None
    encode(value)  # does not raise


# ---------------------------------------------------------------------------- round trips: aiogram objects


def assert_same_telegram_object(decoded: Any, original: TelegramObject) -> None:
    assert type(decoded) is type(original)
    assert decoded == original
    assert decoded.model_dump() == original.model_dump()


@SLOW
@given(BUTTONS)
def test_inline_keyboard_buttons_round_trip(button: InlineKeyboardButton) -> None:
    decoded = round_trip(button)
    assert_same_telegram_object(decoded, button)
    assert (decoded.callback_data, decoded.url) == (button.callback_data, button.url)


@SLOW
@given(MARKUPS)
def test_inline_keyboard_markups_round_trip(markup: InlineKeyboardMarkup) -> None:
    decoded = round_trip(markup)
    assert_same_telegram_object(decoded, markup)
    for row in decoded.inline_keyboard:
        assert all(type(button) is InlineKeyboardButton for button in row)


@SLOW
@given(MESSAGES)
def test_messages_round_trip(message: Message) -> None:
    decoded = round_trip(message)
    assert_same_telegram_object(decoded, message)
    assert decoded.date == message.date
    assert decoded.date.utcoffset() == dt.timedelta(0)
    assert type(decoded.chat) is Chat
    assert decoded.from_user == message.from_user
    assert decoded.reply_markup == message.reply_markup


@SLOW
@given(CALLBACK_QUERIES)
def test_callback_queries_round_trip(query: CallbackQuery) -> None:
    decoded = round_trip(query)
    assert_same_telegram_object(decoded, query)
    if query.message is not None:
        assert type(decoded.message) is Message  # not mistaken for an InaccessibleMessage


@SLOW
@given(st.lists(TELEGRAM_OBJECTS, max_size=3), st.dictionaries(st.text(max_size=10), TELEGRAM_OBJECTS, max_size=3))
def test_telegram_objects_inside_containers_round_trip(items: list[TelegramObject], mapping: dict[str, TelegramObject]) -> None:
    decoded = round_trip({"items": items, "mapping": mapping, "pair": tuple(items[:2])})
    assert decoded["items"] == items
    assert [type(x) for x in decoded["items"]] == [type(x) for x in items]
    assert decoded["mapping"] == mapping
    assert [type(x) for x in decoded["mapping"].values()] == [type(x) for x in mapping.values()]
    assert decoded["pair"] == items[:2]


def test_message_at_the_epoch_stays_a_message_inside_callback_query() -> None:
    # date 0 is what InaccessibleMessage uses; a real Message dated at the epoch must not turn into one
    user = User(id=1, is_bot=False, first_name="a")
    message = Message(message_id=1, chat=Chat(id=1, type="private"), date=dt.datetime(1970, 1, 1, tzinfo=dt.UTC), text="t")
    query = CallbackQuery(id="q", from_user=user, chat_instance="c", data="d", message=message)
    decoded = round_trip(query)
    assert type(decoded.message) is Message
    assert decoded == query


# Found bug: aiogram types whose fields default to aiogram's ``Default(...)`` placeholder
# (resolved from the bot's defaults only when sending) cannot be encoded at all.
@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(InputTextMessageContent(message_text="hi"), id="InputTextMessageContent"),
        pytest.param(InputMediaPhoto(media="AgADBAAD", caption="c"), id="InputMediaPhoto"),
        pytest.param(LinkPreviewOptions(), id="LinkPreviewOptions"),
        pytest.param(ReplyParameters(message_id=1), id="ReplyParameters"),
        pytest.param(
            InlineQueryResultArticle(id="1", title="t", input_message_content=InputTextMessageContent(message_text="hi")),
            id="InlineQueryResultArticle",
        ),
    ],
)
def test_telegram_objects_with_default_placeholders_round_trip(obj: TelegramObject) -> None:
    try:
        data = encode(obj)
    except CodecError as exc:
        refusal: str | None = str(exc)
    else:
        refusal = None
    assert refusal is None, f"BUG: an aiogram {type(obj).__name__} with default fields cannot be encoded: {refusal}"
    decoded = decode(data)
    assert type(decoded) is type(obj)
    assert decoded == obj


# ---------------------------------------------------------------------------- encode: refusals


def test_unsupported_value_names_path_and_type() -> None:
    with pytest.raises(CodecError) as info:
        encode({"kwargs": {"session": object()}})
    message = str(info.value)
    assert "['kwargs']['session']" in message
    assert "object" in message


@pytest.mark.parametrize(
    ("value", "path", "type_name"),
    [
        ([1, {2: {3, 4}}], "value[1][2]", "builtins.set"),
        ({"a": (1, complex(1, 2))}, "value['a'][1]", "builtins.complex"),
        ({frozenset(): 1}, "value key frozenset()", "builtins.frozenset"),
        ({"f": lambda: None}, "value['f']", "builtins.function"),
        ({"x": Opaque()}, "value['x']", f"{Opaque.__module__}.Opaque"),
        ([0, 2**64], "value[1]", "builtins.int"),
    ],
)
def test_unsupported_value_message(value: Any, path: str, type_name: str) -> None:
    with pytest.raises(CodecError) as info:
        encode(value)
    assert str(info.value) == f"cannot send {path}: values of type {type_name} cannot cross the module boundary"


def test_codec_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode(object())


STEPS = st.lists(st.text(max_size=6) | st.integers(-5, 5) | st.integers(0, 3).map(lambda i: ("index", i)), max_size=6)
BAD_LEAVES = st.sampled_from([object, set, lambda: complex(1, 1), Opaque, lambda: 2**64, lambda: -(2**63) - 1, lambda: range(3)])


@FAST
@given(STEPS, BAD_LEAVES, PRIMITIVES)
def test_unsupported_value_path_is_exact(steps: list[Any], make_bad: Any, filler: Any) -> None:
    bad = make_bad()
    value: Any = bad
    path = ""
    for step in reversed(steps):
        if isinstance(step, tuple):
            index = step[1]
            value = [filler] * index + [value]
            path = f"[{index}]" + path
        else:
            value = {step: value}
            path = f"[{step!r}]" + path
    type_name = f"{type(bad).__module__}.{type(bad).__qualname__}"
    expected = f"cannot send argument{path}: values of type {type_name} cannot cross the module boundary"
    assert describe_unsupported(value, "argument") == expected
    with pytest.raises(CodecError) as info:
        encode(value)
    assert str(info.value) == expected.replace("argument", "value", 1)


def test_describe_unsupported_for_kwargs() -> None:
    kwargs = {"user_id": 5, "when": dt.datetime(2024, 1, 1), "session": object(), "later": object()}
    sentence = describe_unsupported(kwargs, "argument")
    assert sentence == "cannot send argument['session']: values of type builtins.object cannot cross the module boundary"
    assert describe_unsupported({"user_id": 5, "button": InlineKeyboardButton(text="a", callback_data="b")}, "argument") is None


@FAST
@given(st.integers(min_value=2**64) | st.integers(max_value=-(2**63) - 1))
def test_ints_beyond_64_bits_are_refused(value: int) -> None:
    with pytest.raises(CodecError) as info:
        encode({"n": [value]})
    assert "['n'][0]" in str(info.value)
    assert "builtins.int" in str(info.value)


# Found bug: encode() promises CodecError for every value it cannot send, but a self-referencing
# or very deeply nested structure makes describe_unsupported() recurse without limit and the
# caller gets a RecursionError instead (Peer.call() then raises RecursionError too).
@pytest.mark.parametrize("shape", ["self-referencing list", "self-referencing dict", "2000-deep list"])
def test_unencodable_recursive_structures_raise_codec_error(shape: str) -> None:
    value: Any
    if shape == "self-referencing list":
        value = [1]
        value.append(value)
    elif shape == "self-referencing dict":
        value = {}
        value["self"] = value
    else:
        value = []
        for _ in range(2000):
            value = [value]
    try:
        encode(value)
    except Exception as exc:  # the type is what is checked
        raised: type[BaseException] | None = type(exc)
    else:
        raised = None
    assert raised is CodecError, f"BUG: encode() of a {shape} raised {raised and raised.__name__} instead of CodecError"


# Found bug: a few values are accepted by encode() but refused by decode(). Over a Peer that is
# worse than a refusal: the *receiver* sees "malformed msgpack" and closes the whole channel as a
# protocol error. encode() has to refuse what decode() cannot rebuild (or decode has to cope).
class ModuleOwnObject(TelegramObject):
    x: int


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({(1, 2): "tuple key"}, id="tuple-dict-key"),
        pytest.param({Color.BLUE: "enum with tuple value as key"}, id="tuple-valued-enum-key"),
        pytest.param(ModuleOwnObject(x=1), id="TelegramObject-subclass-defined-by-a-module"),
        pytest.param(WebAppUser(id=1, first_name="a"), id="aiogram-utils-WebAppUser"),
    ],
)
def test_whatever_encode_accepts_decode_accepts(value: Any) -> None:
    try:
        data = encode(value)
    except CodecError:
        return  # refusing at the sender, with a message naming the value, is fine
    try:
        decode(data)
    except CodecError as exc:
        refusal: str | None = str(exc)
    else:
        refusal = None
    assert refusal is None, f"BUG: encode() accepted {value!r} but decode() refuses it: {refusal}"


# ---------------------------------------------------------------------------- decode: hostile input


@settings(derandomize=True, deadline=None, max_examples=400)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_codec_error(data: bytes) -> None:
    try:
        decode(data)
    except CodecError:
        pass


@FAST
@given(st.sampled_from([EXT_DATETIME, EXT_DATE, EXT_DECIMAL, EXT_TELEGRAM]), st.binary(max_size=40))
def test_arbitrary_ext_payloads_decode_or_raise_codec_error(code: int, payload: bytes) -> None:
    try:
        decode(ext(code, payload))
    except CodecError:
        pass


@SLOW
@given(
    st.sampled_from(["Message", "User", "Chat", "CallbackQuery", "InlineKeyboardMarkup", "Update"]),
    st.dictionaries(st.text(max_size=12), NESTED, max_size=5),
)
def test_arbitrary_telegram_fields_decode_or_raise_codec_error(name: str, fields: dict[str, Any]) -> None:
    try:
        decoded = decode(telegram_envelope(name, fields))
    except CodecError:
        return
    assert type(decoded) is getattr(tg, name)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(b"\x93\x01\x02", id="truncated-array"),
        pytest.param(b"\x01\x02", id="trailing-data"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xa3\xff\xfe\xfd", id="invalid-utf8-str"),
        pytest.param(b"\x81\x80\x01", id="map-as-map-key"),
        pytest.param(b"\x91" * 5000 + b"\xc0", id="nesting-too-deep"),
        pytest.param(ext(EXT_DATETIME, b"not a date"), id="bad-datetime"),
        pytest.param(ext(EXT_DATETIME, b"\xff\xfe"), id="non-utf8-datetime"),
        pytest.param(ext(EXT_DATE, b"2024-13-01"), id="bad-date"),
        pytest.param(ext(EXT_DECIMAL, b"one point five"), id="bad-decimal"),
        pytest.param(ext(EXT_TELEGRAM, b"\xc1"), id="telegram-malformed-body"),
        pytest.param(ext(EXT_TELEGRAM, msgpack.packb({"Message": {}})), id="telegram-envelope-not-a-list"),
        pytest.param(ext(EXT_TELEGRAM, msgpack.packb(["User", {}, 1])), id="telegram-envelope-too-long"),
        pytest.param(ext(EXT_TELEGRAM, msgpack.packb([5, {}])), id="telegram-name-not-str"),
        pytest.param(telegram_envelope("User", {"id": "not a number"}), id="telegram-invalid-fields"),
        pytest.param(telegram_envelope("User", [1, 2]), id="telegram-fields-not-a-map"),
        pytest.param(ext(99, b"x"), id="unknown-ext-code"),
        pytest.param(ext(0, b""), id="ext-code-zero"),
        pytest.param(ext(6, b""), id="ext-code-6"),
    ],
)
def test_malformed_input_raises_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)


def test_unknown_ext_code_is_named() -> None:
    with pytest.raises(CodecError, match="unknown msgpack extension type 42"):
        decode(ext(42, b"\x00"))


def test_nested_telegram_envelopes_are_bounded() -> None:
    data = msgpack.packb(["User", {"id": 1, "is_bot": False, "first_name": "a"}])
    for _ in range(10):
        data = msgpack.packb(["User", msgpack.ExtType(EXT_TELEGRAM, data)])
    with pytest.raises(CodecError, match="too deep"):
        decode(ext(EXT_TELEGRAM, data))


NOT_TELEGRAM_OBJECTS = sorted(
    name for name in dir(tg) if not (isinstance(getattr(tg, name), type) and issubclass(getattr(tg, name), TelegramObject))
)


@pytest.mark.parametrize(
    "name",
    [
        "Bot",
        "os",
        "sys",
        "__import__",
        "__builtins__",
        "__class__",
        "__loader__",
        "eval",
        "SendMessage",  # an aiogram method, not a type
        "MutableTelegramObject",  # a TelegramObject subclass, but not exported by aiogram.types
        "InputFile",  # exported by aiogram.types, a class, but not a TelegramObject
        "BufferedInputFile",
        "FSInputFile",
        "Message.__class__",
        "aiogram.types.Message",
        "os.system",
        "",
        "1User",
        "User ",
    ],
)
def test_telegram_envelope_naming_a_non_telegram_object_is_refused(name: str) -> None:
    with pytest.raises(CodecError) as info:
        decode(telegram_envelope(name, {"id": 1, "is_bot": False, "first_name": "a"}))
    assert "is not an aiogram.types TelegramObject" in str(info.value)


def test_every_aiogram_types_export_that_is_not_a_telegram_object_is_refused() -> None:
    assert {"InputFile", "ContentType", "message"} <= set(NOT_TELEGRAM_OBJECTS)  # the list is not empty
    accepted = []
    for name in NOT_TELEGRAM_OBJECTS:
        try:
            decode(telegram_envelope(name, {}))
        except CodecError as exc:
            assert "is not an aiogram.types TelegramObject" in str(exc)
        else:
            accepted.append(name)
    assert accepted == []


def test_telegram_envelope_with_a_real_type_name_is_rebuilt() -> None:
    decoded = decode(telegram_envelope("User", {"id": 7, "is_bot": True, "first_name": "Bot"}))
    assert type(decoded) is User
    assert decoded == User(id=7, is_bot=True, first_name="Bot")


# --- the wire layer is generic; Telegram objects are the runtime's extension ---------------


def test_the_wire_layer_does_not_import_aiogram() -> None:
    import subprocess
    import sys

    code = "import sys, ipc; ipc.Peer; ipc.encode([1]); print(sorted(m for m in sys.modules if m.startswith('aiogram')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_generic_codec_refuses_telegram_objects_naming_the_path() -> None:
    from ipc import codec as generic

    user = User(id=1, is_bot=False, first_name="A")
    with pytest.raises(CodecError, match=r"value\[0\].*aiogram.types.user.User"):
        generic.encode([user])
    with pytest.raises(CodecError, match="unknown msgpack extension type 4"):
        generic.decode(encode(user))


def test_an_update_arrives_bound_to_the_receivers_bot_and_other_objects_do_not() -> None:
    from aiogram import Bot

    from runtime.aiogram_bridge.telegram_codec import telegram_codec

    bot = Bot("42:TEST")
    receiving = telegram_codec(lambda: bot)
    sent = Message(message_id=1, date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), chat=Chat(id=5, type="private"))
    update = receiving.decode(encode({"u": tg.Update(update_id=1, message=sent)}))["u"]
    assert update.bot is bot and update.message.bot is bot  # validated once, with the bot, nested objects too
    # Anything else stays a plain value: a bound button would drag the bot into every deepcopy.
    assert receiving.decode(encode(sent)).bot is None
    assert decode(encode(update)).bot is None  # the host's side binds nothing


# --- decode bombs: bounded by a per-frame object budget and per-container lengths ---------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([[[]] * 150_000] * 7, "more than 1000000 objects"),  # 1 MiB on the wire, ~60 MiB decoded
        ([{"": None}] * 190_000 + [[[]] * 190_000] * 3, "more than 1000000 objects"),
        ([0] * (codec.MAX_CONTAINER_LEN + 1), "exceeds max_array_len"),
        ({str(i): 0 for i in range(codec.MAX_CONTAINER_LEN + 1)}, "exceeds max_map_len"),
    ],
    ids=["nested_empty_lists", "maps_and_lists", "one_long_array", "one_large_map"],
)
def test_a_decode_bomb_is_a_codec_error(value: Any, reason: str) -> None:
    data = msgpack.packb(value)
    assert len(data) < DEFAULT_MAX_FRAME
    with pytest.raises(CodecError, match=f"decode bomb: .*{reason}"):
        decode(data)


def test_the_budget_spans_nested_extension_payloads() -> None:
    """A Ref inside a Ref each holding half the budget: one frame, one budget."""
    half = [[]] * (codec.MAX_OBJECTS // 4)
    with pytest.raises(CodecError, match="decode bomb"):
        decode(encode(Ref("a", [half, Ref("b", [half, half])])))
    assert decode(encode(Ref("a", [[]] * 1000))) == Ref("a", [[]] * 1000)  # ordinary frames pass


def test_a_frame_small_enough_to_skip_counting_cannot_exceed_the_budget() -> None:
    """Frames up to ``UNCOUNTED_FRAME`` bytes are decoded without the per-container count: the
    densest frame of that size (one-byte empty arrays, each an element and a container) must
    stay within the budget when counted, or skipping the count would let a bomb through."""
    from ipc.codec import UNCOUNTED_FRAME, _Budget

    chunk = 120_000  # elements per array, within MAX_CONTAINER_LEN
    for item in ([], {}, [[]]):
        dense = [[item] * chunk] * (UNCOUNTED_FRAME // (chunk * len(msgpack.packb(item)) + 3))
        data = msgpack.packb(dense)
        assert UNCOUNTED_FRAME * 0.9 < len(data) <= UNCOUNTED_FRAME
        budget = _Budget()
        codec.GENERIC._unpack(data, 0, budget)  # the counted decoder: raises if the bound were wrong
        assert codec.MAX_OBJECTS - budget.left > UNCOUNTED_FRAME  # dense indeed: over one object per byte
    # Just over the size, the count is back: the same density a little larger is counted (and refused).
    with pytest.raises(CodecError, match="decode bomb"):
        decode(msgpack.packb([[]] * (codec.MAX_OBJECTS // 2 + 10)))


def test_a_small_frame_decodes_exactly_as_the_counted_decoder_does() -> None:
    from ipc.codec import _Budget

    value = {"a": [1, 2.5, None, True, "x", b"y"], (1, 2): {"n": [[], {}]}, 3: dt.date(2024, 1, 2)}
    data = encode(value)
    assert decode(data) == codec.GENERIC._unpack(data, 0, _Budget()) == {**value, (1, 2): {"n": [[], {}]}}


def test_a_keyboard_builder_crosses_as_the_markup_it_builds() -> None:
    """Hooks often return an ``InlineKeyboardBuilder``; it arrives as its ``InlineKeyboardMarkup``, nested too."""
    from aiogram.utils.keyboard import InlineKeyboardBuilder

    builder = InlineKeyboardBuilder()
    builder.button(text="a", callback_data="x|1")
    builder.button(text="b", url="https://example.org")
    got = HOST_CODEC.decode(HOST_CODEC.encode({"results": [builder, {"card": builder}]}))
    expected = builder.as_markup()
    assert got == {"results": [expected, {"card": expected}]}
    assert type(got["results"][0]) is InlineKeyboardMarkup


def test_the_encoder_remembers_converters_per_type_and_still_refuses_what_it_cannot_carry() -> None:
    """The converter found for a type is reused (also for a subclass's own entry), and an unsupported
    type is refused every time, naming the path, however often it was tried."""
    wire = codec.Codec()

    class Day(dt.date):
        pass

    for _ in range(3):
        assert wire.decode(wire.encode([Day(2026, 1, 2), dt.date(2026, 1, 3)])) == [dt.date(2026, 1, 2), dt.date(2026, 1, 3)]
        with pytest.raises(CodecError, match=r"value\[1\]"):
            wire.encode([1, object()])
    assert set(wire._converters) == {Day, dt.date}
