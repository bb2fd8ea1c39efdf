"""Parsing and validating the button operations hooks return (the seed's protocol).

Hook results come from untrusted module code. ``parse_operations`` turns them into typed
operations, dropping every operation or button that is malformed, and capping how much one module
can add in one call. The drops of one module's result are logged in one line with the module's
name, how many and the first one: a module returning thousands of invalid operations costs one
line per call, not one per item.
"""

from __future__ import annotations

import logging
import reprlib
from dataclasses import dataclass
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from .button_rules import check_button
from .results import attributed

log = logging.getLogger("solobot.hooks")

MAX_BUTTONS_PER_MODULE = 10  # buttons one module may add to one menu in one call
MAX_OPERATIONS_PER_MODULE = 50
MAX_NESTING = 4  # lists of lists of operations
MAX_KEYBOARD_BUTTONS = 100  # Bot API limit for an inline keyboard
MAX_MATCH_VALUES = 100  # entries of a remove / remove_url list


@dataclass(frozen=True, slots=True)
class ReplaceKeyboard:
    rows: list[list[InlineKeyboardButton]]


@dataclass(frozen=True, slots=True)
class Remove:
    callback_data: frozenset[str] = frozenset()
    callback_prefix: str | None = None
    urls: frozenset[str] = frozenset()
    url_prefix: str | None = None

    def matches(self, button: InlineKeyboardButton) -> bool:
        data = button.callback_data
        if data is not None and (data in self.callback_data or (self.callback_prefix and data.startswith(self.callback_prefix))):
            return True
        for url in (button.url, button.web_app.url if button.web_app else None):
            if url is not None and (url in self.urls or (self.url_prefix and url.startswith(self.url_prefix))):
                return True
        return False


@dataclass(frozen=True, slots=True)
class InsertAt:
    index: int
    button: InlineKeyboardButton


@dataclass(frozen=True, slots=True)
class InsertAfter:
    callback_data: str
    button: InlineKeyboardButton


@dataclass(frozen=True, slots=True)
class Append:
    button: InlineKeyboardButton


Operation = ReplaceKeyboard | Remove | InsertAt | InsertAfter | Append

_REMOVE_KEYS = ("remove", "remove_prefix", "remove_url", "remove_url_prefix")
_KNOWN_KEYS = frozenset({"button", "after", "insert_at", "replace_keyboard", *_REMOVE_KEYS})


class Rejected(ValueError):
    """An operation is invalid; the message says why."""


def parse_operations(results: list[Any], hook: str | None = None) -> list[Operation]:
    """Validated operations from ``run_hooks`` results, in result order."""
    hook = hook or getattr(results, "hook", None) or "?"
    operations: list[Operation] = []
    for source, result in attributed(results):
        operations.extend(_ModuleOperations(source, hook).parse(result))
    return operations


