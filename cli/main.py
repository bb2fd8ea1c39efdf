"""``solobot``: the command line (``solobot --help``; every command has ``--help``).

Exit status: 0 success; 1 failure (no running bot, an operation refused, checker findings,
invalid permissions); 2 usage or configuration error; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SOCKET_HELP = (
    "the bot's control socket: a path, or @NAME for an abstract socket "
    "(default: $SOLOBOT_CONTROL_SOCKET, else the abstract socket @solobot-control-<hash of DATA_DIR>)"
)
OPERATIONS = {
    "start": "start a module (also un-quarantines it; remembered across restarts of the bot)",
    "stop": "stop a module (it stays stopped across restarts of the bot until started)",
    "restart": "stop a module's process and start a fresh one",
    "reload": "start the module's current code, then retire the old process (the old one keeps serving if the new fails)",
}


def _modules_dir_default() -> str:
    return os.environ.get("MODULES_DIR", "").strip() or "modules"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="solobot",
        description="Run the Solobot bot and operate its modules.",
        epilog="Examples: solobot run --reload | solobot modules status | solobot modules logs hello_world -f",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the bot (as `python bot.py`)",
        description="Run the bot until Ctrl-C. Configuration: the environment and .env (see README). "
        "The control socket for `solobot modules ...` is the abstract unix socket @solobot-control-<hash of DATA_DIR> "
        "(or $SOLOBOT_CONTROL_SOCKET, a path).",
    )
    run.add_argument("--reload", action="store_true", help="reload a module when a file in its folder changes (development)")
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="N identical worker processes behind WEB_PORT (default $WORKERS or 1); "
        "more than one needs WEBHOOK_URL and REDIS_URL; SIGHUP restarts them one by one",
    )

    commands.add_parser(
        "demo",
        help="the whole bot on embedded defaults, with a scripted user (no token needed)",
        description="Run `python -m host.demo`: local Bot API server, embedded PostgreSQL, every module. "
        "Other options are passed on to it (--port, --web-port, --no-tour, --webhook).",
    )

    catalog = commands.add_parser(
        "catalog", help="the module catalog service", description="The module catalog (docs/catalog.md)."
    )
    catalog_actions = catalog.add_subparsers(dest="action", metavar="ACTION")
    serve = catalog_actions.add_parser(
        "serve",
        help="run the catalog (embedded PostgreSQL and a new key pair on first start)",
        description="Run the catalog until Ctrl-C. Settings: CATALOG_* in the environment or .env (docs/catalog.md).",
    )
    serve.add_argument("--host", help="address to listen on (default $CATALOG_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default $CATALOG_PORT or 8100)")

    def on_catalog(name: str, help_text: str, target: str | None, **target_options: Any) -> argparse.ArgumentParser:
        sub = catalog_actions.add_parser(
            name, help=help_text, description=help_text[:1].upper() + help_text[1:] + " (asks the running bot)."
        )
        if target:
            sub.add_argument("target", metavar=target, **target_options)
        sub.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
        return sub

    on_catalog("list", "the catalog's modules: latest version, free/paid, licence held, installed version", None)
    on_catalog("show", "a module's card: releases, changelog, requested permissions with reasons, licence", "NAME")
    install = on_catalog(
        "install", "download, verify, check the licence, grant and start a module (or update to a release)", "NAME[==VERSION]"
    )
    install.epilog = (
        "Exit status: 0 done, 1 refused or failed (the message says why), 2 usage or configuration "
        "(no catalog on the bot; no --grant/--defaults without a terminal), 130 interrupted."
    )
    answer = install.add_mutually_exclusive_group()
    answer.add_argument("--grant", action="store_true", default=None, help="grant what the module requests (modules.toml)")
    answer.add_argument("--defaults", action="store_true", help="start it with the default permissions only")
    install.add_argument("--replace", action="store_true", help="replace a module folder that was put there by hand")
    on_catalog("update", "update one module (or every catalog module) to its latest release", "NAME", nargs="?")
    on_catalog("rollback", "go back to the release kept beside the current one", "NAME")
    on_catalog("remove", "stop a catalog module and delete its code (its data is kept)", "NAME")
    on_catalog("licence", "give the bot a licence token from your catalog cabinet", "TOKEN")

    modules = commands.add_parser("modules", help="operate and develop modules", description="Operate and develop modules.")
    actions = modules.add_subparsers(dest="action", metavar="ACTION")

    def on_bot(name: str, help_text: str, with_module: bool | None) -> argparse.ArgumentParser:
        description = help_text[:1].upper() + help_text[1:] + " (needs a running bot)."
        sub = actions.add_parser(name, help=help_text, description=description)
        if with_module:
            sub.add_argument("name", metavar="NAME", help="the module's folder name, e.g. hello_world")
        elif with_module is None:
            sub.add_argument("name", metavar="NAME", nargs="?", help="one module only, with its full last error")
        sub.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
        return sub

    on_bot("list", "list the modules and their states", with_module=False)
    on_bot("status", "a table of the modules: state, version, pid, uptime, memory, restarts, hook latency, last error", None)
    for name, help_text in OPERATIONS.items():
        on_bot(name, help_text, with_module=True)
    logs = on_bot("logs", "show a module's recent log lines (its log records, kept by the bot)", with_module=True)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    logs.add_argument("-n", "--lines", type=int, default=100, metavar="N", help="how many recent lines (default: %(default)s)")

    check = actions.add_parser(
        "check",
        help="check module folders against the publication checklist (modcheck)",
        description="Check module folders (modules/<name>) or folders of modules without running them. "
        "Exit 0: clean, 1: findings, 2: bad usage. Rules: `python -m modcheck check --help`.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="a module folder, or a folder of modules")
    check.add_argument("--ignore", default="", metavar="RULES", help="comma-separated rule ids to skip, e.g. SB003,SB016")

    new = actions.add_parser(
        "new", help="create a module skeleton that passes the checker", description="Create DIR/NAME with a profile_menu button."
    )
    new.add_argument("name", metavar="NAME", help="module name: a Python identifier, e.g. my_module")
    new.add_argument("--dir", default=_modules_dir_default(), type=Path, help="folder of modules (default: %(default)s)")
    new.add_argument("--with-db", action="store_true", help="add models.py and db.py (a table keyed by users.tg_id)")

    permissions = actions.add_parser(
        "permissions",
        help="what each module is granted (modules.toml) and what it requests (its module.toml)",
        description="Per module: the permissions modules.toml grants and the requests not granted yet, "
        "each with the line to add to modules.toml. Reads files only.",
    )
    permissions.add_argument("name", metavar="NAME", nargs="?", help="one module only")
    permissions.add_argument("--dir", default=_modules_dir_default(), type=Path, help="folder of modules (default: %(default)s)")
    permissions.add_argument(
        "--config", type=Path, metavar="PATH", help="modules.toml to read (default: $MODULES_CONFIG, else the project's)"
    )
    deps = actions.add_parser(
        "deps",
        help="install a module's own Python requirements (shows exactly what first)",
        description="Resolve the module's requirements.txt / module.toml [project] dependencies with pip, show every "
        "package and version that will be installed, then install exactly those into <DATA_DIR>/module-packages/NAME "
        "(only that module's process sees them). Uses pip's configuration (index, find-links).",
    )
    deps.add_argument("name", metavar="NAME", help="the module's folder name")
    deps.add_argument("--dir", default=_modules_dir_default(), type=Path, help="folder of modules (default: %(default)s)")
    deps.add_argument("--data-dir", type=Path, metavar="PATH", help="the bot's DATA_DIR (default: from the environment/.env)")
    deps.add_argument("--yes", "-y", action="store_true", help="install without asking")
    deps.add_argument("--dry-run", action="store_true", help="only show what would be installed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "demo":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("solobot: choose a command — see `solobot --help`", file=sys.stderr)
        return 2
    if args.command == "run":
        from .run import run_bot

        return run_bot(args.reload, args.workers)
    if args.command == "demo":
        return _demo(extra)
    if args.command == "catalog":
        if args.action is None:
            print("solobot catalog: choose an action — see `solobot catalog --help`", file=sys.stderr)
            return 2
        if args.action != "serve":
            from .catalog import run_catalog

            grant = True if args.action == "install" and args.grant else False if getattr(args, "defaults", False) else None
            return run_catalog(
                args.action, getattr(args, "target", None), args.socket, grant=grant, replace=getattr(args, "replace", False)
            )
        from catalog.server import main as serve_catalog

        return serve_catalog(
            [*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port is not None else [])]
        )
    return _modules(parser, args)


def _modules(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.action is None:
        print("solobot modules: choose an action — see `solobot modules --help`", file=sys.stderr)
        return 2
    if args.action == "check":
        from modcheck.cli import run_check

        return run_check(args.paths, args.ignore)
    if args.action == "new":
        from modcheck.cli import run_new

        return run_new(args.name, args.dir, args.with_db)
    if args.action == "permissions":
        from .permissions import run_permissions

        return run_permissions(args.name, args.dir, args.config)
    if args.action == "deps":
        from .deps import run_deps

        return run_deps(args.name, args.dir, args.data_dir, assume_yes=args.yes, dry_run=args.dry_run)
    if args.action == "logs" and args.lines < 0:
        parser.error("-n must be 0 or more")
    from .operate import run_operation

    options = {"lines": args.lines, "follow": args.follow} if args.action == "logs" else {}
    return run_operation(args.action, getattr(args, "name", None), args.socket, **options)


def _demo(extra: list[str]) -> int:
    from host import demo

    sys.argv = ["solobot demo", *extra]  # host.demo parses sys.argv
    demo.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
