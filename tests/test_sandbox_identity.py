"""Per-module uids: allocation, persistence, no reuse; private folders; the privilege drop."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
from pathlib import Path

import pytest

from sandbox.identity import IdentityError, ModuleIdentities, drop_privileges, prepare_private_dirs

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _known(xid: int) -> bool:
    try:
        pwd.getpwuid(xid)
        return True
    except KeyError:
        pass
    try:
        grp.getgrgid(xid)
        return True
    except KeyError:
        return False


def test_ids_are_stable_distinct_and_persisted(tmp_path: Path) -> None:
    state = tmp_path / "state" / "module-ids.json"
    ids = ModuleIdentities(state, first_id=3_500_000, count=100)
    alpha, beta = ids.allocate("alpha"), ids.allocate("beta")
    assert alpha != beta and 3_500_000 <= min(alpha, beta) and max(alpha, beta) < 3_500_100
    assert ids.allocate("alpha") == alpha
    again = ModuleIdentities(state, first_id=3_500_000, count=100)  # a restarted host
    assert again.all() == {"alpha": alpha, "beta": beta}
    assert json.loads(state.read_text())["modules"] == {"alpha": alpha, "beta": beta}
    assert not list(state.parent.glob("*.tmp"))  # the atomic write left nothing behind


def test_a_removed_modules_id_is_never_reused(tmp_path: Path) -> None:
    state = tmp_path / "ids.json"
    ids = ModuleIdentities(state, first_id=3_500_000, count=100)
    gone = ids.allocate("gone")
    data = json.loads(state.read_text())
    del data["modules"]["gone"]  # an operator edits the module out of the file
    state.write_text(json.dumps(data))
    assert ids.allocate("newcomer") != gone


def test_ids_known_to_the_system_are_skipped(tmp_path: Path) -> None:
    ids = ModuleIdentities(tmp_path / "ids.json", first_id=0, count=70_000)
    allocated = ids.allocate("alpha")
    assert allocated > 0 and not _known(allocated)


def test_bad_names_and_exhaustion(tmp_path: Path) -> None:
    ids = ModuleIdentities(tmp_path / "ids.json", first_id=3_500_000, count=1)
    with pytest.raises(IdentityError, match="not a module name"):
        ids.allocate("../escape")
    ids.allocate("only")
    with pytest.raises(IdentityError, match="exhausted"):
        ids.allocate("second")


@root_only
def test_private_dirs_are_0700_and_owned_by_the_module(tmp_path: Path) -> None:
    data, tmp = tmp_path / "storage" / "modules" / "alpha", tmp_path / "storage" / "tmp" / "alpha"
    prepare_private_dirs(data, tmp, 3_500_001, 3_500_001)
    prepare_private_dirs(data, tmp, 3_500_001, 3_500_001)  # idempotent on restart
    for folder in (data, tmp):
        st = folder.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (3_500_001, 3_500_001, 0o700)
    assert stat.S_IMODE((tmp_path / "storage" / "modules").stat().st_mode) == 0o711


@root_only
def test_private_dirs_refuse_symlinks_and_foreign_folders(tmp_path: Path) -> None:
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "evil").symlink_to("/etc")
    with pytest.raises(OSError):  # O_NOFOLLOW: ELOOP, nothing chowned
        prepare_private_dirs(tmp_path / "modules" / "evil", tmp_path / "t", 3_500_001, 3_500_001)
    assert Path("/etc").stat().st_uid == 0
    foreign = tmp_path / "modules" / "beta"
    foreign.mkdir()
    os.chown(foreign, 3_500_002, 3_500_002)  # another module's folder
    with pytest.raises(IdentityError, match="belongs to uid 3500002"):
        prepare_private_dirs(foreign, tmp_path / "t2", 3_500_001, 3_500_001)


def test_refuses_to_drop_to_root() -> None:
    with pytest.raises(IdentityError):
        drop_privileges(0, 0)
