"""Run the escape suite's attacks against a whole, sandboxed Solobot and report what happened.

    python tests/escape_driver.py < config.json

The test (``tests/test_escape_suite.py``) starts this script once as root (each module gets its
own uid) and once as an unprivileged user (modules share the bot's uid, so Landlock, scoping,
dumpable, no_new_privs, database roles and the Bot API policy are all that protect). It runs in
a process of its own so that an attack that *did* kill or stop the host fails the test instead
of taking pytest with it.

``config.json``: ``root`` (a folder the bot user owns and module uids can traverse; a setuid
binary may wait in ``root/bin``), ``database_url`` (an owner DSN over TCP to an empty database),
``token``, ``result_file``, ``marker`` (what the attacker prints on stdout/stderr).

The driver lays out a production-like bot folder under ``root`` — ``.env`` with the token and
the owner DSN, ``modules.toml``, ``storage/`` (``postgres/owner.password`` as the embedded
server keeps it), the attack modules in ``modules/`` — starts the local Bot API server and
``SolobotHost`` (sandbox on) with ``root`` as its working directory, then runs every attack
through a hook call, and after each one checks that the host and the victim module still serve
(``run_hooks("profile_menu")`` returns the victim's button; a user's press of it is answered).
Everything observed is written to ``result_file`` as JSON; the test makes the assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from tests.installs import PRIVATE_NOTE  # noqa: E402 - importable once the project root is on sys.path

ESCAPE_MODULES = Path(__file__).resolve().parent / "escape_modules"
MODULES = ("attacker", "breaker", "frugal", "impostor", "netpeer", "resource_hog", "victim")
# Modules expected to be running between attacks (the impostor never gets past its handshake;
# frugal has its own test, about the watchdog).
SETTLED = ("attacker", "breaker", "netpeer", "resource_hog", "victim")
ATTACK_HOOKS = {
    "attacker": "escape_attacker",
    "breaker": "escape_breaker",
    "netpeer": "escape_netpeer",
    "resource_hog": "escape_hog",
}
USER_ID = 5001
SEEDED_USER = 4242
SEEDED_BALANCE = 100
HOG_MEMORY_MB = 256
FRUGAL_MEMORY_MB = 96
HOG_HOARD_MB = 1024
HOG_DISK_MB = 64
HOG_CPU_SECONDS = 1
FILE_LIMIT_MB = 64  # sandbox.permissions.DEFAULTS.max_file_size_mb: the attacker has no modules.toml entry
FSM_FLOOD_MB = 256
DB_STATEMENT_SECONDS = 2  # the attacker's db_statement_seconds / db_idle_seconds
DB_SLEEP_SECONDS = 45  # what its statement asks for
HOST_RTTIME = 123_456_789  # µs: what host_controls tries to set as the host's RLIMIT_RTTIME
LOG_FLOOD_LINES = 20_000
RAW_FLOOD_LINES = 2_000
HUGE_LOG_CHARS = 1_000_000

# --- observing the host: its log records, the signals it receives, the sockets it listens on ---


class Records(logging.Handler):
    """Every log record of the host process, formatted, in order."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = repr(record.msg)
        self.lines.append({"logger": record.name, "level": record.levelname, "message": message})


