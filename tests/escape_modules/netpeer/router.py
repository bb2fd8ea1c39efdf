# Granted `network = true, destinations = ["127.0.0.1:<granted>", "localhost:<http>"]` in the run's
# modules.toml: those two are open, every other address and port, every listen and every UDP
# send to an address not granted must still be refused.
import errno
import socket

import aiohttp
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


def _connect_to(host, port):
    def run():
        with socket.create_connection((host, port), timeout=3):
            pass

    return run


def _udp(port):
    def run():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"netpeer was here", ("127.0.0.1", port))

    return run


async def _http_get(port) -> str:
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://localhost:{port}/", timeout=aiohttp.ClientTimeout(total=10)) as response:
                body = await response.text()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok" if body == "granted" else f"unexpected body {body!r}"


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
        "http_get_granted": await _http_get(args["granted_http_port"]),  # a granted host name, through aiohttp
        "connect_granted_port_127_0_0_2": attempt(_connect_to("127.0.0.2", args["granted_port"])),
        "connect_database_port_127_0_0_2": attempt(_connect_to("127.0.0.2", args["db_port"])),
        "udp_not_granted": attempt(_udp(args["udp_port"])),
        "connect_refused_port": attempt(_connect(args["refused_port"])),
        "connect_bot_api_server": attempt(_connect(args["bot_api_port"])),
        "listen_granted_port_plus_one": attempt(_listen(args["free_port"])),
        "listen_any_port": attempt(_listen(0)),
    }
    logger.warning("escape attempt %s: %r", attack, outcome)
    return {"module": "netpeer", "attack": attack, "outcome": outcome}


register_hook("escape_netpeer", escape_netpeer)
