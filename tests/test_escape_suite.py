"""The escape suite: hostile modules against the whole sandboxed bot, as root and as an ordinary user.

Each run starts ``tests/escape_driver.py`` in a process of its own — the host (``SolobotHost``
with the sandbox on, the local Bot API server, PostgreSQL roles per module) plus the modules of
``tests/escape_modules`` — once as root from a clone of the project in a private home (a 0700
parent, as ``/root/solobot`` is on stock servers; every module gets its own uid) and once as the
unprivileged user ``solobot-escape`` from a clone in that user's own private home (``tests/installs.py``;
the bot's data folder inside the clone, as by default; modules share the bot's uid: Landlock, signal/abstract-unix
scoping, dumpable=0, no_new_privs, database roles and the Bot API policy are what protect). The
driver runs every attack as a hook call of the attacking module, and after each one checks that
the host still serves: ``run_hooks("profile_menu")`` returns the victim module's button and a
user's press of that button is answered by the victim. It records the outcome of every attempt
(errno names: "ok" means the operation succeeded), the host's log records of each attack, module
status, the state of protected files and tables before and after; the tests below assert on it.

An attack that *did* kill the host kills the driver, not pytest: the fixture then fails with the
driver's exit status and the tail of its output.

Run alone: ``python -m pytest tests/test_escape_suite.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy.engine import URL, make_url

from sandbox.bot_api_policy import BURST_SECONDS
from sandbox.landlock import landlock_abi
from sandbox.permissions import DEFAULTS  # the attacker's limits but memory_mb (ATTACKER_MEMORY_MB)
from tests.conftest import fresh_database
from tests.escape_driver import (
    ATTACKER_MEMORY_MB,
    DB_SLEEP_SECONDS,
    FILE_LIMIT_MB,
    FRUGAL_MEMORY_MB,
    FSM_FLOOD_MB,
    HOG_DISK_MB,
    HOG_MEMORY_MB,
)
from tests.installs import UNPRIVILEGED_USER, as_user_command, clone_in_private_home, unprivileged_user

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(sys.platform != "linux", reason="Linux only"),
    pytest.mark.skipif(os.geteuid() != 0, reason="runs the bot as root and as an unprivileged user: needs root"),
    pytest.mark.skipif(landlock_abi() < 7, reason="needs Landlock ABI 7 (TCP rules, signal and abstract-unix scopes)"),
]

DRIVER = Path("tests") / "escape_driver.py"  # run from the bot's folder: the clone's own copy
MODES = ("root", "nonroot")
DRIVER_TIMEOUT = 240

# Where the module has a memory cgroup (root here), the kernel may stop a fast hog before the watchdog samples it.
KERNEL_OOM = f"memory at the {HOG_MEMORY_MB} MB limit of its memory cgroup: killed by the kernel's OOM killer"
BLOCKED = frozenset({"EACCES", "EPERM"})  # Landlock, DAC and scopes answer with one of these
LOG_BURST = 200  # runtime.supervision.module_logs: 4 s worth of RuntimeConfig.log_lines_per_second (50)
LOG_RATE = 50
MAX_LOG_MESSAGE = 8_000

# Every attack the driver runs: (result key, module that attacks).
ATTACKS = (
    ("env", "attacker"),
    ("env_memory", "attacker"),
    ("proc_host", "attacker"),
    ("read_secrets", "attacker"),
    ("write_outside", "attacker"),
    ("metadata", "attacker"),
    ("signals", "attacker"),
    ("host_controls", "attacker"),
    ("network", "attacker"),
    ("network_granted", "netpeer"),
    ("control_socket", "attacker"),
    ("bot_api", "attacker"),
    ("database", "attacker"),
    ("fork_bomb", "attacker"),
    ("thread_bomb", "attacker"),
    ("allocate_4gb", "attacker"),
    ("fill_disk", "attacker"),
    ("open_files", "attacker"),
    ("fsm_flood", "attacker"),
    ("fsm_forge", "attacker"),
    ("hook_forgery", "attacker"),
    ("db_stall", "attacker"),
    ("db_references", "attacker"),
    ("callback_steal", "attacker"),
    ("bot_api_scope", "attacker"),
    ("cpu_spin", "resource_hog"),
    ("memory_over_limit", "resource_hog"),
    ("log_flood", "attacker"),
    ("stdout_lines", "attacker"),
    ("log_newline", "attacker"),
    ("stdout_flood", "attacker"),
    ("malformed_msgpack", "breaker"),
    ("oversized_frame", "breaker"),
    ("decode_bomb", "breaker"),
    ("answer_to_unknown_request", "breaker"),
    ("forged_reports", "breaker"),
    ("setuid_binary", "attacker"),
    ("memfd", "resource_hog"),
    ("unlinked_files", "resource_hog"),
    ("orphan_stop", "attacker"),
    ("orphan_restart", "attacker"),
    ("orphan_crash", "attacker"),
    ("orphan_host_exit", "attacker"),
)
# ``frugal`` has its own test (the watchdog must leave it alone); the impostor never runs.
BYSTANDERS_EXCLUDED = frozenset({"frugal", "impostor"})


# --- one run of the driver ---------------------------------------------------------------------


@dataclass
class Run:
    mode: str
    results: dict[str, Any]
    token: str
    owner_password: str
    marker: str
    output: str  # the host process's stdout and stderr

    @property
    def root(self) -> bool:
        return self.mode == "root"

    def attack(self, key: str) -> dict[str, Any]:
        entry = self.results["attacks"].get(key)
        assert entry is not None, f"[{self.mode}] the driver did not run attack {key!r}"
        return entry

    def outcome(self, key: str) -> Any:
        entry = self.attack(key)
        assert entry.get("outcome") is not None, (
            f"[{self.mode}] attack {key!r} returned nothing: {entry.get('call_error')}; "
            f"module state after it: {entry['status_after']}"
        )
        return entry["outcome"]

    def log_messages(self, key: str) -> list[str]:
        return [line["message"] for line in self.attack(key)["logs"]]


def owner_dsn_over_tcp(pg_url: str, database_url: str) -> str:
    """The owner's DSN over TCP 127.0.0.1 (a process of another user cannot reach the socket folder)."""
    server = make_url(pg_url)
    port = server.query.get("port")
    return URL.create(
        "postgresql+asyncpg",
        username=server.username,
        password=server.password,
        host="127.0.0.1",
        port=int(port[0] if isinstance(port, tuple) else port),
        database=make_url(database_url).database,
    ).render_as_string(hide_password=False)


