"""Summarise a module router's filters so the host can skip modules an update cannot match.

For every event type the router (and its sub-routers) handles, one *matcher* per handler: the
constraints that can be decided without running module code, AND-ed. A filter we cannot read
(a lambda, a custom ``Filter``, ``F.from_user.id == 1``…) adds no constraint, so it means "may
match" and the host forwards. Constraint kinds (each a list of alternatives, OR-ed):

* ``data``    ``["eq", s]`` / ``["prefix", s]`` on ``callback_query.data``
              (``F.data == s``, ``F.data.in_(...)``, ``F.data.startswith(...)``, ``CallbackData.filter()``);
* ``text``    the same on ``message.text`` (``F.text == s``, ``F.text.startswith(...)``);
* ``command`` prefixes of ``message.text or message.caption`` (``Command(...)``, ``CommandStart()``);
* ``state``   FSM state names, ``None`` for "no state" (``StateFilter(...)``, a ``State``, a ``StatesGroup``).

The host side (validation and matching) is ``runtime.aiogram_bridge.route_index``.
"""

from __future__ import annotations

import operator
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.state import State, StatesGroup
from magic_filter.magic import MagicFilter
from magic_filter.operations import CallOperation, ComparatorOperation, FunctionOperation, GetAttributeOperation

# What an event's attribute is called in a constraint.
_ATTRIBUTE_KINDS = {"data": "data", "text": "text"}
MAX_ALTERNATIVES = 500
SKIPPED_OBSERVERS = {"error", "update"}


def describe_router(router: Router) -> dict[str, list[dict[str, list[Any]]]]:
    """Event type → matchers, one per handler of this router tree (see the module docstring)."""
    routes: dict[str, list[dict[str, list[Any]]]] = {}
    _walk(router, {}, routes)
    return routes


def _walk(
    router: Router, inherited: dict[str, list[dict[str, list[Any]]]], routes: dict[str, list[dict[str, list[Any]]]]
) -> None:
    scoped: dict[str, list[dict[str, list[Any]]]] = {}
    for event, observer in router.observers.items():
        if event in SKIPPED_OBSERVERS:
            continue
        level = [*inherited.get(event, []), _constraints(observer._handler.filters or [])]
        scoped[event] = level
        for handler in observer.handlers:
            routes.setdefault(event, []).append(_merge([*level, _constraints(handler.filters or [])]))
    for sub_router in router.sub_routers:
        _walk(sub_router, scoped, routes)


def _merge(parts: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """AND of constraint sets. Two constraints of one kind are both kept by taking the tighter one."""
    merged: dict[str, list[Any]] = {}
    for part in parts:
        for kind, alternatives in part.items():
            if kind not in merged or len(alternatives) < len(merged[kind]):
                merged[kind] = alternatives
    return merged


def _constraints(filters: list[FilterObject]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for item in filters:
        described = _describe(item)
        if described is None:
            continue
        kind, alternatives = described
        if len(alternatives) > MAX_ALTERNATIVES:
            continue  # too many to ship: "may match"
        if kind not in found or len(alternatives) < len(found[kind]):
            found[kind] = alternatives
    return found


def _describe(item: FilterObject) -> tuple[str, list[Any]] | None:
    if item.magic is not None:
        return _describe_magic(item.magic)
    target = getattr(item.callback, "__self__", item.callback)
    if isinstance(target, CallbackQueryFilter):
        if target.callback_data is None:
            return None
        prefix, sep = target.callback_data.__prefix__, target.callback_data.__separator__
        return "data", [["eq", prefix], ["prefix", prefix + sep]]
    if isinstance(target, Command):
        return _describe_command(target)
    if isinstance(target, StateFilter):
        return _describe_states(target.states)
    if isinstance(target, State) or (isinstance(target, type) and issubclass(target, StatesGroup)):
        return _describe_states((target,))
    return None


def _describe_magic(magic: MagicFilter) -> tuple[str, list[Any]] | None:
    ops = magic._operations
    if len(ops) < 2 or not isinstance(ops[0], GetAttributeOperation) or ops[0].name not in _ATTRIBUTE_KINDS:
        return None
    kind = _ATTRIBUTE_KINDS[ops[0].name]
    rest = ops[1:]
    if len(rest) == 1 and isinstance(rest[0], ComparatorOperation) and rest[0].comparator is operator.eq:
        return (kind, [["eq", rest[0].right]]) if isinstance(rest[0].right, str) else None
    if len(rest) == 1 and isinstance(rest[0], FunctionOperation) and getattr(rest[0].function, "__name__", "") == "in_op":
        values = rest[0].args[0] if rest[0].args else None
        if isinstance(values, (set, frozenset, list, tuple)) and all(isinstance(v, str) for v in values):
            return kind, [["eq", v] for v in sorted(values)]
        return None
    if (
        len(rest) == 2
        and isinstance(rest[0], GetAttributeOperation)
        and rest[0].name == "startswith"
        and isinstance(rest[1], CallOperation)
        and len(rest[1].args) == 1
        and not rest[1].kwargs
    ):
        prefixes = rest[1].args[0]
        prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
        if isinstance(prefixes, tuple) and all(isinstance(p, str) for p in prefixes):
            return kind, [["prefix", p] for p in prefixes]
    return None


def _describe_command(command: Command) -> tuple[str, list[Any]] | None:
    if command.ignore_case:
        return None
    names: list[str] = []
    for item in command.commands:
        name = getattr(item, "command", item)  # BotCommand or str
        if not isinstance(name, str):
            return None  # a regular expression: cannot decide here
        names.append(name)
    return "command", [["prefix", p + name] for p in command.prefix for name in names]


def _describe_states(states: tuple[Any, ...] | list[Any]) -> tuple[str, list[Any]] | None:
    names: list[str | None] = []
    for state in states:
        if state is None:
            names.append(None)
        elif isinstance(state, str):
            if state == "*":
                return None
            names.append(state)
        elif isinstance(state, State):
            if state.state == "*":
                return None
            names.append(state.state)
        elif isinstance(state, type) and issubclass(state, StatesGroup):
            names.extend(state.__all_states_names__)
        else:
            return None
    return "state", names
