"""``python -m modcheck check PATH...`` and ``python -m modcheck new NAME``: exit 0 clean, 1 findings, 2 usage error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .checker import UsageError, check_paths, module_folders
from .rules import RULES, requirements
from .scaffold import ScaffoldError, create_module
from .source import ModuleSource

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modcheck", description="Check and scaffold Solobot modules (the seed's guide).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="check module folders against the publication checklist",
        description="Check module folders (modules/<name>) or folders of modules. Exit 0: clean, 1: findings, 2: bad usage.",
        epilog="Rules:\n"
        + "\n".join(f"  {rule}  {text}" for rule, text in RULES.items())
        + "\n\nSilence one line with `# noqa: SB002`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="a module folder, or a folder of modules")
    check.add_argument("--ignore", default="", metavar="RULES", help="comma-separated rule ids to skip, e.g. SB003,SB016")

    new = commands.add_parser(
        "new",
        help="create a module skeleton that passes the checker",
        description="Create modules/NAME in the seed's layout with a profile_menu button.",
    )
    new.add_argument("name", metavar="NAME", help="module name: a Python identifier, e.g. my_module")
    new.add_argument("--dir", default="modules", type=Path, help="folder of modules (default: %(default)s)")
    new.add_argument("--with-db", action="store_true", help="add models.py and db.py (a table keyed by users.tg_id)")
    return parser


def run_check(paths: Sequence[str], ignore: str = "", out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        for path in paths:
            module_folders(path)
        findings = check_paths(paths, ignore=[rule.strip() for rule in ignore.split(",") if rule.strip()])
    except UsageError as exc:
        print(f"modcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for finding in findings:
        print(finding, file=out)
    for line in _requirements_report(paths):
        print(line, file=out)
    if findings:
        print(f"{len(findings)} finding(s)", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _requirements_report(paths: Sequence[str]) -> list[str]:
    """What each module requires beyond the bot (not a finding: the operator needs to know)."""
    lines = []
    for path in paths:
        for folder in module_folders(path):
            line = requirements.describe(ModuleSource(folder))
            if line:
                lines.append(line)
    return lines


def run_new(name: str, modules_dir: Path, with_db: bool = False) -> int:
    try:
        folder = create_module(name, modules_dir, with_db=with_db)
    except ScaffoldError as exc:
        print(f"modcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"created {folder}")
    return EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return run_check(args.paths, args.ignore)
    return run_new(args.name, args.dir, args.with_db)