def drive(mode: str, root: Path, database_url: str, output_dir: Path) -> Run:
    token = f"{secrets.randbelow(10**9) + 10**8}:{secrets.token_urlsafe(32)}"
    marker = f"ESCAPE-MARKER-{secrets.token_hex(6)}"
    # A setuid-root copy of id(1), for the module to try (only root can make one).
    (root / "bin").mkdir()
    shutil.copy("/usr/bin/id", root / "bin" / "id-setuid")
    os.chmod(root / "bin" / "id-setuid", 0o4755)
    config = {
        "mode": mode,
        "root": str(root),
        "database_url": database_url,
        "token": token,
        "marker": marker,
        "result_file": str(root / "results.json"),
    }
    # PYTHONPATH: the host under test is the clone of this checkout, whatever else is installed.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(root)}
    env["PYTHONPATH"] = str(root)
    command = [sys.executable, str(root / DRIVER)]
    if mode == "nonroot":
        entry = unprivileged_user()
        command = as_user_command(entry.pw_uid, entry.pw_gid, command)
    output_file = output_dir / f"host-{mode}.log"
    with open(output_file, "w") as output:
        done = subprocess.run(
            command,
            input=json.dumps(config),
            text=True,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=root,
            env=env,
            timeout=DRIVER_TIMEOUT,
            check=False,
        )
    text = output_file.read_text(errors="replace")
    results_file = root / "results.json"
    if not results_file.exists():
        pytest.fail(
            f"[{mode}] the host process died (exit status {done.returncode}) before writing its results: "
            f"an attack killed it? Last output:\n{text[-4000:]}"
        )
    results = json.loads(results_file.read_text())
    assert "fatal" not in results, f"[{mode}] the driver failed:\n{results['fatal']}\nLast output:\n{text[-3000:]}"
    assert results["uid"] == (0 if mode == "root" else pwd.getpwnam(UNPRIVILEGED_USER).pw_uid)
    return Run(mode, results, token, make_url(database_url).password or "", marker, text)


