"""Network calls carry a timeout (the guide: aiohttp with 10–15 s timeouts)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..astutil import has_kwargs_splat, is_none, keyword, scopes, walk_scope
from ..findings import Finding
from ..source import ModuleSource, SourceFile

RULES = {
    "SB010": "network call without a timeout (aiohttp.ClientSession / session.get/post, httpx, requests, timeout=None)",
}

_CREATORS = {
    "aiohttp.ClientSession": "timeout=aiohttp.ClientTimeout(total=15)",
    "aiohttp.client.ClientSession": "timeout=aiohttp.ClientTimeout(total=15)",
    "httpx.AsyncClient": "timeout=15",
    "httpx.Client": "timeout=15",
    "requests.Session": "",  # requests sessions take no timeout: every request needs one
    "requests.session": "",
}
_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")
_MODULE_REQUESTS = {
    "aiohttp.request": "timeout=aiohttp.ClientTimeout(total=15)",
    **{f"httpx.{verb}": "timeout=15" for verb in (*_VERBS, "stream")},
    **{f"requests.{verb}": "timeout=15" for verb in _VERBS},
}
_SESSION_METHODS = frozenset({*_VERBS, "ws_connect", "stream"})


@dataclass
class _Session:
    creator: str
    call: ast.Call
    has_timeout: bool
    used: list[ast.Call] = field(default_factory=list)


def _timeout(call: ast.Call) -> str:
    """'set', 'none' (explicit timeout=None) or 'missing'."""
    kw = keyword(call, "timeout")
    if kw is not None:
        return "none" if is_none(kw.value) else "set"
    return "set" if has_kwargs_splat(call) else "missing"


def _key(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
        return f"self.{node.attr}"
    return None


def check(module: ModuleSource) -> Iterator[Finding]:
    for source in module.parsed():
        assert source.tree is not None
        yield from _check_file(source, source.tree)


def _creator(source: SourceFile, node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        qualified = source.imports.resolve(node.func)
        if qualified in _CREATORS:
            return qualified
    return None


def _check_file(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    sessions: dict[int, _Session] = {}
    attributes: dict[str, _Session] = {}  # self.x = ClientSession(...) anywhere in the file

    def new_session(call: ast.Call) -> _Session:
        creator = _creator(source, call)
        assert creator is not None
        session = sessions.setdefault(id(call), _Session(creator, call, _timeout(call) == "set"))
        return session

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _creator(source, node.value):
            for target in node.targets:
                key = _key(target)
                if key and key.startswith("self."):
                    assert isinstance(node.value, ast.Call)
                    attributes[key] = new_session(node.value)

    for scope in scopes(tree):
        local: dict[str, list[tuple[int, _Session]]] = {}  # name -> (line bound, session), a name may be rebound
        for node in walk_scope(scope):
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is None or not _creator(source, item.context_expr):
                        continue
                    key = _key(item.optional_vars)
                    if key:
                        assert isinstance(item.context_expr, ast.Call)
                        local.setdefault(key, []).append((node.lineno, new_session(item.context_expr)))
            elif isinstance(node, ast.Assign) and _creator(source, node.value):
                assert isinstance(node.value, ast.Call)
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        local.setdefault(target.id, []).append((node.lineno, new_session(node.value)))
        for node in walk_scope(scope):
            if not isinstance(node, ast.Call):
                continue
            qualified = source.imports.resolve(node.func)
            if qualified in _CREATORS:
                new_session(node)
                continue
            state = _timeout(node)
            if qualified in _MODULE_REQUESTS:
                if state != "set":
                    yield source.finding(
                        node,
                        "SB010",
                        f"{qualified}() without a timeout: pass {_MODULE_REQUESTS[qualified]} "
                        "so a slow server cannot hang the module",
                    )
                continue
            if not (isinstance(node.func, ast.Attribute) and node.func.attr in _SESSION_METHODS):
                continue
            key = _key(node.func.value)
            bound = [s for line, s in sorted(local.get(key or "", []), key=lambda b: b[0]) if line <= node.lineno]
            session = bound[-1] if bound else attributes.get(key or "")
            if session is None:
                continue
            session.used.append(node)
            if state == "none" or (state == "missing" and not session.has_timeout):
                fix = _CREATORS[session.creator]
                creator = session.creator.rsplit(".", 1)[1]
                alternative = f" or to {creator}(...) on line {session.call.lineno}" if fix else ""
                yield source.finding(
                    node,
                    "SB010",
                    f"{key}.{node.func.attr}() runs without a timeout: pass {fix or 'timeout=15'} to this call{alternative} "
                    "(the guide asks for 10–15 s timeouts)",
                )

    for session in sessions.values():
        fix = _CREATORS[session.creator]
        state = _timeout(session.call)
        if fix and (state == "none" or (state == "missing" and not session.used)):
            yield source.finding(
                session.call,
                "SB010",
                f"{session.creator}() without a timeout: pass {fix} (the guide asks for 10–15 s timeouts)",
            )