class _ModuleOperations:
    """The operations of one module's result, with that module's budget."""

    def __init__(self, source: str, hook: str) -> None:
        self.source = source
        self.hook = hook
        self.buttons_left = MAX_BUTTONS_PER_MODULE
        self.operations_left = MAX_OPERATIONS_PER_MODULE
        self.out: list[Operation] = []
        self.dropped = 0
        self.first_drop: tuple[Any, str] | None = None
        self.unknown_keys: set[str] = set()

    def parse(self, result: Any) -> list[Operation]:
        self._walk(result, 0)
        self._report()
        return self.out

    def _report(self) -> None:
        if self.unknown_keys:
            shown = sorted(self.unknown_keys)[:10]
            log.warning("[hooks] module %s, hook %s: ignoring unknown keys %s", self.source, self.hook, shown)
        if self.first_drop is not None:
            item, reason = self.first_drop
            log.warning(
                "[hooks] module %s, hook %s: %d invalid button operation(s) dropped; first: %s: %s",
                self.source,
                self.hook,
                self.dropped,
                _brief(item),
                reason,
            )

    def _walk(self, item: Any, depth: int) -> None:
        if isinstance(item, (list, tuple)):
            if depth >= MAX_NESTING:
                self._drop(item, f"operations nested more than {MAX_NESTING} lists deep")
                return
            for sub in item:
                self._walk(sub, depth + 1)
            return
        if not item:
            return  # upstream skips falsy results
        if self.operations_left <= 0:
            self._drop(item, f"more than {MAX_OPERATIONS_PER_MODULE} operations in one call")
            return
        self.operations_left -= 1
        try:
            parsed = self._parse_one(item)
        except Rejected as exc:
            self._drop(item, str(exc))
            return
        for op in parsed:
            if isinstance(op, (InsertAt, InsertAfter, Append)):
                if self.buttons_left <= 0:
                    self._drop(item, f"more than {MAX_BUTTONS_PER_MODULE} buttons in one call")
                    continue
                self.buttons_left -= 1
            self.out.append(op)

    def _parse_one(self, item: Any) -> list[Operation]:
        if isinstance(item, InlineKeyboardButton):
            return [Append(_button(item))]
        if not isinstance(item, dict):
            raise Rejected(f"an operation must be a dict or a button, got {type(item).__name__}")
        keys = set(item)
        if not keys & _KNOWN_KEYS:
            raise Rejected(f"no known operation key (expected one of {', '.join(sorted(_KNOWN_KEYS))})")
        if len(self.unknown_keys) < 100:
            self.unknown_keys.update(str(k)[:64] for k in keys - _KNOWN_KEYS)
        ops: list[Operation] = []
        if "replace_keyboard" in item:
            ops.append(ReplaceKeyboard(_keyboard_rows(item["replace_keyboard"])))
        if keys & set(_REMOVE_KEYS):
            ops.append(_remove(item))
        if "button" in item:
            button = _button(item["button"])
            if "insert_at" in item and "after" in item:
                raise Rejected("an operation cannot have both 'insert_at' and 'after'")
            if "insert_at" in item:
                index = item["insert_at"]
                if type(index) is not int or index < 0:
                    raise Rejected(f"'insert_at' must be a non-negative integer, got {index!r}")
                ops.append(InsertAt(index, button))
            elif "after" in item:
                after = item["after"]
                if not isinstance(after, str) or not after:
                    raise Rejected(f"'after' must be a callback_data string, got {after!r}")
                ops.append(InsertAfter(after, button))
            else:
                ops.append(Append(button))
        elif "insert_at" in item or "after" in item:
            raise Rejected("'insert_at' and 'after' need a 'button'")
        return ops

    def _drop(self, item: Any, reason: str) -> None:
        self.dropped += 1
        if self.first_drop is None:
            self.first_drop = (item, reason)


def _button(value: Any) -> InlineKeyboardButton:
    problem = check_button(value)
    if problem:
        raise Rejected(problem)
    return value


def _remove(item: dict[str, Any]) -> Remove:
    prefix = _optional_prefix(item, "remove_prefix")
    return Remove(
        callback_data=_string_set(item, "remove"),
        callback_prefix=prefix,
        urls=_string_set(item, "remove_url"),
        url_prefix=_optional_prefix(item, "remove_url_prefix"),
    )


def _optional_prefix(item: dict[str, Any], key: str) -> str | None:
    if key not in item or item[key] is None:
        return None
    value = item[key]
    if not isinstance(value, str) or not value:
        # An empty prefix would remove every button of the menu.
        raise Rejected(f"{key!r} must be a non-empty string, got {value!r}")
    return value


def _string_set(item: dict[str, Any], key: str) -> frozenset[str]:
    value = item.get(key)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise Rejected(f"{key!r} must be a string or a list of strings, got {_brief(value)}")
    if len(value) > MAX_MATCH_VALUES:
        raise Rejected(f"{key!r} lists {len(value)} values (at most {MAX_MATCH_VALUES})")
    return frozenset(value)


def _keyboard_rows(value: Any) -> list[list[InlineKeyboardButton]]:
    if isinstance(value, InlineKeyboardBuilder):
        value = value.export()
    elif isinstance(value, InlineKeyboardMarkup):
        value = value.inline_keyboard
    if not isinstance(value, (list, tuple)) or not all(isinstance(row, (list, tuple)) for row in value):
        raise Rejected("'replace_keyboard' must be a keyboard (builder, markup or list of rows)")
    rows = [[_button(b) for b in row] for row in value if row]
    total = sum(len(row) for row in rows)
    if total > MAX_KEYBOARD_BUTTONS:
        raise Rejected(f"'replace_keyboard' has {total} buttons (Bot API allows {MAX_KEYBOARD_BUTTONS})")
    return rows


_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, 4, 80, 80


def _brief(value: Any) -> str:
    text = _REPR.repr(value)  # bounded work, however large the module made it
    return text if len(text) <= 160 else text[:157] + "..."
