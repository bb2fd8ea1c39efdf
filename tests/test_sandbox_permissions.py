"""modules.toml (operator grants) and module.toml (module requests): parsing, errors with lines, pending lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sandbox.module_requests import ModuleRequests, describe_pending, load_module_requests
from sandbox.permissions import (
    DEFAULTS,
    ModulePermissions,
    PermissionsError,
    core_tables,
    load_operator_config,
)

KNOWN = ("channel_bonus", "top_referrers", "quick_pay")


def write(tmp_path: Path, source: str, name: str = "modules.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def test_defaults() -> None:
    assert DEFAULTS == ModulePermissions()
    assert (DEFAULTS.trust, DEFAULTS.memory_mb, DEFAULTS.cpu_seconds, DEFAULTS.max_processes) == ("sandboxed", 256, 10, 64)
    assert (DEFAULTS.max_open_files, DEFAULTS.max_file_size_mb, DEFAULTS.network, DEFAULTS.bot_api_rate) == (256, 64, False, 30)
    assert DEFAULTS.disk_mb == 512
    assert DEFAULTS.tcp_ports == DEFAULTS.db_read == DEFAULTS.db_write == DEFAULTS.bot_api == ()
    assert {"users", "keys", "payments"} <= core_tables()


def test_full_entry_is_parsed_and_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # operator's grants
        [modules.channel_bonus]
        trust = "sandboxed"
        memory_mb = 512
        cpu_seconds = 2.5
        max_processes = 32
        max_open_files = 128
        max_file_size_mb = 8
        disk_mb = 2048
        network = true
        tcp_ports = [8443, 443, 443]
        db_read = ["users", "keys"]
        db_write = ["payments"]
        bot_api = ["setMyCommands"]
        bot_api_rate = 5

        [modules.quick_pay]
        trust = "trusted"
        """,
    )
    config = load_operator_config(path, KNOWN)
    assert config.path == path and not config.errors and not config.warnings
    bonus = config.permissions("channel_bonus")
    assert bonus == ModulePermissions(
        memory_mb=512,
        cpu_seconds=2.5,
        max_processes=32,
        max_open_files=128,
        max_file_size_mb=8,
        disk_mb=2048,
        network=True,
        tcp_ports=(443, 8443),
        db_read=("keys", "users"),
        db_write=("payments",),
        bot_api=("setMyCommands",),
        bot_api_rate=5,
    )
    assert config.permissions("quick_pay").trusted
    assert config.permissions("top_referrers") == DEFAULTS  # no entry: defaults
    assert config.error("channel_bonus") is None


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("memroy_mb = 5", 2, "unknown key 'memroy_mb' (did you mean 'memory_mb'?)"),
        ('memory_mb = "lots"', 2, "memory_mb must be an integer, got 'lots'"),
        ("memory_mb = true", 2, "memory_mb must be an integer"),
        ("memory_mb = 1", 2, "memory_mb must be between 32 and"),
        ("cpu_seconds = 0", 2, "cpu_seconds must be between 0.5 and"),
        ('trust = "root"', 2, 'trust must be "sandboxed" or "trusted"'),
        ("network = 1", 2, "network must be true or false"),
        ("tcp_ports = [443]", 2, "tcp_ports needs network = true (add network = true, or remove tcp_ports)"),
        ("network = true\ntcp_ports = [0]", 3, "tcp_ports holds port numbers 1-65535"),
        ('db_read = ["userz"]', 2, "db_read: unknown core table 'userz' (did you mean 'users'?)"),
        ('db_write = "payments"', 2, "db_write must be a list"),
        ('bot_api = ["sendMesage"]', 2, "unknown Bot API method 'sendMesage' (did you mean 'sendMessage'?)"),
        ("bot_api_rate = 0", 2, "bot_api_rate must be between"),
        ("disk_mb = 0", 2, "disk_mb must be between 1 and 1e+06, got 0"),
        ("disk_mb = 1000001", 2, "disk_mb must be between 1 and 1e+06"),
        ("disk_mb = 1.5", 2, "disk_mb must be an integer, got 1.5"),
        ('disk_mb = "1G"', 2, "disk_mb must be an integer"),
    ],
)
def test_module_errors_name_file_line_and_module(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    path = write(tmp_path, "[modules.top_referrers]\n" + body + "\n\n[modules.channel_bonus]\nmemory_mb = 128\n")
    config = load_operator_config(path, KNOWN)
    error = config.error("top_referrers")
    assert error is not None
    assert str(error).startswith(f"modules.toml:{line}: module 'top_referrers': "), str(error)
    assert fragment in str(error)
    assert (error.module, error.line) == ("top_referrers", line)
    with pytest.raises(PermissionsError):
        config.permissions("top_referrers")
    assert config.permissions("channel_bonus").memory_mb == 128  # the other module is unaffected


def test_dotted_and_inline_forms_find_their_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [modules]
        quick_pay.network = true
        quick_pay.memory_mb = 2
        top_referrers = { db_read = ["nope"] }
        channel_bonus = 5
        """,
    )
    config = load_operator_config(path, KNOWN)
    assert str(config.error("quick_pay")).startswith("modules.toml:3: module 'quick_pay': memory_mb")
    assert str(config.error("top_referrers")).startswith("modules.toml:4: module 'top_referrers': db_read: unknown core table")
    assert str(config.error("channel_bonus")).startswith("modules.toml:5: module 'channel_bonus': must be a table")


def test_file_level_errors_affect_everyone(tmp_path: Path) -> None:
    bad_toml = write(tmp_path, "[modules.quick_pay]\nnetwork = \n")
    with pytest.raises(PermissionsError, match=r"^modules\.toml:2: invalid TOML: .*fix the syntax"):
        load_operator_config(bad_toml, KNOWN)
    stray = write(tmp_path, "[modules.quick_pay]\nnetwork = false\n\n[module.typo]\nx = 1\n")
    with pytest.raises(PermissionsError, match=r"^modules\.toml:4: unknown top-level key 'module'"):
        load_operator_config(stray, KNOWN)
    not_table = write(tmp_path, "modules = 3\n")
    with pytest.raises(PermissionsError, match=r"^modules\.toml:1: 'modules' must be a table"):
        load_operator_config(not_table, KNOWN)


def test_unknown_module_is_a_warning_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[modules.chanel_bonus]\nmemory_mb = 64\n")
    config = load_operator_config(path, KNOWN)
    assert config.warnings == (
        "modules.toml:1: [modules.chanel_bonus] names no module in the modules folder (did you mean 'channel_bonus'?)",
    )

    monkeypatch.setenv("MODULES_CONFIG", str(path))
    assert load_operator_config(None, KNOWN).modules["chanel_bonus"].memory_mb == 64
    monkeypatch.setenv("MODULES_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(PermissionsError, match="no such file"):
        load_operator_config(None, KNOWN)
    monkeypatch.delenv("MODULES_CONFIG")
    monkeypatch.setattr("sandbox.permissions.PROJECT_ROOT", tmp_path / "nowhere")
    empty = load_operator_config(None, KNOWN)
    assert empty.path is None and empty.permissions("quick_pay") == DEFAULTS


# ---------------------------------------------------------------------------- module.toml


def test_module_requests_and_pending_lines(tmp_path: Path) -> None:
    folder = tmp_path / "quick_pay"
    write(
        folder,
        """
        [module]
        description = "other tables are the module's business"

        [request]
        network = true
        tcp_ports = [443]
        reason.network = "calls the payment provider's API"
        db_read = ["payments"]
        reason.db_read = "top referrers counts payments"
        references_users = true
        bot_api = ["setMyCommands", "sendMessage"]
        memory_mb = 512
        """,
        "module.toml",
    )
    requests = load_module_requests(folder)
    assert requests.module == "quick_pay"
    assert requests.requested["tcp_ports"] == (443,)
    assert requests.reasons == {"network": "calls the payment provider's API", "db_read": "top referrers counts payments"}

    pending = describe_pending(requests, DEFAULTS)
    assert pending == [
        "module quick_pay requests network (tcp 443): calls the payment provider's API — "
        "grant in modules.toml [modules.quick_pay] network = true, tcp_ports = [443]",
        "module quick_pay requests SELECT on payments: top referrers counts payments — "
        'grant in modules.toml [modules.quick_pay] db_read = ["payments"]',
        "module quick_pay requests a foreign key to users(tg_id): (no reason given) — "
        "grant in modules.toml [modules.quick_pay] references_users = true",
        "module quick_pay requests Bot API setMyCommands: (no reason given) — "
        'grant in modules.toml [modules.quick_pay] bot_api = ["setMyCommands"]',
        "module quick_pay requests memory_mb = 512 (granted 256): (no reason given) — "
        "grant in modules.toml [modules.quick_pay] memory_mb = 512",
    ]
    granted = ModulePermissions(
        network=True, tcp_ports=(443,), db_write=("payments",), bot_api=("setMyCommands",), memory_mb=512, references_users=True
    )
    assert describe_pending(requests, granted) == []
    partly = ModulePermissions(network=True, tcp_ports=(80,), db_read=("users",))
    lines = describe_pending(requests, partly)
    assert lines[0] == (
        "module quick_pay requests tcp port(s) 443: (no reason given) — "
        "grant in modules.toml [modules.quick_pay] tcp_ports = [80, 443]"
    )
    assert 'db_read = ["payments", "users"]' in lines[1]
    assert describe_pending(requests, ModulePermissions(trust="trusted")) == []


def test_module_without_requests(tmp_path: Path) -> None:
    assert load_module_requests(tmp_path / "hello") == ModuleRequests("hello")
    write(tmp_path / "hello", '[module]\nname = "x"\n', "module.toml")
    assert load_module_requests(tmp_path / "hello").requested == {}


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ('trust = "trusted"', 2, "unknown key 'trust'"),
        ("tcp_ports = [443]", 2, "tcp_ports needs network = true"),
        ('network = true\nreason.db_read = "x"', 3, "reason.db_read explains nothing requested"),
        ('network = true\nreason.network = ""', 3, "reason.network must be a non-empty text"),
        ('db_read = ["nope"]', 2, "unknown core table 'nope'"),
        ("network = [", 2, "invalid TOML"),
    ],
)
def test_invalid_requests(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    write(tmp_path / "shop", "[request]\n" + body + "\n", "module.toml")
    with pytest.raises(PermissionsError) as caught:
        load_module_requests(tmp_path / "shop")
    assert str(caught.value).startswith(f"shop/module.toml:{line}: "), str(caught.value)
    assert fragment in str(caught.value)


def test_disk_mb_bounds_and_module_request(tmp_path: Path) -> None:
    path = write(tmp_path, "[modules.top_referrers]\ndisk_mb = 1\n\n[modules.quick_pay]\ndisk_mb = 1000000\n")
    config = load_operator_config(path, KNOWN)
    assert not config.errors
    assert config.permissions("top_referrers").disk_mb == 1
    assert config.permissions("quick_pay").disk_mb == 1_000_000
    write(tmp_path / "quick_pay", '[request]\ndisk_mb = 4096\nreason.disk_mb = "keeps a media cache"\n', "module.toml")
    requests = load_module_requests(tmp_path / "quick_pay")
    assert requests.requested == {"disk_mb": 4096}
    assert requests.reasons == {"disk_mb": "keeps a media cache"}
    write(tmp_path / "shop", "[request]\ndisk_mb = 0\n", "module.toml")
    with pytest.raises(PermissionsError, match="disk_mb must be between 1 and"):
        load_module_requests(tmp_path / "shop")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("db_read = [1]", 2, "db_read holds core table names, got 1"),
        ('network = true\ntcp_ports = ["443"]', 3, "tcp_ports holds port numbers 1-65535, got '443'"),
        ("bot_api_rate = true", 2, "bot_api_rate must be a number, got True"),
        ('memory_mb = 10\ntrust = "root"', 2, "memory_mb must be between 32 and 1.04858e+06, got 10 (and 1 more)"),
        ('trust = "root"\nmemroy_mb = 10', 2, 'trust must be "sandboxed" or "trusted", got \'root\' (and 1 more)'),
    ],
)
def test_item_and_type_mistakes_say_what_to_write(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write(tmp_path, "[modules.top_referrers]\n" + body + "\n")
    assert (
        str(load_operator_config(path, KNOWN).error("top_referrers")) == f"modules.toml:{line}: module 'top_referrers': {message}"
    )


def test_permissions_built_in_code_are_validated_and_frozen() -> None:
    assert ModulePermissions(network=True, tcp_ports=(443, 80, 443)).tcp_ports == (80, 443)
    with pytest.raises(ValueError, match="tcp_ports needs network = true"):
        ModulePermissions(tcp_ports=(443,))
    with pytest.raises(ValueError, match="memory_mb"):
        ModulePermissions(memory_mb=1)
    with pytest.raises(AttributeError):
        DEFAULTS.memory_mb = 1  # type: ignore[misc]  # frozen: assigning is the mistake under test
