"""Module names: a Python identifier, unique, and not confusable with an existing one.

Confusable: equal after folding case and ``-``/``_`` (``My_Mod`` vs ``mymod``), or one edit
(insertion, deletion, substitution, or swap of neighbours) away after folding (``payments`` vs
``paymnets``). Such a name is refused for a new application, so a module cannot pass itself off
as a popular one.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

NAME = re.compile(r"^[a-z][a-z0-9_]{2,39}$")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a module name (Russian, for the form), or None."""
    if not NAME.fullmatch(name or ""):
        return "Имя модуля: 3–40 символов — строчные латинские буквы, цифры и «_», начинается с буквы (например, my_module)."
    if keyword.iskeyword(name) or not name.isidentifier():
        return "Имя модуля должно быть идентификатором Python и не ключевым словом."
    return None


def fold(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _one_edit_apart(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def confusable_with(name: str, existing: Iterable[str]) -> str | None:
    """The first existing name ``name`` could be mistaken for, or None."""
    folded = fold(name)
    for other in existing:
        if other == name or _one_edit_apart(folded, fold(other)):
            return other
    return None
