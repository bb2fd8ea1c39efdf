# Granted `network = true, tcp_ports = [<granted>]` in the run's modules.toml: one port is open,
# every other port and every listen must still be refused.
import errno
import socket

from aiogram import Router

from hooks.hooks import register_hook
from logger import logger

router = Router()


def attempt(action) -> str:
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    except Exception as exc:
        return type(exc).__name__
    return "ok"


def _connect(port):
    def run():
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            pass

    return run


def _listen(port):
    def run():
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()

    return run


async def escape_netpeer(attack: str, args: dict | None = None, **kwargs):
    args = args or {}
    outcome = {
        "connect_granted_port": attempt(_connect(args["granted_port"])),  # the positive control
        "connect_refused_port": attempt(_connect(args["refused_port"])),
        "connect_bot_api_server": attempt(_connect(args["bot_api_port"])),
        "listen_granted_port_plus_one": attempt(_listen(args["free_port"])),
        "listen_any_port": attempt(_listen(0)),
    }
    logger.warning("escape attempt %s: %r", attack, outcome)
    return {"module": "netpeer", "attack": attack, "outcome": outcome}


register_hook("escape_netpeer", escape_netpeer)