# One xdist group per mode: under `-n` the two runs of the driver (the suite's longest fixture) go to
# different workers.
@pytest.fixture(scope="module", params=[pytest.param(mode, marks=pytest.mark.xdist_group(f"escape-{mode}")) for mode in MODES])
def run(request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One whole run of the driver per mode; its bot is gone by the time the tests read the results."""
    mode = request.param
    output_dir = tmp_path_factory.mktemp(f"escape-{mode}")

    async def in_a_fresh_database() -> Run:
        async with fresh_database(pg_url) as database_url:
            with clone_in_private_home(None if mode == "root" else unprivileged_user()) as root:
                owner = owner_dsn_over_tcp(pg_url, database_url)
                return await anyio.to_thread.run_sync(drive, mode, root, owner, output_dir)

    return asyncio.run(in_a_fresh_database())


# --- every attack: logged with the module's name, the host and the other modules keep serving ---


@pytest.mark.parametrize(("key", "module"), ATTACKS, ids=[key for key, _ in ATTACKS])
def test_every_attack_is_logged_with_the_module_name(run: Run, key: str, module: str) -> None:
    messages = run.log_messages(key)
    tagged = [m for m in messages if f"[module {module}]" in m and f"escape attempt {key}" in m]
    assert tagged, f"[{run.mode}] attack {key!r} of module {module} left no log record tagged with its name: {messages[:10]}"


@pytest.mark.parametrize(("key", "module"), ATTACKS, ids=[key for key, _ in ATTACKS])
def test_after_every_attack_the_host_and_the_other_modules_keep_serving(run: Run, key: str, module: str) -> None:
    entry = run.attack(key)
    health = entry["health"]
    assert health.get("victim_button") == "victim ok", (
        f"[{run.mode}] after {key!r}: run_hooks('profile_menu') no longer returns the victim's button: {health}"
    )
    assert health.get("press_answer") == "victim answers", (
        f"[{run.mode}] after {key!r}: a user's press of the victim's button was not answered "
        f"(host polling or update routing broke): {health}"
    )
    bystanders_before = {m: pid for m, pid in entry["others_before"].items() if m not in BYSTANDERS_EXCLUDED}
    bystanders_after = {m: pid for m, pid in entry["others_after"].items() if m not in BYSTANDERS_EXCLUDED}
    assert bystanders_after == bystanders_before, f"[{run.mode}] attack {key!r} of {module} restarted other modules"
    assert run.results["signals_received"] == [], f"[{run.mode}] the host received signals: {run.results['signals_received']}"


# --- what the operator sees -----------------------------------------------------------------------


def test_status_lists_every_sandbox_layer(run: Run) -> None:
    status = run.results["status_at_start"]
    uids = set()
    for name in ("attacker", "breaker", "netpeer", "resource_hog", "victim"):
        layers = status[name]["sandbox"]
        text = "; ".join(layers)
        assert any(layer.startswith("rlimits data=") for layer in layers), f"[{run.mode}] {name}: no rlimits in {layers}"
        # Sharing the bot's uid, a module stays dumpable for the host's network supervisor (it reads
        # the module's connect addresses); as root, its own uid and dumpable=0.
        dumpable = (
            "dumpable=0" if run.root else "dumpable=1 (for the host's network supervisor; seccomp and Landlock keep others out)"
        )
        assert "no_new_privs" in layers and dumpable in layers, f"[{run.mode}] {name}: {layers}"
        assert "network by address: connect() checked by the host" + (" (UDP sends too)" if name == "netpeer" else "") in layers
        assert any(layer.startswith("network by address: database 127.0.0.1:") for layer in layers), layers
        assert any(layer.startswith("database limits: 10 connections") for layer in layers), layers
        assert "landlock abi 7 (" in text and "scopes signals+abstract-unix" in text, f"[{run.mode}] {name}: {layers}"
        # The host's own layers: FSM namespace, vouched run_hooks, its callbacks, the Bot API scope.
        assert "fsm: own namespace" in layers and any(layer.startswith("bot api scope: ") for layer in layers), layers
        assert any(layer.startswith("callbacks: ") and f"{name}|…" in layer for layer in layers), layers
        missing = [layer for layer in layers if layer.startswith(("NOT ", "FAILED"))]
        if run.root:
            uid_layer = next((layer for layer in layers if re.fullmatch(r"uid \d+ gid \d+", layer)), None)
            assert uid_layer is not None, f"[root] {name}: no own uid in {layers}"
            uids.add(uid_layer)
            assert any(layer.startswith("private mount view: ") for layer in layers), (
                f"[root] {name}: run from a clone in a private home, yet no private mount view: {layers}"
            )
            assert missing == [], f"[root] {name}: layers not in force on this kernel: {missing}"
            assert any(layer.startswith("cgroup v") for layer in layers), f"[root] {name}: no cgroup of its own: {layers}"
        else:
            # Without root: the shared uid, and no cgroup (setsid refused instead); memfds are refused
            # (nothing charges them), unlinked files counted (the module stays dumpable, see above).
            expected = ("NOT own uid: the bot is not root", "NOT cgroup: ")
            assert sorted(p for p in expected for line in missing if line.startswith(p)) == sorted(expected), (
                f"[nonroot] {name}: only the shared uid and the cgroup may be missing: {missing}"
            )
            assert len(missing) == len(expected), f"[nonroot] {name}: {missing}"
            assert any(layer.startswith("seccomp (") and "no memfd" in layer for layer in layers), layers
            assert "hidden files: unlinked-but-open files counted by the watchdog; memfds refused" in layers, layers
    if run.root:
        assert len(uids) == 5, f"[root] modules share uids: {uids}"
    for name, proc in run.results["proc_status"].items():
        assert proc.get("NoNewPrivs") == "1", f"[{run.mode}] {name}: /proc/<pid>/status says NoNewPrivs {proc.get('NoNewPrivs')}"
        assert proc.get("CapEff") == "0000000000000000", f"[{run.mode}] {name} has capabilities: {proc}"
        assert not proc["Uid"].startswith("0\t"), f"[{run.mode}] {name} runs as root: {proc}"


# --- 1. secrets in the environment, config and memory ---------------------------------------------


def _assert_no_secret(run: Run, what: str, data: Any) -> None:
    text = json.dumps(data)
    assert run.token not in text and run.token.split(":", 1)[1] not in text, f"[{run.mode}] the bot token escaped via {what}"
    assert run.owner_password not in text, f"[{run.mode}] the database owner's password escaped via {what}"


def test_environment_and_config_hold_no_secret(run: Run) -> None:
    outcome = run.outcome("env")
    _assert_no_secret(run, "the module's environment, config or bot", outcome)
    leaked = {"BOT_TOKEN", "API_TOKEN", "DATABASE_URL", "REDIS_URL", "MODULES_CONFIG"} & set(outcome["environ"])
    assert not leaked, f"[{run.mode}] secret variables in the module's environment: {leaked}"
    assert outcome["config_secret_attributes"] == [], f"[{run.mode}] config exposes {outcome['config_secret_attributes']}"
    assert outcome["load_settings"] in BLOCKED, f"[{run.mode}] config.load_settings() read the .env: {outcome['load_settings']}"
    assert outcome["bot_token"].endswith(":sandbox"), f"[{run.mode}] the module's bot holds a real token"
    assert outcome["db_user"] == "mod_attacker", f"[{run.mode}] the module connects as {outcome['db_user']!r}, not its own role"


def test_memory_inherited_from_the_zygote_holds_no_secret(run: Run) -> None:
    outcome = run.outcome("env_memory")
    assert outcome["bytes_read"] > 50 * 1024 * 1024, f"[{run.mode}] the memory scan read too little to mean anything: {outcome}"
    # The scanner works: it finds the module's own DSN (the one secret it is entitled to; the attack writes it out).
    assert any("mod_attacker:" in c for c in outcome["candidates"]), f"[{run.mode}] scanner found nothing: {outcome}"
    _assert_no_secret(run, "memory the module process inherited from the zygote", outcome["candidates"])


# --- 2 and 3. the host's /proc, secrets and other modules' files ----------------------------------


def test_host_proc_files_are_closed(run: Run) -> None:
    outcome = run.outcome("proc_host")
    assert outcome.pop("host_pid_is_parent") is True
    opened = {path: result for path, result in outcome.items() if result not in BLOCKED}
    assert not opened, f"[{run.mode}] the module read /proc files of the host, the zygote or another module: {opened}"


def test_secrets_and_other_modules_files_are_unreadable(run: Run) -> None:
    outcome = dict(run.outcome("read_secrets"))
    assert outcome.pop("symlink_create") == "ok"  # in its own folder: allowed, and useless (next line)
    assert outcome.pop("hardlink") in BLOCKED | {"EXDEV"}, f"[{run.mode}] hard-linked another module's file"
    # The operator's home around the clone. As root it is not even there for the module (a private
    # mount view); as an ordinary user the module shares the home's owner uid: Landlock refuses.
    note, listing = outcome.pop("private_home_note"), outcome.pop("list_private_home")
    assert (note == "ENOENT" if run.root else note in BLOCKED) and listing in BLOCKED, (run.mode, note, listing)
    read = {label: result for label, result in outcome.items() if result not in BLOCKED}
    assert not read, f"[{run.mode}] the module read files that are not its own: {read}"
    for label in ("env_file", "modules_toml", "embedded_pg_password", "victim_data_file", "victim_code", "symlink_read"):
        assert label in outcome, f"[{run.mode}] {label} was not attempted"


# --- 4. writing outside its own folders -----------------------------------------------------------


def test_writes_outside_its_own_folders_fail_and_change_nothing(run: Run) -> None:
    outcome = dict(run.outcome("write_outside"))
    assert outcome.pop("own_data_write") == outcome.pop("own_tmp_write") == "ok"  # the positive control
    written = {label: result for label, result in outcome.items() if result not in BLOCKED | {"EXDEV"}}
    assert not written, f"[{run.mode}] the module wrote outside its own folders: {written}"
    intact = run.results["intact"]
    assert intact["planted"] == [], f"[{run.mode}] files planted by the module: {intact['planted']}"
    changed_content = [
        p for p in intact["changed"] if intact["files_after"][p].get("sha256") != intact["files_before"][p].get("sha256")
    ]
    assert changed_content == [], f"[{run.mode}] protected files changed: {changed_content}"


def test_attributes_of_files_that_are_not_its_own_cannot_change(run: Run) -> None:
    """chmod/utime/setxattr on the bot's .env and another module's code."""
    outcome = run.outcome("metadata")
    changed = {label: result for label, result in outcome.items() if result not in BLOCKED}
    intact = run.results["intact"]
    modes = {
        p: (intact["files_before"][p].get("mode"), intact["files_after"][p].get("mode"))
        for p in intact["changed"]
        if intact["files_before"][p].get("mode") != intact["files_after"][p].get("mode")
    }
    assert not changed and not modes, (
        f"[{run.mode}] the module changed attributes of files that are not its own: {changed}; modes (before, after): {modes}"
    )


# --- 5. signals and ptrace ------------------------------------------------------------------------


def test_signals_and_ptrace_to_the_host_and_other_modules_fail(run: Run) -> None:
    outcome = dict(run.outcome("signals"))
    assert outcome.pop("pidfd_open_host") == "ok"  # a pidfd needs no permission; using it does (below)
    # kill(-1) reports success whenever it found a process, even if every signal was refused:
    # judged by its effects (no signal at the host, nobody restarted; see the serving test).
    assert outcome.pop("kill_everything") in {"ok", "ESRCH"} | BLOCKED
    reached = {label: result for label, result in outcome.items() if result not in BLOCKED | {"ESRCH"}}
    assert not reached, f"[{run.mode}] the module signalled or traced a process outside its sandbox: {reached}"
    entry = run.attack("signals")
    assert run.results["signals_received"] == [], f"[{run.mode}] the host received {run.results['signals_received']}"
    assert entry["health"]["zygote_pid"] == run.results["health_at_start"]["zygote_pid"], f"[{run.mode}] the zygote was killed"
    assert run.results["status_at_end"]["victim"]["restarts"] == 0, f"[{run.mode}] the victim module was restarted"


def test_limits_priority_and_cpus_of_the_host_and_other_modules_cannot_change(run: Run) -> None:
    """prlimit, setpriority, sched_setaffinity name a process by pid, like kill: a module must not reach the host's."""
    outcome = run.outcome("host_controls")
    reached = {label: result for label, result in outcome.items() if result not in BLOCKED | {"ESRCH"}}
    effect = run.results["host_controls"]
    assert not reached and effect["after"] == effect["before"], (
        f"[{run.mode}] the module changed resource limits, priority or CPUs of processes outside its sandbox: {reached}; "
        f"the host before/after: {effect} (with RLIMIT_CPU or RLIMIT_NOFILE instead, the host dies or stops accepting)"
    )


# --- 6. network -----------------------------------------------------------------------------------


def test_network_is_closed_but_the_database_port(run: Run) -> None:
    outcome = dict(run.outcome("network"))
    assert outcome.pop("connect_database") == "ok"  # the one port every module with a database needs
    # A documented Landlock (ABI <= 7) limit, reported rather than asserted: connecting to a
    # pathname unix socket of the same uid (blocked as root by the socket's owner and mode).
    # UDP, which Landlock does not know either, is refused by seccomp (no network granted).
    pathname_unix = outcome.pop("pathname_unix")
    if run.root:
        assert pathname_unix in BLOCKED, f"[root] connected to the host's unix socket: {pathname_unix}"
    opened = {label: result for label, result in outcome.items() if result not in BLOCKED}
    assert not opened, f"[{run.mode}] network operations that should be refused: {opened}"
    arrived = run.results["listeners"]
    for listener in ("refused_port", "refused_port_v6", "abstract_unix", "udp", "db_port_other_v4", "db_port_v6"):
        assert arrived.get(listener, 0) == 0, f"[{run.mode}] a connection reached the {listener} listener"


def test_the_database_port_is_open_only_on_the_database_server(run: Run) -> None:
    """Network by address: the database's port on 127.0.0.2, ::1 or as a v4-mapped address is refused, and logged."""
    outcome = run.outcome("network")
    db_port = run.results["ports"]["db_port"]
    for label in ("connect_database_port_127_0_0_2", "connect_database_port_v6", "connect_database_port_v4_mapped"):
        assert outcome[label] == "EACCES", f"[{run.mode}] {label}: {outcome[label]} (not refused by the host's check)"
    messages = run.log_messages("network")
    for endpoint in (f"127.0.0.2:{db_port}", f"[::1]:{db_port}"):
        line = f"[module attacker] network: refused connect to {endpoint} (tcp)"
        assert any(m.startswith(line) for m in messages), f"[{run.mode}] no log line {line!r} in {messages}"
    assert any(
        "network by address: connect() checked by the host" in layer for layer in run.attack("network")["status_after"]["sandbox"]
    )


def test_a_granted_destination_is_the_only_one_open(run: Run) -> None:
    outcome = dict(run.outcome("network_granted"))
    assert outcome.pop("connect_granted_port") == "ok", f"[{run.mode}] the operator's grant does not work: {outcome}"
    assert outcome.pop("http_get_granted") == "ok", f"[{run.mode}] an http GET to a granted host name failed: {outcome}"
    opened = {label: result for label, result in outcome.items() if result not in BLOCKED}
    assert not opened, f"[{run.mode}] addresses or ports beyond the grant: {opened}"
    # Refused by the host's address check, not by Landlock's ports or seccomp's socket rules.
    for label in ("connect_granted_port_127_0_0_2", "connect_database_port_127_0_0_2", "udp_not_granted"):
        assert outcome[label] == "EACCES", f"[{run.mode}] {label}: {outcome[label]}"
    arrived = run.results["listeners"]
    assert arrived.get("granted_port", 0) >= 1 and arrived.get("granted_http", 0) >= 1
    for listener in ("granted_port_other_v4", "db_port_other_v4", "udp"):
        assert arrived.get(listener, 0) == 0, f"[{run.mode}] a connection reached the {listener} listener"
    messages = run.log_messages("network_granted")
    line = f"[module netpeer] network: refused sendto to 127.0.0.1:{run.results['ports']['udp_port']} (udp)"
    assert any(m.startswith(line) for m in messages), f"[{run.mode}] no log line {line!r} in {messages}"


def test_the_operator_control_socket_refuses_modules(run: Run) -> None:
    """``<DATA_DIR>/solobot.sock`` stops, restarts and reloads modules and shows their logs: operators only."""
    outcome = run.outcome("control_socket")
    served = {label: answer["answer"] for label, answer in outcome["answers"].items() if answer["ok"]}
    assert outcome["connect"] in BLOCKED or not served, f"[{run.mode}] a module drove the operator's control socket: {served}"


# --- 7. the bot as a whole --------------------------------------------------------------------------


def test_bot_wide_methods_are_refused_and_calls_rate_limited(run: Run) -> None:
    outcome = dict(run.outcome("bot_api"))
    burst = outcome.pop("burst_of_120_get_me")
    seconds = outcome.pop("burst_seconds")
    assert outcome.pop("get_me") == "ok"
    allowed = {method: result for method, result in outcome.items() if result != "TelegramForbiddenError"}
    assert not allowed, f"[{run.mode}] Bot API methods the module may not call went through: {allowed}"
    # A full bucket (one second's worth) less the control call, plus what refilled meanwhile (+1: rounding).
    rate = DEFAULTS.bot_api_rate
    passed_at_most = rate * BURST_SECONDS - 1 + rate * seconds + 1
    assert burst.get("TelegramRetryAfter", 0) > 0 and burst.get("ok", 0) <= passed_at_most, (
        f"[{run.mode}] no rate limit: {burst} in {seconds:.2f} s"
    )
    world = run.results["bot_api_world"]
    assert world["webhook"] == {} and world["commands"] == {}, f"[{run.mode}] the bot's Telegram state changed: {world}"
    refused = [m for m in run.log_messages("bot_api") if m.startswith("[module attacker] Bot API call refused")]
    assert len(refused) >= len(outcome), f"[{run.mode}] refusals not logged with the module's name: {refused}"


# --- 8. the database --------------------------------------------------------------------------------


def test_database_grants_hold(run: Run) -> None:
    outcome = dict(run.outcome("database"))
    assert outcome.pop("own_schema_table") == "ok"  # its own schema works
    succeeded = {label: result for label, result in outcome.items() if result == "ok"}
    assert not succeeded, f"[{run.mode}] SQL the module's role must not be able to run: {succeeded}"
    for label, result in outcome.items():
        if label != "owner_login_guess":
            assert "permission denied" in result or "must be owner" in result, f"[{run.mode}] {label}: {result}"
    intact = run.results["intact"]
    assert intact["database_after"] == intact["database_before"], f"[{run.mode}] the database changed: {intact}"


# --- 9. resources -----------------------------------------------------------------------------------


def test_fork_bomb_stops_at_the_process_limit(run: Run) -> None:
    entry = run.attack("fork_bomb")
    if entry["outcome"] is None and not run.root:
        # With a shared uid the watchdog sums RSS over the bomb (see the frugal test) and kills it first.
        assert "resource watchdog" in " ".join(run.log_messages("fork_bomb")), f"[nonroot] {entry}"
        return
    if entry["outcome"] is None and run.root:
        # Its memory cgroup charges what every fork makes the bomber copy (USS never saw those pages
        # shared with the fragments): ~50 forks of a ~200 MB process can reach memory_mb before pids.max.
        assert KERNEL_OOM.replace(str(HOG_MEMORY_MB), str(ATTACKER_MEMORY_MB)) in (entry["status_after"]["last_error"] or ""), (
            f"[root] the fork bomb neither stopped at pids.max nor at its memory cgroup: {entry}"
        )
        return
    outcome = run.outcome("fork_bomb")
    assert outcome["error"] == "EAGAIN", f"[{run.mode}] fork bomb not stopped by pids.max / RLIMIT_NPROC: {outcome}"
    assert outcome["forked"] < DEFAULTS.max_processes, f"[{run.mode}] forked {outcome['forked']} processes"
    assert entry["status_after"]["pid"] == entry["pid_before"], f"[{run.mode}] the module did not survive its own bomb"


def test_thread_bomb_stops_at_the_limits(run: Run) -> None:
    outcome = run.outcome("thread_bomb")
    assert outcome["error"].startswith(("RuntimeError", "MemoryError")), f"[{run.mode}] {outcome}"
    assert outcome["started"] < DEFAULTS.max_processes, f"[{run.mode}] started {outcome['started']} threads"


def test_allocating_4gb_fails(run: Run) -> None:
    outcome = run.outcome("allocate_4gb")
    assert outcome == {"bytearray_4gb": "MemoryError", "shared_mmap_4gb": "ENOMEM", "allocate_64mb": "ok"}, (
        f"[{run.mode}] {outcome}"
    )


def test_a_file_stops_at_the_size_limit(run: Run) -> None:
    outcome = run.outcome("fill_disk")
    assert outcome["first_file_error"] == "EFBIG" and outcome["first_file_mb"] == FILE_LIMIT_MB, f"[{run.mode}] {outcome}"


def test_open_files_stop_at_the_limit(run: Run) -> None:
    outcome = run.outcome("open_files")
    assert outcome["error"] == "EMFILE" and outcome["opened"] < DEFAULTS.max_open_files, f"[{run.mode}] {outcome}"


def test_the_host_memory_is_not_a_dumping_ground(run: Run) -> None:
    """FSM data lives in the host (memory storage, or Redis): one module parks 256 MB there under made-up users."""
    entry = run.attack("fsm_flood")
    outcome = run.outcome("fsm_flood")
    growth_mb = (entry["host_rss_after"] - entry["host_rss_before"]) // (1024 * 1024)
    assert outcome["error"] != "none" or growth_mb < 64, (
        f"[{run.mode}] the host stored {outcome['stored_mb']} of {FSM_FLOOD_MB} MB of one module's FSM data without refusing "
        f"(host RSS +{growth_mb} MB): a module can exhaust the host's memory"
    )


def test_fsm_of_the_core_and_other_modules_is_out_of_reach_whatever_key_is_forged(run: Run) -> None:
    outcome = run.outcome("fsm_forge")
    assert outcome["seen"] == {}, f"[{run.mode}] the module read another namespace's FSM state or data: {outcome['seen']}"
    assert outcome["errors"] == {} and outcome["own_state"] == "Attacker:hijack", f"[{run.mode}] {outcome}"
    assert outcome["other_bot"] == "RemoteError", f"[{run.mode}] a key of another bot was served: {outcome}"
    intact = run.results["intact"]
    assert intact["core_fsm_after"] == intact["core_fsm_before"] == ["CoreScreen:amount", {"core_fsm": "core-private"}]
    assert intact["victim_after"]["fsm"] == ["VictimFlow:secret_step", {"victim_fsm": "victim-private-fsm"}], intact


def test_buttons_and_webhook_paths_reach_only_their_owner(run: Run) -> None:
    """The attacker names the victim's button and a core screen in code, and has a catch-all: it gets only its own."""
    routing = run.results["routing"]
    assert run.outcome("callback_steal")["seen"] == ["attacker|probe"], f"[{run.mode}] {run.outcome('callback_steal')}"
    answers = routing["answers"]
    assert answers["victim|open"] == "victim answers" and answers["attacker|probe"] == "attacker got attacker|probe", answers
    assert answers["about_vpn"] and answers["profile"], f"[{run.mode}] the core's screens did not answer: {answers}"
    assert routing["webhook_status"] == 404, f"[{run.mode}] a module took a webhook path it was not granted"
    log = routing["log"]
    assert any(
        m.startswith("[module ") and "'victim|open' is claimed by modules" in m and "only victim gets it" in m for m in log
    ), log
    assert any(
        m.startswith("[module attacker] webhook path '/api/payhook' is not the module's own") and "webhook_paths" in m
        for m in log
    ), log


def test_the_bot_api_acts_only_on_the_modules_own_messages_and_the_bots_users(run: Run) -> None:
    outcome = dict(run.outcome("bot_api_scope"))
    controls = {k: outcome.pop(k, None) for k in ("send_to_user", "edit_own_message", "delete_own_message")}
    assert controls == dict.fromkeys(controls, "ok"), f"[{run.mode}] the module cannot use its own messages: {controls}"
    allowed = {label: result for label, result in outcome.items() if result != "TelegramForbiddenError"}
    assert not allowed, f"[{run.mode}] calls outside the module's scope went through: {allowed}"
    assert run.results["core_message_after"] == run.results["core_message_before"], f"[{run.mode}] the core's message changed"
    refused = [m for m in run.log_messages("bot_api_scope") if m.startswith("[module attacker] Bot API call refused")]
    assert len(refused) >= len(outcome), f"[{run.mode}] refusals not logged with the module's name: {refused}"


def test_database_locks_and_endless_statements_cannot_stall_the_host(run: Run) -> None:
    outcome = run.outcome("db_stall")
    assert outcome["advisory_lock"] == "ok", outcome  # it may take it: advisory locks are anyone's
    assert outcome["long_statement"] != "ok" and outcome["long_statement_seconds"] < DB_SLEEP_SECONDS, outcome
    assert run.results["db_stall"]["restarted"], f"[{run.mode}] a module's role set-up stalled: {run.results['db_stall']}"
    assert any(
        m.startswith("[module attacker] database session") and "db_statement_seconds" in m for m in run.log_messages("db_stall")
    ), run.log_messages("db_stall")


def test_a_foreign_key_to_the_core_users_needs_the_grant(run: Run) -> None:
    outcome = run.outcome("db_references")
    assert "permission denied" in outcome["create_fk"], f"[{run.mode}] REFERENCES users(tg_id) without the grant: {outcome}"
    assert "references users(tg_id): not granted" in run.results["db_references_layers"], run.results["db_references_layers"]


def test_a_module_cannot_fire_hooks_as_the_host(run: Run) -> None:
    """admin=True is the host's to say; payment_success is the core's event; host references are the host's."""
    outcome = run.outcome("hook_forgery")
    assert "victim-admin-secret" not in outcome["admin_secret"] and "victim-public" in outcome["admin_secret"], outcome
    assert outcome["payment_success"] == [], f"[{run.mode}] a module fired payment_success on the others: {outcome}"
    assert "victim-public" in outcome["forged_ref"], outcome
    # Forged Telegram objects (a message "from" the admin, a made-up button press) never reach the victim.
    assert outcome["telegram"] == [{"message_from": None, "callback_data": None, "user": None, "extra": 0}], outcome
    refused = [m for m in run.log_messages("hook_forgery") if m.startswith("[module attacker] run_hooks")]
    assert any("admin=True replaced" in m for m in refused) and any("'payment_success'" in m for m in refused), refused
    assert any("message: a Message that is not the update's dropped" in m for m in refused), refused


@pytest.mark.parametrize(
    ("key", "reasons"),
    [("cpu_spin", ("CPU pinned for ",)), ("memory_over_limit", (f" MB over the {HOG_MEMORY_MB} MB limit", KERNEL_OOM))],
    ids=["cpu_spin", "memory_over_limit"],
)
def test_the_watchdog_kills_and_restarts_a_hog_with_the_reason(run: Run, key: str, reasons: tuple[str, ...]) -> None:
    entry = run.attack(key)
    restart = entry["restart"]
    assert restart["restarted"], f"[{run.mode}] {key}: the module was not killed and restarted: {restart}"
    assert any(r in (restart["last_error"] or "") for r in reasons), f"[{run.mode}] {key}: last_error does not say why: {restart}"
    assert any(m.startswith("[module resource_hog] ") and any(r in m for r in reasons) for m in run.log_messages(key)), (
        f"[{run.mode}] {key}: the kill is not logged with the module's name"
    )


# --- 13. memory and disk no folder holds; processes that would outlive the module --------------------


def test_memory_in_memfds_counts_against_the_limit(run: Run) -> None:
    """memfds of twice memory_mb: the memory cgroup (root) stops it; without root they are refused."""
    entry = run.attack("memfd")
    if not run.root:
        assert run.outcome("memfd") == "EPERM", f"[nonroot] memfd_create was not refused: {entry}"
        return
    restart = entry["restart"]
    assert restart["restarted"], f"[root] a module holding {2 * HOG_MEMORY_MB} MB in memfds was not stopped: {restart}"
    error = restart["last_error"] or ""
    assert KERNEL_OOM in error or f"over the {HOG_MEMORY_MB} MB limit" in error, f"[root] {restart}"
    assert any(m.startswith("[module resource_hog] ") and f"{HOG_MEMORY_MB} MB limit" in m for m in run.log_messages("memfd"))


def test_unlinked_but_open_files_count_against_disk_mb(run: Run) -> None:
    entry = run.attack("unlinked_files")
    restart = entry["restart"]
    assert restart["restarted"], f"[{run.mode}] {2 * HOG_DISK_MB} MB in unlinked-but-open files went unnoticed: {restart}"
    assert "unlinked-but-open files" in (restart["last_error"] or "") and f"over the {HOG_DISK_MB} MB limit" in (
        restart["last_error"] or ""
    ), f"[root] {restart}"
    assert any(m.startswith("[module resource_hog] resource watchdog: disk") for m in run.log_messages("unlinked_files")), (
        run.log_messages("unlinked_files")
    )


@pytest.mark.parametrize("key", ["orphan_stop", "orphan_restart", "orphan_crash"])
def test_no_process_of_a_module_outlives_its_stop_restart_or_crash(run: Run, key: str) -> None:
    outcome = run.outcome(key)
    assert outcome["setsid"] == outcome["setpgid"] == "EPERM", f"[{run.mode}] a module process left its group: {outcome}"
    orphan = run.results["orphans"][key]
    assert orphan["grandchild"] and not orphan["alive_after"], f"[{run.mode}] a double-forked process outlived it: {orphan}"


def test_no_process_of_a_module_outlives_the_host(run: Run) -> None:
    grandchild = run.outcome("orphan_host_exit")["grandchild"]
    tag = run.results["orphan_tag"]
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (name == tag or int(pid) == grandchild) and state != "Z":
            left.append((pid, name))
    assert left == [], f"[{run.mode}] processes of the module outlived the host: {left}"


def test_the_watchdog_leaves_an_idle_module_with_a_small_budget_alone(run: Run) -> None:
    """``frugal`` (a small memory_mb) allocates nothing; memory it shares with the zygote must not kill it."""
    frugal = run.results["status_at_end"]["frugal"]
    assert frugal["state"] == "running" and frugal["restarts"] == 0, (
        f"[{run.mode}] an idle module with memory_mb = {FRUGAL_MEMORY_MB} was killed by the watchdog: {frugal['state']}, "
        f"{frugal['restarts']} restarts, last error: {frugal['last_error']}"
    )


# --- 10. floods -------------------------------------------------------------------------------------


def test_a_log_flood_is_rate_limited_and_truncated(run: Run) -> None:
    entry = run.attack("log_flood")
    outcome = run.outcome("log_flood")
    stats = entry["log_stats"]
    bound = LOG_BURST + LOG_RATE * (entry["seconds"] + 2) + 10
    assert stats["flood_lines"] <= bound, (
        f"[{run.mode}] {stats['flood_lines']} of {outcome['lines']} lines reached the host's log"
    )
    assert stats["longest_tagged"] <= MAX_LOG_MESSAGE + 200, f"[{run.mode}] a {stats['longest_tagged']}-character line was logged"
    assert stats["dropped_notices"], f"[{run.mode}] dropped lines are not reported: {stats}"
    assert entry["status_after"]["pid"] == entry["pid_before"], f"[{run.mode}] logging killed the module"


def test_stdout_and_stderr_reach_the_log_only_tagged_with_the_module_name(run: Run) -> None:
    lines = [line for line in run.output.splitlines() if run.marker in line and f"{run.marker}-NL" not in line]
    untagged = [line for line in lines if "[module attacker]" not in line]
    assert not untagged, f"[{run.mode}] module output reached the host's stdout/stderr untagged: {untagged[:3]}"
    tagged = [m for m in run.log_messages("stdout_lines") if run.marker in m]
    assert len(tagged) == 3 and all(m.startswith("[module attacker] stdout: ") for m in tagged), (
        f"[{run.mode}] print(), stderr and fd-1 writes of the module are not in the host's log: {tagged}"
    )


def test_a_module_log_record_cannot_forge_host_log_lines(run: Run) -> None:
    """A line break in a module's log message must not start a line that passes for the host's own."""
    forged = [line for line in run.output.splitlines() if f"{run.marker}-NL" in line]
    assert forged, f"[{run.mode}] the log_newline record never reached the host's log"
    untagged = [line for line in forged if "[module attacker]" not in line]
    assert not untagged, f"[{run.mode}] a module forged a host log line with a line break: {untagged[0]!r}"


def test_a_stdout_flood_does_not_hang_the_module(run: Run) -> None:
    """240 KB of print() from a hook, without awaiting: more than the pipe behind fds 1 and 2 holds."""
    entry = run.attack("stdout_flood")
    assert entry["outcome"] is not None and entry["status_after"]["pid"] == entry["pid_before"], (
        f"[{run.mode}] the module hung on its own stdout and was killed: {entry.get('call_error')}; "
        f"last_error: {entry['status_after']['last_error']}"
    )
    lines = [line for line in run.output.splitlines() if run.marker in line and "stdout flood line" in line]
    assert len(lines) <= LOG_BURST + LOG_RATE * (entry["seconds"] + 2), f"[{run.mode}] {len(lines)} flood lines in the host's log"


# --- 11. the protocol --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("malformed_msgpack", "protocol error: malformed msgpack"),
        ("oversized_frame", "protocol error: frame of 67108864 bytes exceeds the 4194304-byte cap"),
        ("decode_bomb", "protocol error: decode bomb: the frame holds more than 1000000 objects"),
        ("answer_to_unknown_request", "protocol error: answer to request id 1000000, which was never sent"),
    ],
    ids=["malformed_msgpack", "oversized_frame", "decode_bomb", "answer_to_unknown_request"],
)
def test_a_protocol_breach_restarts_only_that_module(run: Run, key: str, reason: str) -> None:
    entry = run.attack(key)
    assert entry["restart"]["restarted"], f"[{run.mode}] {key}: the breaker was not killed and restarted: {entry['restart']}"
    assert (entry["restart"]["last_error"] or "").startswith(reason), f"[{run.mode}] {key}: reason {entry['restart']}"
    crash = [m for m in run.log_messages(key) if m.startswith("[modules] breaker: running -> crashed: " + reason)]
    assert crash, f"[{run.mode}] {key}: the crash and its reason are not logged with the module's name"


