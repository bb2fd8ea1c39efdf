"""Dates and times match the database: naive UTC for ``TIMESTAMP WITHOUT TIME ZONE`` columns."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..astutil import keyword, scopes, walk_scope
from ..findings import Finding
from ..source import ModuleSource, SourceFile

RULES = {
    "SB011": "timezone-aware datetimes for the database (DateTime(timezone=True), datetime.now(timezone.utc) "
    "stored or compared without .replace(tzinfo=None))",
    "SB012": "local time (datetime.now() without tz, datetime.today()) in models/db code or stored in the database",
}

_NOW = "datetime.datetime.now"
_DB_FILES = frozenset({"models", "db", "dao", "crud", "repository", "queries"})
_NAIVE_UTC = "use naive UTC: datetime.utcnow() or datetime.now(timezone.utc).replace(tzinfo=None)"


def _model_classes(module: ModuleSource) -> set[str]:
    names: set[str] = set()
    for source in module.parsed():
        assert source.tree is not None
        for node in ast.walk(source.tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in stmt.targets)
                for stmt in node.body
            ):
                names.add(node.name)
    return names


def check(module: ModuleSource) -> Iterator[Finding]:
    models = _model_classes(module)
    for source in module.parsed():
        assert source.tree is not None
        yield from _FileCheck(source, source.tree, models).run()


class _FileCheck:
    def __init__(self, source: SourceFile, tree: ast.Module, models: set[str]) -> None:
        self.source = source
        self.tree = tree
        self.imports = source.imports
        self.models = set(models) | {
            local for local, qualified in self.imports.names.items() if "models" in qualified.split(".")[:-1]
        }
        self.db_file = source.stem in _DB_FILES or source.rel.split("/")[0] in _DB_FILES
        self.functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    # --- what an expression is ---------------------------------------------------------------

    def kind(self, node: ast.AST | None, local: dict[str, str]) -> str | None:
        """'aware', 'local' (naive local time) or None (naive UTC or unknown)."""
        if node is None:
            return None
        if isinstance(node, ast.Name):
            return local.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            return self.kind(node.left, local) or self.kind(node.right, local)
        if not isinstance(node, ast.Call):
            return None
        qualified = self.imports.resolve(node.func)
        if qualified in (_NOW, "datetime.datetime.fromtimestamp"):
            tz_index = 0 if qualified == _NOW else 1
            tz = node.args[tz_index] if len(node.args) > tz_index else (kw.value if (kw := keyword(node, "tz")) else None)
            if tz is not None and not (isinstance(tz, ast.Constant) and tz.value is None):
                return "aware"
            return "local"
        if qualified == "datetime.datetime.today":
            return "local"
        if isinstance(node.func, ast.Attribute):
            if node.func.attr == "astimezone":
                return "aware"
            if node.func.attr == "replace":
                tzinfo = keyword(node, "tzinfo")
                if tzinfo is not None:
                    return None if isinstance(tzinfo.value, ast.Constant) and tzinfo.value.value is None else "aware"
                return self.kind(node.func.value, local)
        return None

    def _locals(self, scope: ast.AST) -> dict[str, str]:
        local: dict[str, str] = {}
        for _ in range(2):  # a second pass picks up names assigned from names
            for node in walk_scope(scope):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    kind = self.kind(node.value, local)
                    if kind:
                        local[node.targets[0].id] = kind
        return local

    # --- findings ----------------------------------------------------------------------------

    def finding(self, node: ast.AST, kind: str, where: str) -> Finding:
        if kind == "aware":
            return self.source.finding(
                node,
                "SB011",
                f"timezone-aware datetime {where}: the columns are TIMESTAMP WITHOUT TIME ZONE — add .replace(tzinfo=None) "
                "after converting to UTC",
            )
        return self.source.finding(node, "SB012", f"local time {where}: {_NAIVE_UTC}")

    def run(self) -> Iterator[Finding]:
        reported: set[int] = set()
        for scope in scopes(self.tree):
            local = self._locals(scope)
            for node in walk_scope(scope):
                for value, where in self._sinks(node):
                    kind = self.kind(value, local)
                    if kind and id(value) not in reported:
                        reported.add(id(value))
                        yield self.finding(value, kind, where)
                if self.db_file and isinstance(node, ast.Call) and id(node) not in reported and self.kind(node, {}) == "local":
                    reported.add(id(node))
                    yield self.finding(node, "local", "in database code")
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and self.imports.resolve(node.func) in (
                "sqlalchemy.DateTime",
                "sqlalchemy.TIMESTAMP",
                "sqlalchemy.types.DateTime",
                "sqlalchemy.types.TIMESTAMP",
                "DateTime",
                "TIMESTAMP",
            ):
                tz = keyword(node, "timezone")
                aware = tz.value if tz else (node.args[0] if node.args else None)
                if isinstance(aware, ast.Constant) and aware.value is True:
                    yield self.source.finding(
                        node,
                        "SB011",
                        "DateTime(timezone=True) differs from the bot's database (TIMESTAMP WITHOUT TIME ZONE): use DateTime "
                        "and store naive UTC",
                    )

    def _is_model(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Name):
            return func.id in self.models
        if isinstance(func, ast.Attribute):
            owner = self.imports.resolve(func.value) or ""
            return owner.split(".")[-1] == "models"
        return False

    def _sinks(self, node: ast.AST) -> Iterator[tuple[ast.AST, str]]:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("values", "on_conflict_do_update"):
                for kw in node.keywords:
                    if kw.arg == "set_" and isinstance(kw.value, ast.Dict):
                        yield from ((v, f"stored through .{func.attr}()") for v in kw.value.values)
                    elif kw.arg is not None:
                        yield kw.value, f"stored in {kw.arg} through .{func.attr}()"
                for arg in node.args:
                    if isinstance(arg, ast.Dict):
                        yield from ((v, f"stored through .{func.attr}()") for v in arg.values)
            elif self._is_model(func):
                for kw in node.keywords:
                    if kw.arg is not None:
                        yield kw.value, f"stored in {kw.arg}"
            if isinstance(func, (ast.Name, ast.Attribute)) and (self.imports.resolve(func) or "").split(".")[-1] in (
                "Column",
                "mapped_column",
            ):
                for name in ("default", "onupdate"):
                    column_default = keyword(node, name)
                    if column_default is None:
                        continue
                    yield from self._default_values(column_default.value, name)
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(self._is_model_column(side) for side in sides):
                for side in sides:
                    yield side, "compared with a database column"

    def _is_model_column(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.models

    def _default_values(self, value: ast.AST, name: str) -> Iterator[tuple[ast.AST, str]]:
        where = f"as the column's {name}"
        if isinstance(value, ast.Lambda):
            yield value.body, where
            return
        if isinstance(value, (ast.Name, ast.Attribute)) and self.imports.resolve(value) in (_NOW, "datetime.datetime.today"):
            yield ast.Call(func=value, args=[], keywords=[], lineno=value.lineno, col_offset=value.col_offset), where
        elif isinstance(value, ast.Name) and value.id in self.functions:
            func = self.functions[value.id]
            local = self._locals(func)
            for node in walk_scope(func):
                if isinstance(node, ast.Return) and node.value is not None and self.kind(node.value, local):
                    yield node.value, f"{where} (returned by {value.id})"