class Listeners:
    """Ports and sockets a module must not reach; each counts what arrived."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.arrived: dict[str, int] = {}
        self._servers: list[Any] = []
        self._udp: Any = None
        self.ports: dict[str, Any] = {}

    def _count(self, name: str) -> Callable[..., Awaitable[None]]:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.arrived[name] = self.arrived.get(name, 0) + 1
            writer.close()

        return on_connection

    async def start(self, db_port: int) -> None:
        for name in ("refused_port", "granted_port"):
            server = await asyncio.start_server(self._count(name), "127.0.0.1", 0)
            self._servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]
        # Granted ports on addresses that are not granted: the database's port on another
        # loopback address and on ::1, the granted port on 127.0.0.2 (network by address).
        for name, address, port in (
            ("db_port_other_v4", "127.0.0.2", db_port),
            ("db_port_v6", "::1", db_port),
            ("granted_port_other_v4", "127.0.0.2", self.ports["granted_port"]),
        ):
            try:
                self._servers.append(await asyncio.start_server(self._count(name), address, port))
            except OSError:  # e.g. the database itself listens there: the connect is still refused
                pass
        self._servers.append(await asyncio.start_server(self._http_granted, "127.0.0.1", 0))
        self.ports["granted_http_port"] = self._servers[-1].sockets[0].getsockname()[1]
        try:
            server = await asyncio.start_server(self._count("refused_port_v6"), "::1", 0)
        except OSError:
            self.ports["refused_port_v6"] = None
        else:
            self._servers.append(server)
            self.ports["refused_port_v6"] = server.sockets[0].getsockname()[1]
        abstract = f"\0solobot-escape-{os.getpid()}"
        self._servers.append(await asyncio.start_unix_server(self._count("abstract_unix"), abstract))
        self.ports["abstract_name"] = abstract
        unix_path = self.root / "storage" / "host.sock"  # e.g. a Redis socket of the bot's user
        self._servers.append(await asyncio.start_unix_server(self._count("pathname_unix"), str(unix_path)))
        unix_path.chmod(0o600)
        self.ports["unix_path"] = str(unix_path)

        listeners = self

        class Datagrams(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                listeners.arrived["udp"] = listeners.arrived.get("udp", 0) + 1

        self._udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(Datagrams, local_addr=("127.0.0.1", 0))
        self.ports["udp_port"] = self._udp.get_extra_info("sockname")[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.ports["free_port"] = probe.getsockname()[1]

    async def _http_granted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A minimal HTTP server the operator granted (``localhost:<port>``): answers ``granted``."""
        self.arrived["granted_http"] = self.arrived.get("granted_http", 0) + 1
        while await reader.readline() not in (b"\r\n", b"\n", b""):  # the request's head
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\ngranted")
        await writer.drain()
        writer.close()

    def close(self) -> None:
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()


# --- the bot's folder ---------------------------------------------------------------------------


ATTACKER_MEMORY_MB = 384


def lay_out(root: Path, token: str, database_url: str, granted_port: int, granted_http_port: int) -> dict[str, Path]:
    from sqlalchemy.engine import make_url

    paths = {
        "root": root,
        "modules": root / "modules",
        "storage": root / "storage",
        "env_file": root / ".env",
        "modules_toml": root / "modules.toml",
        "pg_password": root / "storage" / "postgres" / "owner.password",
    }
    paths["modules"].mkdir(exist_ok=True)
    for name in MODULES:
        shutil.copytree(ESCAPE_MODULES / name, paths["modules"] / name, ignore=shutil.ignore_patterns("__pycache__"))
    paths["storage"].mkdir(exist_ok=True)
    paths["pg_password"].parent.mkdir(mode=0o700, exist_ok=True)
    _write_private(paths["pg_password"], f"{make_url(database_url).password}\n")
    _write_private(paths["env_file"], f"BOT_TOKEN={token}\nDATABASE_URL={database_url}\n")
    _write_private(
        paths["modules_toml"],
        f"""# The operator's permissions for this run.
[modules.netpeer]
network = true
destinations = ["127.0.0.1:{granted_port}", "localhost:{granted_http_port}"]

[modules.attacker]
# One process runs every attack (it sweeps its own memory, allocates up to its limit, forks…) and
# ends up near 270 MB unique memory, which the watchdog now reads as root and as a user alike (a
# module of the bot's uid stays dumpable for the network supervisor): room to finish the suite.
memory_mb = {ATTACKER_MEMORY_MB}
db_statement_seconds = {DB_STATEMENT_SECONDS}
db_idle_seconds = {DB_STATEMENT_SECONDS}

[modules.resource_hog]
cpu_seconds = {HOG_CPU_SECONDS}
memory_mb = {HOG_MEMORY_MB}
disk_mb = {HOG_DISK_MB}

[modules.frugal]
memory_mb = {FRUGAL_MEMORY_MB}
""",
    )
    return paths


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def fingerprint(paths: list[Path]) -> dict[str, Any]:
    """Content hash and mode of every path (folders: their sorted listing), to prove nothing changed."""
    result: dict[str, Any] = {}
    for path in paths:
        try:
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode):
                content = "\n".join(sorted(os.listdir(path))).encode()
            else:
                content = path.read_bytes()
            xattrs = sorted(os.listxattr(path, follow_symlinks=False)) if hasattr(os, "listxattr") else []
            result[str(path)] = {
                "sha256": hashlib.sha256(content).hexdigest(),
                "mode": oct(stat.S_IMODE(st.st_mode)),
                "mtime": int(st.st_mtime),
                "xattrs": xattrs,
            }
        except OSError as exc:
            result[str(path)] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


