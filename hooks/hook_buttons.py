"""``insert_hook_buttons``: apply hook results to a core keyboard (upstream name and order).

Order of application, as upstream: the first ``replace_keyboard`` wins and ends processing;
then every removal; then ``insert_at``; then ``after`` (the row after the first row holding
that callback data, else appended); then plain appends. Each added button gets its own row.

One deliberate difference: several ``after`` operations naming the same button are placed in
result (module load) order, where upstream inserts each one directly below the anchor and so
reverses them. Results are validated first (``hooks.operations``): an invalid operation is
dropped and logged with its module's name; the rest apply.
"""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from .operations import Append, InsertAfter, InsertAt, Operation, Remove, ReplaceKeyboard, parse_operations

Rows = list[list[InlineKeyboardButton]]


def insert_hook_buttons(builder: InlineKeyboardBuilder, buttons: list[Any]) -> InlineKeyboardBuilder:
    """A new builder: ``builder``'s keyboard with the operations in ``buttons`` applied."""
    rows = apply_operations(builder.export(), parse_operations(buttons or []))
    return InlineKeyboardBuilder(markup=rows)


def apply_operations(rows: Rows, operations: list[Operation]) -> Rows:
    for op in operations:
        if isinstance(op, ReplaceKeyboard):
            return [list(row) for row in op.rows]
    rows = [list(row) for row in rows]
    for op in operations:
        if isinstance(op, Remove):
            rows = [kept for row in rows if (kept := [b for b in row if not op.matches(b)])]
    for op in operations:
        if isinstance(op, InsertAt):
            rows.insert(min(op.index, len(rows)), [op.button])
    # Where the last button placed after each anchor went, so later ones go below it.
    placed_after: dict[str, int] = {}
    for op in operations:
        if isinstance(op, InsertAfter):
            anchor = _row_of(rows, op.callback_data)
            if anchor is None:
                rows.append([op.button])
                continue
            position = placed_after.get(op.callback_data, anchor) + 1
            rows.insert(position, [op.button])
            placed_after = {k: (v + 1 if v >= position else v) for k, v in placed_after.items()}
            placed_after[op.callback_data] = position
    for op in operations:
        if isinstance(op, Append):
            rows.append([op.button])
    return rows


def _row_of(rows: Rows, callback_data: str) -> int | None:
    for index, row in enumerate(rows):
        if any(button.callback_data == callback_data for button in row):
            return index
    return None
