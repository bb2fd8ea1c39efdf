"""``solobot catalog list|show|install|update|rollback|remove|licence``: the running bot's installer.

The bot does the work (it holds the pinned key, the licences and the runtime); this command asks it
over the control socket and prints the answer. ``install`` shows what the module requests, with
the developer's reasons, and asks before granting (``--grant`` / ``--defaults`` answer ahead).

Exit status: 0 done; 1 refused or failed (verification, licence, a release that did not start,
the bot not running — the message says what to do); 2 usage or configuration (no catalog
configured on the bot, no answer to the permissions question without a terminal); 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .client import BotNotRunning, ControlClient, ControlError
from .operate import EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, _progress, _socket

NOT_CONFIGURED = "this bot has no catalog"


def parse_requirement(text: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME==VERSION``."""
    name, sep, version = text.partition("==")
    return name.strip(), (version.strip() or None) if sep else None


def run_catalog(
    action: str,
    target: str | None,
    socket_path: str | None,
    *,
    grant: bool | None = None,
    replace: bool = False,
    ask: Callable[[str], str] = input,
) -> int:
    from config import ConfigError

    try:
        with ControlClient(_socket(socket_path)) as bot:
            return _run(bot, action, target, grant=grant, replace=replace, ask=ask)
    except ConfigError as exc:  # a malformed DATA_DIR or socket path
        print(f"solobot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        if action in ("install", "update", "rollback", "remove"):
            print(f"solobot: interrupted; the bot finishes `catalog {action}` by itself", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BotNotRunning as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ControlError as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return EXIT_CONFIG if NOT_CONFIGURED in str(exc) else EXIT_FAILED


def _call(bot: ControlClient, action: str, **fields: Any) -> dict[str, Any]:
    return bot.call("catalog", on_progress=_progress, action=action, **fields)


def _run(
    bot: ControlClient, action: str, target: str | None, *, grant: bool | None, replace: bool, ask: Callable[[str], str]
) -> int:
    if action == "list":
        _print_list(_call(bot, "list"))
        return EXIT_OK
    if action == "licence":
        print(_call(bot, "licence", token=target)["message"])
        return EXIT_OK
    if action == "update":
        for result in _call(bot, "update", module=target)["results"]:
            print(result["message"])
        return EXIT_OK
    name, version = parse_requirement(target or "")
    if action == "show":
        _print_card(_call(bot, "show", module=name, version=version)["module"])
        return EXIT_OK
    if action == "install":
        card = _call(bot, "show", module=name, version=version)["module"]
        _print_card(card, releases=False)
        if card["hand_placed"] and not replace:
            print(
                f"solobot: modules/{name} was put there by hand; pass --replace to replace it "
                "(the old folder is kept for `solobot catalog rollback`)",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if card["requests"] and grant is None:
            if not sys.stdin.isatty():
                print("solobot: the module requests permissions: pass --grant or --defaults", file=sys.stderr)
                return EXIT_CONFIG
            answer = ask("Grant the requested permissions (written to modules.toml)? [y = grant / n = defaults] ").strip()
            grant = answer.lower() in ("y", "yes", "д", "да")
        reply = _call(bot, "install", module=name, version=card["version"], grant=bool(grant), replace=replace or None)
        print(reply["message"])
        return EXIT_OK
    reply = _call(bot, action, module=name)
    print(reply["message"])
    return EXIT_OK


def _print_list(reply: dict[str, Any]) -> None:
    print(f"catalog {reply['catalog']}" + (" (unreachable: the last verified list)" if reply["offline"] else ""))
    if not reply["modules"]:
        print("no modules in the catalog yet")
    for m in reply["modules"]:
        price = "paid" if m["paid"] else "free"
        licence = (", licence held" if m["licence_held"] else ", no licence") if m["paid"] else ""
        installed = f", installed {m['installed']}" if m["installed"] else ""
        print(f"{m['name']:<24} {m['latest'] or '-':<10} {price}{licence}{installed}  {m['description'][:60]}")


def _print_card(card: dict[str, Any], *, releases: bool = True) -> None:
    price = "paid" if card["paid"] else "free"
    print(f"{card['name']} {card['version']} ({price}) — {card['description']}")
    installed = card.get("installed")
    if installed:
        previous = (installed.get("previous") or {}).get("version")
        print(f"installed: {installed['version']} from {installed['source']}" + (f" (previous {previous})" if previous else ""))
    if card["paid"]:
        print(f"licence: {card['licence']}" if card["licence"] else f"licence: none — {card['licence_problem']}")
    if releases:
        print("releases:")
        for release in reversed(card["releases"]):
            note = (release["changelog"] or "").strip().splitlines()
            print(f"  {release['version']}{' (yanked)' if release['yanked'] else ''}: {note[0] if note else '-'}")
    print("requests:" if card["requests"] else "requests: nothing beyond the defaults")
    for key, value in card["requests"].items():
        reason = card["reasons"].get(key) or "no reason given"
        print(f"  {key} = {value!r} — {reason}")
    if card.get("new_requests"):
        print("new compared with the installed release: " + "; ".join(card["new_requests"]))
    if card.get("failed_before"):
        print(f"this release failed to start here before: {card['failed_before']}")
