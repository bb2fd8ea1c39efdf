"""No secrets: the bot token, the database URL and .env never reach a module (its process gets none of them)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..astutil import str_value
from ..findings import Finding
from ..source import ModuleSource, SourceFile

RULES = {
    "SB015": "reading secrets: the token or database URL from config or the environment, .env files, bot.token",
}

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|DATABASE_URL|DB_URL|DB_DSN|REDIS_URL|POSTGRES", re.I)
_ENV_READERS = frozenset({"os.getenv", "os.environ.get", "os.environ.setdefault", "os.environ.pop", "os.getenvb"})
_DOTENV = frozenset({"dotenv.load_dotenv", "dotenv.dotenv_values", "dotenv.find_dotenv", "dotenv.main.load_dotenv"})
_ADVICE_ENV = (
    "a module process gets no environment and never the bot's secrets — use the injected bot/session; keep the module's "
    "own keys in settings.py"
)


def check(module: ModuleSource) -> Iterator[Finding]:
    for source in module.parsed():
        assert source.tree is not None
        yield from _check_file(source, source.tree)


def _is_env_file(value: str | None) -> bool:
    return value is not None and (value == ".env" or value.endswith(("/.env", "\\.env")))


def _check_file(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    imports = source.imports
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "config":
            for alias in node.names:
                if alias.name == "*":
                    yield source.finding(
                        node,
                        "SB015",
                        "`from config import *` pulls in secrets: import only the names you need (ADMIN_ID, …)",
                    )
                elif SECRET_NAME.search(alias.name):
                    yield source.finding(
                        node,
                        "SB015",
                        f"config.{alias.name} is a secret modules never get: use the injected bot/session instead",
                    )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "dotenv":
            yield source.finding(node, "SB015", f"python-dotenv reads .env, the bot's secrets: {_ADVICE_ENV}")
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            qualified = imports.resolve(node)
            if qualified and qualified.startswith("config.") and SECRET_NAME.search(node.attr):
                yield source.finding(
                    node,
                    "SB015",
                    f"{qualified} is a secret modules never get: use the injected bot/session instead",
                )
            elif node.attr == "token" and isinstance(node.value, (ast.Name, ast.Attribute)) and _ends_with_bot(node.value):
                yield source.finding(
                    node,
                    "SB015",
                    "bot.token is not the real token in a module process: use bot.download()/bot.get_file() "
                    "instead of building URLs with it",
                )
        elif isinstance(node, ast.Subscript) and imports.resolve(node.value) == "os.environ":
            name = str_value(node.slice)
            if name and SECRET_NAME.search(name):
                yield source.finding(node, "SB015", f"os.environ[{name!r}]: {_ADVICE_ENV}")
        elif isinstance(node, ast.Call):
            qualified = imports.resolve(node.func)
            if qualified in _ENV_READERS and node.args:
                name = str_value(node.args[0])
                if name and SECRET_NAME.search(name):
                    yield source.finding(node, "SB015", f"{qualified}({name!r}): {_ADVICE_ENV}")
            elif qualified in _DOTENV:
                continue  # reported at the import
            elif any(_is_env_file(str_value(arg)) for arg in node.args):
                yield source.finding(node, "SB015", f"reading .env exposes the bot's secrets: {_ADVICE_ENV}")


def _ends_with_bot(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "bot" or name.endswith("_bot")
