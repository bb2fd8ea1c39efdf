"""``solobot modules list|status|start|stop|restart|reload|logs``: operations on a running bot.

Exit status: 0 done, 1 the bot is not running or refused (the message says what to do next),
2 bad configuration (e.g. a malformed DATA_DIR when finding the socket), 130 interrupted.
"""

from __future__ import annotations

import sys
from typing import Any

from . import status_table
from .client import BotNotRunning, ControlClient, ControlError, default_socket_path
from .control_address import Address, parse_address

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


def _socket(path: str | None) -> Address:
    return parse_address(path) if path else default_socket_path()


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _fail(message: str, traceback: str = "") -> int:
    print(f"solobot: {message}", file=sys.stderr)
    if traceback:
        print(traceback.rstrip(), file=sys.stderr)
    return EXIT_FAILED


def run_operation(command: str, module: str | None, socket_path: str | None, **options: Any) -> int:
    """One control-socket command, printed for a human."""
    from config import ConfigError

    try:
        with ControlClient(_socket(socket_path)) as bot:
            if command == "logs":
                return _logs(bot, module, options["lines"], options["follow"])
            reply = bot.call(command, on_progress=_progress, module=module)
    except KeyboardInterrupt:
        if command in ("start", "stop", "restart", "reload"):  # the bot owns the operation: it finishes without us
            print(f"solobot: interrupted; the bot finishes `{command} {module}` by itself (see `solobot modules status`)",
                  file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    except ConfigError as exc:  # a malformed DATA_DIR or socket path
        print(f"solobot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BotNotRunning as exc:
        return _fail(str(exc))
    except ControlError as exc:
        return _fail(str(exc), exc.traceback)
    _print_reply(command, module, reply)
    return EXIT_OK


def _print_reply(command: str, module: str | None, reply: dict[str, Any]) -> None:
    if command == "list":
        for status in reply["modules"]:
            print(f"{status['name']:<24} {status['state']:<12} {status.get('version') or '-'}")
    elif command == "status":
        print(status_table.render(reply["modules"]))
        if module is not None and reply["modules"]:
            print(status_table.details(reply["modules"][0]))
        if "workers" in reply or "workers_error" in reply:
            print(status_table.render_workers(reply.get("workers") or [], module, reply.get("workers_error")))
    else:
        status = reply["module"]
        pid = f", pid {status['pid']}" if status.get("pid") else ""
        print(f"{status['name']}: {status['state']}{pid}")


def _logs(bot: ControlClient, module: str | None, lines: int, follow: bool) -> int:
    reply = bot.call("logs", module=module, lines=lines, follow=follow or None)
    for line in reply["lines"]:
        print(line)
    for worker in reply.get("unreachable") or ():  # several workers: whose lines are missing, and why
        print(f"(not shown: the lines of worker {worker})", file=sys.stderr)
    if not reply["lines"] and not follow:
        print(f"({module} has logged nothing since the bot started; --follow waits for new lines)", file=sys.stderr)
    if not follow:
        return EXIT_OK
    sys.stdout.flush()
    try:
        for line in bot.follow():
            print(line, flush=True)
    except KeyboardInterrupt:  # Ctrl-C is how one stops following
        return EXIT_OK
    print("(the bot stopped)", file=sys.stderr)
    return EXIT_OK
