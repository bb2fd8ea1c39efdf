"""Build ``upstream.json``: every public name of upstream Solobot's module-facing packages.

Run against a checkout of Vladless/Solo_bot (Python 3.12+: upstream uses 3.12 f-string syntax)::

    python3.12 -m modcheck.census.extract /path/to/Solo_bot [texts.py] [config.py] > modcheck/census/upstream.json

What counts as a public name: a top-level function, class or assignment not starting with ``_``
in the ``.py`` files of ``MODULE_FACING`` (a package's ``from .x import *`` re-exports are
followed). Upstream ships some modules compiled (``*.so``) and two files operators write
themselves (``config.py``, ``handlers/texts.py`` are git-ignored): for those the names are the
ones upstream's own Python code imports from them, plus those of a published ``texts.py`` /
``config.py`` when given (an upstream install's files; the census used AntonioPanuchi/Solo_bot's).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MODULE_FACING = ("handlers", "database", "hooks", "panels", "filters")
SINGLE_FILES = ("logger.py", "bot.py")
OPERATOR_FILES = ("config", "handlers.texts")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[-1].endswith(".cpython-312-x86_64-linux-gnu"):
        parts[-1] = parts[-1].split(".")[0]
    return ".".join(parts)


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[list[Any]]:
    """``[name, kind, has_default]`` per parameter; kinds as ``inspect.Parameter`` names them."""
    args = node.args
    out: list[list[Any]] = []
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    for index, arg in enumerate(positional):
        kind = "POSITIONAL_ONLY" if index < len(args.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        out.append([arg.arg, kind, index >= first_default])
    if args.vararg:
        out.append([args.vararg.arg, "VAR_POSITIONAL", False])
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append([arg.arg, "KEYWORD_ONLY", default is not None])
    if args.kwarg:
        out.append([args.kwarg.arg, "VAR_KEYWORD", False])
    return out


def defined_names(tree: ast.Module) -> dict[str, dict[str, Any]]:
    names: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind = "async function" if isinstance(node, ast.AsyncFunctionDef) else "function"
            names[node.name] = {"kind": kind, "params": parameters(node)}
        elif isinstance(node, ast.ClassDef):
            names[node.name] = {"kind": "class"}
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = {"kind": "value"}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = {"kind": "value"}
    return {name: info for name, info in names.items() if not name.startswith("_")}


def imported_from(root: Path, target: str) -> dict[str, dict[str, Any]]:
    """Names upstream's own code imports from ``target`` (for compiled and operator-written files)."""
    names: dict[str, dict[str, Any]] = {}
    for path in root.rglob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        here = module_name(root, path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = node.module or ""
            if node.level:
                package = here.split(".")[: -node.level] if not path.name == "__init__.py" else here.split(".")
                if path.name == "__init__.py" and node.level > 1:
                    package = package[: -(node.level - 1)]
                base = ".".join([*package, base] if base else package)
            if base == target:
                for alias in node.names:
                    if alias.name != "*" and not alias.name.startswith("_"):
                        names.setdefault(alias.name, {"kind": "unknown"})
    return names


def extract(root: Path, operator_files: dict[str, Path]) -> dict[str, Any]:
    modules: dict[str, dict[str, Any]] = {}
    trees: dict[str, ast.Module] = {}
    files = [p for pkg in MODULE_FACING for p in sorted((root / pkg).rglob("*")) if p.suffix in (".py", ".so")]
    files += [root / f for f in SINGLE_FILES]
    for path in files:
        name = module_name(root, path)
        if path.suffix == ".so":
            modules[name] = {"compiled": True, "names": imported_from(root, name)}
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        trees[name] = tree
        modules[name] = {"names": defined_names(tree)}
    for name, tree in trees.items():  # a package's ``from .x import *`` / ``from .x import a, b`` re-exports
        for node in tree.body:
            if not (isinstance(node, ast.ImportFrom) and node.level == 1 and node.module):
                continue
            source = modules.get(f"{name}.{node.module}")
            if source is None:
                continue
            if any(a.name == "*" for a in node.names):
                for sub, info in source["names"].items():
                    modules[name]["names"].setdefault(sub, info)
            for alias in node.names:
                if alias.name in source["names"]:
                    modules[name]["names"].setdefault(alias.asname or alias.name, source["names"][alias.name])
    for target in OPERATOR_FILES:
        modules[target] = {"operator_file": True, "names": imported_from(root, target)}
    for target, path in operator_files.items():
        modules[target]["names"].update(defined_names(ast.parse(path.read_text(encoding="utf-8"))))
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    for info in modules.values():
        info["names"] = dict(sorted(info["names"].items()))
    return {"upstream": "Vladless/Solo_bot", "commit": commit or None, "modules": dict(sorted(modules.items()))}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    targets = {"texts.py": "handlers.texts", "config.py": "config"}
    extra = {targets[Path(a).name]: Path(a) for a in argv[1:] if Path(a).name in targets}
    json.dump(extract(Path(argv[0]), extra), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
