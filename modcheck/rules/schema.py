"""Module tables reference the core's tables by their real keys (``users.tg_id``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..astutil import call_name, str_value
from ..findings import Finding
from ..source import ModuleSource

RULES = {
    "SB014": "a foreign key to the users table that is not users.tg_id (its primary key)",
}


def check(module: ModuleSource) -> Iterator[Finding]:
    for source in module.parsed():
        assert source.tree is not None
        for node in ast.walk(source.tree):
            if not (isinstance(node, ast.Call) and call_name(node) == "ForeignKey" and node.args):
                continue
            target = str_value(node.args[0])
            if target and target.startswith("users.") and target != "users.tg_id":
                yield source.finding(
                    node.args[0],
                    "SB014",
                    f'ForeignKey({target!r}): the users table\'s key is tg_id (BigInteger) — use ForeignKey("users.tg_id")',
                )