def test_forged_reports_are_ignored_or_attributed(run: Run) -> None:
    entry = run.attack("forged_reports")
    assert entry["status_after"]["pid"] == entry["pid_before"], f"[{run.mode}] {entry['status_after']}"
    sandbox = entry["status_after"]["sandbox"]
    assert sandbox and not any("forged" in layer for layer in sandbox), f"[{run.mode}] a late sandbox report was taken: {sandbox}"
    messages = run.log_messages("forged_reports")
    assert "[module breaker] solobot.runtime: [modules] victim: running -> crashed" in messages, messages
    impersonated = [
        line
        for line in run.attack("forged_reports")["logs"]
        if line["logger"] != "solobot.module.breaker" and "victim: running -> crashed" in line["message"]
    ]
    assert not impersonated, f"[{run.mode}] a module's log line passed for the host's: {impersonated}"


def test_a_handshake_claiming_another_module_is_refused(run: Run) -> None:
    impostor = run.attack("impostor_handshake")
    assert impostor["status"]["state"] == "failed", f"[{run.mode}] {impostor['status']}"
    assert (
        impostor["status"]["last_error"] == "protocol error in handshake: handshake claims module 'victim', expected 'impostor'"
    )
    messages = [line["message"] for line in impostor["logs"]]
    assert any(m.startswith("[modules] impostor: starting -> failed: protocol error in handshake") for m in messages), messages
    assert any(m.startswith("[module impostor] solobot: escape attempt impostor_handshake") for m in messages), messages
    victim = run.results["status_at_end"]["victim"]
    assert victim["restarts"] == 0 and run.results["intact"]["victim_after"]["pid"] == run.results["victim_at_start"]["pid"]