# --- the scenario ----------------------------------------------------------------------------------


class Scenario:
    def __init__(self, config: dict[str, Any], records: Records) -> None:
        self.config = config
        self.records = records
        self.root = Path(config["root"])
        self.results: dict[str, Any] = {"mode": config["mode"], "uid": os.getuid(), "attacks": {}}
        self.signals: list[str] = []

    async def run(self) -> dict[str, Any]:
        from config import load_settings
        from host import SolobotHost
        from local_bot_api import LocalBotAPI
        from runtime import RuntimeConfig
        from tests.core_fixtures import press, send

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, lambda number, _frame: self.signals.append(signal.Signals(number).name))
        listeners = Listeners(self.root)
        (self.root / "storage").mkdir(exist_ok=True)
        from sqlalchemy.engine import make_url

        await listeners.start(make_url(self.config["database_url"]).port or 5432)
        self.listeners = listeners
        paths = self.paths = lay_out(
            self.root,
            self.config["token"],
            self.config["database_url"],
            listeners.ports["granted_port"],
            listeners.ports["granted_http_port"],
        )
        os.environ.update(
            {
                "MODULES_CONFIG": str(paths["modules_toml"]),
                # Secrets in the host's environment too (operators do both): module processes must see neither.
                "BOT_TOKEN": self.config["token"],
                "DATABASE_URL": self.config["database_url"],
            }
        )
        os.chdir(self.root)  # as `python bot.py` runs: .env in the working directory
        hooks = (*ATTACK_HOOKS.values(), "victim_info")
        runtime_config = RuntimeConfig(update_timeout=5.0, hook_timeouts=dict.fromkeys(hooks, 60.0))
        started = time.monotonic()
        async with LocalBotAPI(token=self.config["token"]) as api:
            settings = load_settings(
                dict(
                    os.environ,
                    TELEGRAM_API_URL=api.base_url,
                    MODULES_DIR=str(paths["modules"]),
                    DATA_DIR=str(paths["storage"]),
                    WEB_HOST="127.0.0.1",
                    WEB_PORT="0",
                    ADMIN_IDS="1",
                    USERNAME_BOT="escape_test_bot",
                ),
                env_file=".env",
            )
            host = SolobotHost(
                settings,
                runtime_config=runtime_config,
                state_file=paths["storage"] / "modules_state.json",
                notifications=False,
                throttle_rate=0.0,
            )
            async with host:
                self.api, self.host, self.runtime = api, host, host.runtime
                await self._wait_for_modules()
                self.results["startup_seconds"] = round(time.monotonic() - started, 2)
                self.results["status_at_start"] = self._status()
                self.user = api.user(USER_ID, first_name="Escape")
                await send(self.user, "/start", "")
                await press(self.user, "profile", "")
                await self._seed()
                self.results["health_at_start"] = await self.health()
                await self._attacks()
                for name in SETTLED:
                    await self._await_running(name)
                self.results["status_at_end"] = self._status()
                self.results["proc_status"] = self._proc_status()
                self.results["intact"] = await self._intact()
                self.results["signals_received"] = self.signals
                self.results["listeners"] = listeners.arrived
                self.results["bot_api_world"] = {"webhook": api.world.webhook, "commands": api.world.commands}
        listeners.close()
        self.results["total_seconds"] = round(time.monotonic() - started, 2)
        return self.results

    async def _wait_for_modules(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = {s["name"]: s["state"] for s in self.runtime.status()}
            # frugal is left out: where the watchdog misjudges it, it is already being restarted.
            if all(states.get(name) == "running" for name in SETTLED) and states.get("impostor") in ("failed", "crashed"):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"modules did not come up: {self._status()}")

    def _status(self) -> dict[str, Any]:
        keys = ("state", "pid", "restarts", "last_error", "sandbox", "rss", "uss")
        return {s["name"]: {k: s.get(k) for k in keys} for s in self.runtime.status()}

    def _proc_status(self) -> dict[str, Any]:
        result = {}
        for name in SETTLED:
            pid = self.runtime.module_status(name)["pid"]
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError as exc:
                result[name] = {"error": str(exc)}
                continue
            fields = dict(line.split(":", 1) for line in lines if ":" in line)
            result[name] = {k: fields.get(k, "").strip() for k in ("Uid", "Gid", "NoNewPrivs", "Seccomp", "CapEff")}
        return result

    async def _seed(self) -> None:
        from sqlalchemy import text

        from database import db

        async with db.async_session_maker() as session:
            await session.execute(
                text("INSERT INTO users (tg_id, balance) VALUES (:id, :balance) ON CONFLICT DO NOTHING"),
                {"id": SEEDED_USER, "balance": SEEDED_BALANCE},
            )
            await session.execute(
                text(
                    "INSERT INTO keys (tg_id, client_id, email, created_at, expiry_time) "
                    "VALUES (:id, 'escape-client', 'escape-key', 0, 0) ON CONFLICT DO NOTHING"
                ),
                {"id": SEEDED_USER},
            )
            await session.commit()
        await self._seed_core_conversation()
        self.victim = self._only("victim", await self.runtime.run_hooks("victim_info"))
        self.results["victim_at_start"] = self.victim
        self.db_before = await self._database_state()
        self.protected = [
            self.paths["env_file"],
            self.paths["modules_toml"],
            self.paths["pg_password"],
            self.paths["modules"],
            self.paths["modules"] / "victim",
            self.paths["modules"] / "victim" / "router.py",
            self.paths["modules"] / "attacker" / "router.py",
            Path(self.victim["home"]),
            Path(self.victim["home"]) / "secret.txt",
            Path(self.victim["tmp"]),
            Path(self.victim["tmp"]) / "secret.txt",
            PROJECT_ROOT / "handlers",
            PROJECT_ROOT / "handlers" / "__init__.py",
            PROJECT_ROOT / "modules.toml",
        ]
        self.files_before = fingerprint(self.protected)

    async def _database_stall(self) -> None:
        """7. The attacker holds the role set-up lock and runs an endless statement; then netpeer restarts."""
        from sandbox.db_roles import ADVISORY_LOCK

        await self.attack("db_stall", "attacker", {"lock_key": ADVISORY_LOCK, "sleep": DB_SLEEP_SECONDS})
        pid = self.runtime.module_status("netpeer")["pid"]
        started = time.monotonic()
        await self.runtime.restart("netpeer")  # its role set-up needs the lock the attacker holds
        await self._await_running("netpeer", timeout=60)
        self.results["db_stall"] = {
            "restarted": self.runtime.module_status("netpeer")["pid"] != pid,
            "restart_seconds": round(time.monotonic() - started, 1),
        }

    async def _routing_attacks(self) -> None:
        """4. The attacker names the victim's button and a core screen in code, has a catch-all and a webhook path."""
        import aiohttp

        from tests.core_fixtures import press, send

        answers: dict[str, Any] = {}
        for core_screen in ("about_vpn", "profile"):  # the core answers with a screen of its own
            await send(self.user, "/start", "")
            answers[core_screen] = (await press(self.user, core_screen, "")).text
        for data in ("victim|open", "attacker|probe"):  # buttons of the profile screen
            query_id = await self.user.press(data)
            answer = await self.user.wait_until(lambda u, q=query_id: u.world.callback_queries[q].answer, timeout=10)
            answers[data] = answer.get("text")
        async with aiohttp.ClientSession() as http, http.post(f"{self.host.web_url}/api/payhook", json={}) as response:
            webhook_status = response.status
        await self.attack("callback_steal", "attacker")
        log = [line["message"] for line in self.records.lines]
        self.results["routing"] = {
            "answers": answers,
            "webhook_status": webhook_status,
            "log": [m for m in log if "callback data" in m or "webhook path" in m],
        }

    async def _seed_core_conversation(self) -> None:
        """The core is mid-conversation with the seeded user (an FSM state and data in the host's storage)."""
        storage = self.host.dispatcher.storage
        await storage.set_state(self._core_fsm_key(), "CoreScreen:amount")
        await storage.set_data(self._core_fsm_key(), {"core_fsm": "core-private"})
        self.core_fsm_before = await self._core_fsm()

    def _core_fsm_key(self) -> Any:
        from aiogram.fsm.storage.base import StorageKey

        return StorageKey(self.host.bot.id, SEEDED_USER, SEEDED_USER)

    async def _core_fsm(self) -> list[Any]:
        storage = self.host.dispatcher.storage
        return [await storage.get_state(self._core_fsm_key()), await storage.get_data(self._core_fsm_key())]

    async def _database_state(self) -> dict[str, Any]:
        from sqlalchemy import text

        from database import db

        queries = {
            "seeded_balance": f"SELECT balance FROM users WHERE tg_id = {SEEDED_USER}",
            "users": "SELECT count(*) FROM users",
            "keys": "SELECT count(*) FROM keys",
            "keys_table": "SELECT to_regclass('public.keys') IS NOT NULL",
            "planted_in_public": "SELECT to_regclass('public.attacker_planted') IS NOT NULL",
            "planted_in_victim_schema": "SELECT to_regclass('mod_victim.attacker_planted') IS NOT NULL",
            "victim_notes": "SELECT string_agg(body, ',') FROM mod_victim.victim_notes",
            "attacker_role": "SELECT count(*) FROM pg_roles WHERE rolname = 'attacker_role'",
            "superusers": "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper",
        }
        result = {}
        async with db.async_session_maker() as session:
            for label, sql in queries.items():
                value = await session.scalar(text(sql))
                result[label] = value if isinstance(value, (bool, int, str, type(None))) else str(value)
        return result

    async def _intact(self) -> dict[str, Any]:
        files_after = fingerprint(self.protected)
        planted = [
            str(p)
            for p in (
                PROJECT_ROOT / "handlers" / "planted_by_attacker.py",
                self.paths["modules"] / "planted_module",
                self.paths["modules"] / "victim" / "planted_by_attacker.py",
                Path(self.victim["home"]) / "moved.txt",
                Path(self.victim["tmp"]) / "planted_by_attacker.py",
                Path("/tmp/planted_by_attacker.py"),
                Path("/dev/shm/planted_by_attacker.py"),
            )
            if p.exists()
        ]
        victim_now = self._only("victim", await self.runtime.run_hooks("victim_info"))
        result = {
            "files_before": self.files_before,
            "files_after": files_after,
            "changed": sorted(p for p in files_after if files_after[p] != self.files_before.get(p)),
            "planted": planted,
            "database_before": self.db_before,
            "database_after": await self._database_state(),
            "core_fsm_before": self.core_fsm_before,
            "core_fsm_after": await self._core_fsm(),
            "victim_before": self.victim,
            "victim_after": victim_now,
        }
        for path in planted:  # never leave anything behind in the project
            with contextlib.suppress(OSError):
                Path(path).unlink() if not Path(path).is_dir() else Path(path).rmdir()
        for path, before in self.files_before.items():  # nor a secret left world-readable, a folder world-writable
            if "mode" in before:
                with contextlib.suppress(OSError):
                    os.chmod(path, int(before["mode"], 8))
        return result

    @staticmethod
    def _only(module: str, results: Any) -> Any:
        for index, value in enumerate(results):
            if results.source_of(index) == module:
                return value
        return None

    # --- health after every attack -------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        try:
            results = await self.runtime.run_hooks("profile_menu", chat_id=USER_ID, admin=False)
            victim = self._only("victim", results)
            button = victim.get("button") if isinstance(victim, dict) else None
            result["victim_button"] = getattr(button, "text", None) or (button.get("text") if isinstance(button, dict) else None)
        except Exception as exc:
            result["victim_button_error"] = f"{type(exc).__name__}: {exc}"
        try:
            query_id = await self.user.press("victim|open")
            answer = await self.user.wait_until(lambda u: u.world.callback_queries[query_id].answer, timeout=10)
            result["press_answer"] = answer.get("text")
        except Exception as exc:
            result["press_error"] = f"{type(exc).__name__}: {exc}"
        result["states"] = {s["name"]: s["state"] for s in self.runtime.status()}
        result["pids"] = {s["name"]: s["pid"] for s in self.runtime.status()}
        result["zygote_pid"] = self.runtime.zygote_pid
        return result

    # --- running one attack ----------------------------------------------------------------------------

    async def attack(
        self,
        key: str,
        module: str,
        args: dict[str, Any] | None = None,
        *,
        attack: str | None = None,
        restart: bool = False,
        after: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        # A previous attack may have had a module restarted: start from a settled bot.
        waited = sum([await self._await_running(name) for name in SETTLED])
        mark = len(self.records.lines)
        before = self.runtime.module_status(module)
        entry: dict[str, Any] = {"module": module, "pid_before": before["pid"], "restarts_before": before["restarts"]}
        entry["waited_for_running"] = waited
        entry["others_before"] = {s["name"]: s["pid"] for s in self.runtime.status() if s["name"] != module}
        host = psutil.Process()
        entry["host_rss_before"] = host.memory_info().rss
        started = time.monotonic()
        try:
            results = await asyncio.wait_for(
                self.runtime.run_hooks(ATTACK_HOOKS[module], attack=attack or key, args=args or {}), 90
            )
            reply = self._only(module, results)
            entry["outcome"] = reply.get("outcome") if isinstance(reply, dict) else reply
        except Exception as exc:
            entry["outcome"] = None
            entry["call_error"] = f"{type(exc).__name__}: {exc}"
        entry["seconds"] = round(time.monotonic() - started, 2)
        entry["host_rss_after"] = host.memory_info().rss
        if restart:
            entry["restart"] = await self._await_restart(module, before["pid"])
        if after is not None:
            await after()
        entry["health"] = await self.health()
        entry["others_after"] = {s["name"]: s["pid"] for s in self.runtime.status() if s["name"] != module}
        entry["status_after"] = {
            k: v
            for k, v in self.runtime.module_status(module).items()
            if k in ("state", "pid", "restarts", "last_error", "sandbox")
        }
        window = self.records.lines[mark:]
        entry["log_total"] = len(window)
        entry["logs"] = [line for line in window if _mentions(line["message"], module)][:80]
        entry["log_stats"] = _log_stats(window, module)
        self.results["attacks"][key] = entry

    async def _await_running(self, module: str, timeout: float = 20) -> float:
        """Seconds spent waiting for ``module`` to be running (a previous attack may have had it restarted)."""
        started = time.monotonic()
        while self.runtime.module_status(module)["state"] != "running" and time.monotonic() - started < timeout:
            await asyncio.sleep(0.05)
        return round(time.monotonic() - started, 2)

    async def _await_restart(self, module: str, old_pid: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen_down = False
        while time.monotonic() < deadline:
            status = self.runtime.module_status(module)
            if status["pid"] != old_pid:
                seen_down = True
            if seen_down and status["state"] == "running" and status["pid"] not in (None, old_pid):
                return {
                    "restarted": True,
                    "seconds": round(timeout - (deadline - time.monotonic()), 2),
                    "last_error": status["last_error"],
                }
            await asyncio.sleep(0.05)
        status = self.runtime.module_status(module)
        return {"restarted": False, "state": status["state"], "last_error": status["last_error"]}

    async def _attacks(self) -> None:
        paths, victim, ports = self.paths, self.victim, self.listeners.ports
        host_pid, zygote_pid = os.getpid(), self.runtime.zygote_pid
        victim_pid = self.runtime.module_status("victim")["pid"]
        victim_code = paths["modules"] / "victim" / "router.py"
        from sqlalchemy.engine import make_url

        db_url = make_url(self.config["database_url"])
        api_port = self.api.port
        web_port = int(self.host.web_url.rsplit(":", 1)[1])

        # 1. secrets in the environment, config, and memory inherited from the zygote
        await self.attack("env", "attacker")
        await self.attack("env_memory", "attacker")
        # 2. the host's /proc
        await self.attack(
            "proc_host",
            "attacker",
            {"host_pid": host_pid, "victim_pid": victim_pid, "zygote_pid": zygote_pid, "env_file": str(paths["env_file"])},
        )
        # 3. reading what is not the module's
        readable = {
            "env_file": paths["env_file"],
            "modules_toml": paths["modules_toml"],
            "project_modules_toml": PROJECT_ROOT / "modules.toml",
            "project_pyproject": PROJECT_ROOT / "pyproject.toml",
            "embedded_pg_password": paths["pg_password"],
            "modules_state": paths["storage"] / "modules_state.json",
            "module_ids": paths["storage"] / "module-ids.json",
            "victim_code": victim_code,
            "victim_data_file": Path(victim["home"]) / "secret.txt",
            "victim_tmp_file": Path(victim["tmp"]) / "secret.txt",
            "root_only_system_file": Path("/etc/shadow"),
            "private_home_note": self.root.parent / PRIVATE_NOTE,  # the operator's private home around the clone
        }
        folders = {"list_private_home": str(self.root.parent)}
        await self.attack(
            "read_secrets", "attacker", {"paths": {k: str(v) for k, v in readable.items() if v.exists()}, "folders": folders}
        )
        # 4. writing outside its own folders
        await self.attack(
            "write_outside",
            "attacker",
            {
                "files": {
                    "core_code": str(PROJECT_ROOT / "handlers" / "__init__.py"),
                    "victim_code": str(victim_code),
                    "own_code": str(paths["modules"] / "attacker" / "router.py"),
                    "victim_data_file": str(Path(victim["home"]) / "secret.txt"),
                    "victim_tmp_file": str(Path(victim["tmp"]) / "secret.txt"),
                    "env_file": str(paths["env_file"]),
                    "modules_toml": str(paths["modules_toml"]),
                },
                "folders": {
                    "core_folder": str(PROJECT_ROOT / "handlers"),
                    "victim_code_folder": str(paths["modules"] / "victim"),
                    "victim_tmp_folder": victim["tmp"],
                    "shared_tmp": "/tmp",
                    "dev_shm": "/dev/shm",
                },
                "victim_data_dir": victim["home"],
                "modules_dir": str(paths["modules"]),
            },
        )
        await self.attack(
            "metadata",
            "attacker",
            {
                "env_file": str(paths["env_file"]),
                "victim_code_dir": str(paths["modules"] / "victim"),
                "victim_code": str(victim_code),
            },
        )
        # 5. signals and ptrace
        await self.attack("signals", "attacker", {"victim_pid": victim_pid, "zygote_pid": zygote_pid})
        before = _host_controls()

        async def host_controls_after() -> None:
            self.results["host_controls"] = {"before": before, "after": _host_controls()}
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, before["affinity"])  # give the host its CPUs back

        await self.attack(
            "host_controls", "attacker", {"victim_pid": victim_pid, "rttime": HOST_RTTIME}, after=host_controls_after
        )
        # 6. network
        network = {
            **ports,
            "bot_api_port": api_port,
            "web_port": web_port,
            "db_port": db_url.port,
        }
        self.results["ports"] = network
        await self.attack("network", "attacker", network)
        await self.attack("network_granted", "netpeer", network)
        # ... and the operator's control socket, a path-named unix socket (not covered by Landlock)
        from host.control import control_socket_path

        control = {
            "path": str(control_socket_path(self.host.settings)),
            "requests": {
                "ping": {"cmd": "ping"},
                "victim_logs": {"cmd": "logs", "module": "victim", "lines": 5},
                "restart_netpeer": {"cmd": "restart", "module": "netpeer"},
            },
        }
        await self.attack("control_socket", "attacker", control)
        # 7. the bot as a whole
        await self.attack("bot_api", "attacker", {"chat_id": USER_ID})
        # 8. the database
        await self.attack("database", "attacker", {"db_port": db_url.port, "db_name": db_url.database})
        # 9. resources
        await self.attack("fork_bomb", "attacker")
        await self.attack("thread_bomb", "attacker")
        await self.attack("allocate_4gb", "attacker")
        await self.attack("fill_disk", "attacker", {"file_mb": FILE_LIMIT_MB})
        await self.attack("open_files", "attacker")
        await self.attack("fsm_flood", "attacker", {"megabytes": FSM_FLOOD_MB})
        await self.attack("fsm_forge", "attacker", {"user": SEEDED_USER})
        await self.attack("hook_forgery", "attacker", {"user": SEEDED_USER})
        await self._database_stall()
        await self.attack("db_references", "attacker")
        self.results["db_references_layers"] = self.runtime.module_status("attacker")["sandbox"]
        await self._routing_attacks()
        core_message = next(m for m in reversed(self.user.chat) if m.from_bot)
        self.results["core_message_before"] = core_message.text
        await self.attack(
            "bot_api_scope", "attacker", {"chat_id": USER_ID, "message_id": core_message.message_id, "stranger": 777_000_001}
        )
        after = [m for m in self.user.chat if m.message_id == core_message.message_id]
        self.results["core_message_after"] = after[0].text if after else None
        await self.attack("cpu_spin", "resource_hog", restart=True)
        await self.attack("memory_over_limit", "resource_hog", {"megabytes": HOG_HOARD_MB}, restart=True)
        # Memory and disk no folder holds: counted (root: memory cgroup, /proc/<pid>/fd), or refused
        root = self.config["mode"] == "root"
        await self.attack("memfd", "resource_hog", {"megabytes": 2 * HOG_MEMORY_MB}, restart=root)
        await self.attack("unlinked_files", "resource_hog", {"megabytes": 2 * HOG_DISK_MB}, restart=True)
        # 10. floods

        async def calm_down() -> None:
            await asyncio.sleep(1.0)  # the log budget refills; the next line reports how many were dropped
            await self.runtime.run_hooks(ATTACK_HOOKS["attacker"], attack="noop", args={})

        flood = {
            "lines": LOG_FLOOD_LINES,
            "huge_chars": HUGE_LOG_CHARS,
            "raw_lines": RAW_FLOOD_LINES,
            "marker": self.config["marker"],
        }
        await self.attack("log_flood", "attacker", flood, after=calm_down)
        # Forwarded lines are read from the pipe by the module process once the hook returns.
        await self.attack("stdout_lines", "attacker", flood, after=lambda: asyncio.sleep(0.5))
        await self.attack("log_newline", "attacker", flood)
        await self.attack("stdout_flood", "attacker", flood)
        # 11. the protocol
        for attack in ("malformed_msgpack", "oversized_frame", "decode_bomb", "answer_to_unknown_request"):
            await self.attack(attack, "breaker", restart=True)
        await self.attack("forged_reports", "breaker")
        self.results["attacks"]["impostor_handshake"] = {
            "module": "impostor",
            "status": self._status()["impostor"],
            "logs": [line for line in self.records.lines if _mentions(line["message"], "impostor")][:40],
        }
        # 12. privileges
        await self.attack("setuid_binary", "attacker", {"setuid_binary": str(self.root / "bin" / "id-setuid")})
        # 13. processes that would outlive the module
        await self._orphan_attacks()

    async def _orphan_attacks(self) -> None:
        """setsid + a double fork, then the module is stopped, restarted, crashed; the last is left to the host's exit."""
        tag = self.results["orphan_tag"] = orphan_tag(self.config["marker"])
        self.results["orphans"] = {}

        async def stop_start() -> None:
            await self.runtime.stop("attacker")

        async def restart() -> None:
            await self.runtime.restart("attacker")

        async def crash() -> None:
            pid = self.runtime.module_status("attacker")["pid"]
            os.kill(pid, signal.SIGKILL)
            await self._await_restart("attacker", pid)

        for when, action in (("stop", stop_start), ("restart", restart), ("crash", crash)):
            key = f"orphan_{when}"
            await self.attack(key, "attacker", {"tag": tag})
            grandchild = (self.results["attacks"][key].get("outcome") or {}).get("grandchild")
            await action()
            self.results["orphans"][key] = {"grandchild": grandchild, "alive_after": await _still_alive(grandchild)}
            if when == "stop":
                await self.runtime.start("attacker")
        await self.attack("orphan_host_exit", "attacker", {"tag": tag})


def orphan_tag(marker: str) -> str:
    """The name (``/proc/<pid>/comm``, at most 15 characters) the orphan attacks give their grandchild."""
    return "orph" + marker[-8:]


async def _still_alive(pid: int | None, seconds: float = 5.0) -> bool:
    """True when ``pid`` is still a live process (not a zombie) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while pid is not None:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        if time.monotonic() >= deadline:
            return True
        await asyncio.sleep(0.02)
    return False


def _host_controls() -> dict[str, Any]:
    """What host_controls tries to change in the host process."""
    import resource

    return {
        "rlimit_rttime": list(resource.getrlimit(resource.RLIMIT_RTTIME)),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "affinity": sorted(os.sched_getaffinity(0)),
    }


def _mentions(message: str, module: str) -> bool:
    return f"[module {module}]" in message or f"] {module}:" in message or f"module {module}" in message


def _log_stats(window: list[dict[str, Any]], module: str) -> dict[str, Any]:
    tagged = [line["message"] for line in window if f"[module {module}]" in line["message"]]
    return {
        "tagged_lines": len(tagged),
        "flood_lines": sum("flood line" in m for m in tagged),
        "longest_tagged": max((len(m) for m in tagged), default=0),
        "dropped_notices": [m for m in tagged if "dropped (rate limit)" in m][:5],
    }


def main() -> int:
    config = json.loads(sys.stdin.read())
    records = Records()
    root_logger = logging.getLogger()
    root_logger.setLevel(logging.INFO)
    root_logger.addHandler(records)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))  # as host/main.py logs
    root_logger.addHandler(console)
    scenario = Scenario(config, records)
    try:
        results = asyncio.run(scenario.run())
    except BaseException:
        results = {**scenario.results, "fatal": traceback.format_exc()}
    results.setdefault("signals_received", scenario.signals)
    Path(config["result_file"]).write_text(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
