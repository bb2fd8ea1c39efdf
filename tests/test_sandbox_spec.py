"""SandboxSpec on the wire, the default path lists, and the Landlock ABI table (no forking here)."""

from __future__ import annotations

import sys
from pathlib import Path

import msgpack
import pytest

from sandbox import landlock
from sandbox.apply import SandboxSpec, default_list_only_paths, default_read_only_paths, default_read_write_paths


def _spec(**overrides: object) -> SandboxSpec:
    values: dict[str, object] = {
        "module": "alpha",
        "uid": 2_000_001,
        "gid": 2_000_001,
        "data_dir": "/srv/bot/storage/modules/alpha",
        "tmp_dir": "/srv/bot/storage/tmp/alpha",
        "read_only": ["/usr/lib"],
        "read_write": ["/srv/bot/storage/modules/alpha"],
        "tcp_connect_ports": [5432],
    }
    values.update(overrides)
    return SandboxSpec(**values)  # type: ignore[arg-type]


def test_wire_round_trip_through_msgpack() -> None:
    spec = _spec(read_execute=["/usr/bin"], list_only=["/srv/bot"], allow_network=True)
    wire = msgpack.unpackb(msgpack.packb(spec.to_wire()))
    assert SandboxSpec.from_wire(wire) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surprise": 1}, "unknown keys"),
        ({"module": "../etc"}, "bad module name"),
        ({"trust": "root"}, "trust must be"),
        ({"gid": None}, "uid and gid go together"),
        ({"uid": 0, "gid": 0}, "positive int"),
        ({"memory_mb": 0}, "memory_mb"),
        ({"read_only": ["relative/path"]}, "absolute paths"),
        ({"tcp_connect_ports": [70000]}, "ports"),
        ({"data_dir": ""}, "data_dir"),
    ],
)
def test_from_wire_rejects_bad_specs(change: dict[str, object], message: str) -> None:
    wire = _spec().to_wire()
    wire.update(change)
    with pytest.raises((ValueError, TypeError), match=message):
        SandboxSpec.from_wire(wire)


def test_default_paths_grant_code_but_not_secrets(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for package in ("database", "handlers", "modules/alpha", "modules/beta", "storage/postgres", "tests"):
        (project / package).mkdir(parents=True)
    for package in ("database", "handlers", "tests"):
        (project / package / "__init__.py").write_text("")
    (project / "config.py").write_text("")
    (project / ".env").write_text("BOT_TOKEN=secret")
    paths = default_read_only_paths(project, project / "modules" / "alpha")
    assert project / "database" in paths and project / "handlers" in paths and project / "config.py" in paths
    assert project / "modules" / "alpha" in paths
    assert Path(sys.prefix) in paths and Path(sys.base_prefix) in paths
    forbidden = {project, project / ".env", project / "storage", project / "modules", project / "tests"}
    forbidden.add(project / "modules" / "beta")
    assert not forbidden & set(paths)
    assert not [p for p in paths if p in project.parents]  # nothing above the project either
    # The modules folder may be listed; the project folder never (storage/ is beneath it): prelisted instead.
    assert default_list_only_paths(project / "modules") == [project / "modules"]
    assert Path("/dev/null") in default_read_write_paths(project / "d", project / "t")


def test_landlock_rights_by_abi() -> None:
    assert landlock.handled_fs(1) == (1 << 13) - 1
    assert landlock.handled_fs(2) == landlock.handled_fs(1) | landlock.FS_REFER
    assert landlock.handled_fs(4) == landlock.handled_fs(3) == landlock.handled_fs(2) | landlock.FS_TRUNCATE
    assert landlock.handled_fs(7) == (1 << 16) - 1  # ABI 5 added IOCTL_DEV; 6 and 7 add no fs right
    assert landlock.READ_WRITE & landlock.FS_EXECUTE == 0  # module data is not executable
    assert isinstance(landlock.landlock_abi(), int)