# --- 12. privileges ----------------------------------------------------------------------------------


def test_setuid_binaries_cannot_run_and_no_new_privs_is_set(run: Run) -> None:
    outcome = run.outcome("setuid_binary")
    for label in ("exec_setuid_copy", "exec_system_id", "exec_python"):
        assert outcome[label] == "EACCES", f"[{run.mode}] the module executed a program ({label}: {outcome[label]})"
    assert outcome["setuid_0"] == outcome["setgid_0"] == "EPERM", f"[{run.mode}] {outcome}"
    # not root: dumpable for the host's network supervisor (seccomp and Landlock keep the same uid out)
    assert outcome["no_new_privs"] == 1 and outcome["dumpable"] == (0 if run.root else 1), f"[{run.mode}] {outcome}"
    assert outcome["outputs"] == {}


# --- nothing is lost ---------------------------------------------------------------------------------


def test_nothing_of_the_victim_or_the_core_is_lost(run: Run) -> None:
    intact = run.results["intact"]
    content = [p for p in intact["changed"] if intact["files_after"][p].get("sha256") != intact["files_before"][p].get("sha256")]
    assert content == [] and intact["planted"] == [], f"[{run.mode}] changed: {content}, planted: {intact['planted']}"
    assert intact["database_after"] == intact["database_before"], f"[{run.mode}] {intact['database_after']}"
    before, after = intact["victim_before"], intact["victim_after"]
    assert after == before, f"[{run.mode}] the victim module's process, rows or files changed: {before} -> {after}"
