"""Texts live in texts.py, settings in settings.py: literals shown to users, and constants in router.py."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..astutil import call_name, scopes, walk_scope
from ..findings import Finding
from ..hookinfo import TEXT_HOOKS, registrations
from ..source import ModuleSource, SourceFile

RULES = {
    "SB002": "user-facing text literal outside texts.py (answer, edit_text, send_message, button text…)",
    "SB003": "module-level setting constant in router.py (belongs in settings.py)",
}

# Methods whose text is shown to the user: name -> index of the positional text argument (None: keyword only).
_TEXT_POSITION: dict[str, int | None] = {
    "answer": 0,
    "reply": 0,
    "edit_text": 0,
    "edit_message_text": 0,
    "send_message": 1,
    "edit_or_send_message": 1,
    "answer_callback_query": 1,
    "edit_caption": None,
    "edit_message_caption": None,
    "answer_photo": None,
    "answer_video": None,
    "answer_document": None,
    "answer_animation": None,
    "answer_audio": None,
    "reply_photo": None,
    "reply_video": None,
    "reply_document": None,
    "send_photo": None,
    "send_video": None,
    "send_document": None,
    "send_animation": None,
    "send_audio": None,
    "copy_message": None,
    "copy_to": None,
    "InlineKeyboardButton": None,
    "KeyboardButton": None,
    "button": None,
}
_TEXT_KEYWORDS = frozenset({"text", "caption"})

_PLACEHOLDER = re.compile(r"\{[^{}]*\}|<[^<>]*>|%[-#0 +]*\d*(?:\.\d+)?[sdifr]")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^@\w|^t\.me/", re.IGNORECASE)
_UPPER = re.compile(r"[A-Z][A-Z0-9_]*")


def is_text_file(source: SourceFile) -> bool:
    parts = source.rel.split("/")
    names = [p.removesuffix(".py") for p in parts]
    return any(n.startswith(("texts", "settings", "locale", "i18n", "lang")) for n in names)


def _has_words(text: str) -> bool:
    """Whether a literal reads as words for a human (placeholders, HTML tags and %-formats do not count)."""
    return any(ch.isalpha() for ch in _PLACEHOLDER.sub("", text))


def check(module: ModuleSource) -> Iterator[Finding]:
    for source in module.parsed():
        if is_text_file(source):
            continue
        assert source.tree is not None
        yield from _sink_literals(source, source.tree)
        yield from _text_hook_returns(source, source.tree)
        if source.rel == "router.py":
            yield from _router_constants(source, source.tree)


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 32 else flat[:31] + "…"


def _literal_parts(node: ast.AST, assigned: dict[str, list[ast.AST]], seen: set[str]) -> Iterator[ast.AST]:
    """String literals with words that end up in the value of ``node``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if _has_words(node.value):
            yield node
    elif isinstance(node, ast.JoinedStr):
        if any(isinstance(v, ast.Constant) and isinstance(v.value, str) and _has_words(v.value) for v in node.values):
            yield node
    elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        yield from _literal_parts(node.left, assigned, seen)
        if isinstance(node.op, ast.Add):
            yield from _literal_parts(node.right, assigned, seen)
    elif isinstance(node, ast.IfExp):
        yield from _literal_parts(node.body, assigned, seen)
        yield from _literal_parts(node.orelse, assigned, seen)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join", "strip"):
        yield from _literal_parts(node.func.value, assigned, seen)
        if node.func.attr == "join" and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
            for element in node.args[0].elts:
                yield from _literal_parts(element, assigned, seen)
    elif isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
        seen.add(node.id)
        for value in assigned[node.id]:
            yield from _literal_parts(value, assigned, seen)


def _assignments(scope: ast.AST) -> dict[str, list[ast.AST]]:
    assigned: dict[str, list[ast.AST]] = {}
    for node in walk_scope(scope):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            assigned.setdefault(node.target.id, []).append(node.value)
    return assigned


def _text_arguments(call: ast.Call) -> Iterator[tuple[str, ast.AST]]:
    name = call_name(call)
    if name not in _TEXT_POSITION:
        return
    index = _TEXT_POSITION[name]
    if index is not None and len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        yield name, call.args[index]
    for kw in call.keywords:
        if kw.arg in _TEXT_KEYWORDS:
            yield name, kw.value


def _sink_literals(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    for scope in scopes(tree):
        assigned = _assignments(scope)
        for node in walk_scope(scope):
            if not isinstance(node, ast.Call):
                continue
            for name, argument in _text_arguments(node):
                for literal in _literal_parts(argument, assigned, set()):
                    if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                        text = literal.value
                    else:
                        text = ast.unparse(literal)
                    yield source.finding(
                        literal,
                        "SB002",
                        f"user-facing text {_preview(text)!r} in {name}(): move it to texts.py "
                        '(e.g. GREETING = "...") and pass texts.GREETING',
                    )


def _text_hook_returns(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    for reg in registrations(tree):
        if reg.hook not in TEXT_HOOKS or reg.func is None or isinstance(reg.func, ast.Lambda):
            continue
        assigned = _assignments(reg.func)
        for node in walk_scope(reg.func):
            if isinstance(node, ast.Return) and node.value is not None:
                for literal in _literal_parts(node.value, assigned, set()):
                    yield source.finding(
                        literal,
                        "SB002",
                        f"text returned from the {reg.hook} hook is shown to users: move it to texts.py and return texts.NAME",
                    )


def _classify(value: ast.AST) -> str | None:
    """'text', 'setting' or None (a technical constant such as callback data) for a literal value."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, (ast.USub, ast.UAdd)):
        value = value.operand
    if isinstance(value, ast.Constant):
        v = value.value
        if isinstance(v, bool | int | float):
            return "setting"
        if isinstance(v, str):
            if _URL.search(v.strip()):
                return "setting"
            # Non-ASCII letters or emoji read as user text (Russian, "⬅️ Назад"); an ASCII string may be a header,
            # a user agent or a format, so it is left alone.
            if _has_words(v) and any(ord(ch) > 127 for ch in v):
                return "text"
        return None
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        kinds = {_classify(e) for e in value.elts}
    elif isinstance(value, ast.Dict):
        kinds = {_classify(v) for v in value.values if v is not None}
    else:
        return None
    if "text" in kinds:
        return "text"
    return "setting" if "setting" in kinds else None


def _is_literal(value: ast.AST) -> bool:
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _router_constants(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name) and _UPPER.fullmatch(t.id)]
        if not names or not _is_literal(value):
            continue
        kind = _classify(value)
        if kind == "text":
            yield source.finding(
                stmt,
                "SB002",
                f"{names[0]} is user-facing text: move it to texts.py and use texts.{names[0]}",
            )
        elif kind == "setting":
            yield source.finding(
                stmt,
                "SB003",
                f"{names[0]} looks like a setting: move it to settings.py and use settings.{names[0]} "
                f"(or rename it _{names[0]} if it is not meant to be configured)",
            )
