"""A module's own Python dependencies (issue 11, item 2), with real pip, real wheels (one with
compiled code, built here) and the whole bot with its sandbox."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

import module_deps
from cli.deps import run_deps
from runtime import ModuleLoadError
from tests.conftest import fresh_database
from tests.module_deps_cases.wheels import build_wheels
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

CASES = Path(__file__).resolve().parent / "module_deps_cases"


@pytest.fixture
def wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip sees only the locally built wheels (and the bot's own environment)."""
    house = tmp_path / "wheelhouse"
    build_wheels(house)
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    return house


def write_module(folder: Path, name: str, *, requirements: str | None = None, toml: str | None = None) -> Path:
    module = folder / name
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    if requirements is not None:
        (module / "requirements.txt").write_text(requirements)
    if toml is not None:
        (module / "module.toml").write_text(toml)
    return module


def test_declared_requirements_from_both_files_and_what_is_refused(tmp_path: Path) -> None:
    module = write_module(
        tmp_path,
        "both",
        requirements="# comment\nqrcode>=7  # inline comment\n\nhumanize ; python_version >= '3'\n",
        toml='[request]\nnetwork = true\n\n[project]\ndependencies = ["qrcode>=7", "tabulate==0.9.0"]\n',
    )
    assert [str(r) for r in module_deps.read_requirements(module)] == [
        "qrcode>=7",
        'humanize; python_version >= "3"',
        "tabulate==0.9.0",
    ]
    for text, expected in [
        ("-r other.txt\n", "line 1: pip option '-r' is not accepted"),
        ("ok\n--index-url https://evil.example/simple\n", "line 2: pip option '--index-url'"),
        ("pkg @ https://evil.example/pkg.whl\n", "installs from a URL"),
        ("not a requirement!\n", "is not a requirement"),
    ]:
        bad = write_module(tmp_path / text.encode().hex()[:16], "bad", requirements=text)
        with pytest.raises(module_deps.RequirementsError, match=expected) as caught:
            module_deps.read_requirements(bad)
        assert "module bad: requirements.txt" in str(caught.value)
    wrong_toml = write_module(tmp_path / "t", "bad_toml", toml="[project]\ndependencies = 'qrcode'\n")
    with pytest.raises(module_deps.RequirementsError, match="must be a list of strings"):
        module_deps.read_requirements(wrong_toml)


def test_requirements_the_bot_already_meets_need_no_install(tmp_path: Path) -> None:
    aiohttp_version = __import__("importlib.metadata").metadata.version("aiohttp")
    module = write_module(tmp_path, "core_only", requirements=f"aiohttp=={aiohttp_version}\n")
    assert module_deps.check_requirements(module, tmp_path / "no-site") is None
    too_new = write_module(tmp_path / "x", "too_new", requirements="aiohttp>=999\n")
    with pytest.raises(module_deps.MissingRequirements) as caught:
        module_deps.check_requirements(too_new, tmp_path / "no-site")
    assert f"aiohttp>=999 (found {aiohttp_version})" in str(caught.value)
    assert "solobot modules deps too_new" in str(caught.value)


def test_a_conflict_with_the_bots_packages_is_refused_not_installed(tmp_path: Path, wheelhouse: Path) -> None:
    module = write_module(tmp_path / "modules", "wants_old", requirements="aiohttp<1\n")
    out = io.StringIO()
    # pip cannot even find such an aiohttp here: the operator is told why, nothing is installed.
    assert run_deps("wants_old", tmp_path / "modules", tmp_path / "data", assume_yes=True, out=out) == 1
    assert not module_deps.site_dir(tmp_path / "data", "wants_old").exists()
    assert module.exists()


async def test_install_then_only_that_module_has_its_packages_under_the_sandbox(
    pg_url: str, wheelhouse: Path, shared_zygote: ThreadedZygote
) -> None:
    with traversable_dir() as root:
        modules_dir = root / "modules"
        for name in ("native_user", "bystander"):
            shutil.copytree(CASES / name, modules_dir / name)
        data_dir = root / "storage"
        site = module_deps.site_dir(data_dir, "native_user")
        async with fresh_database(pg_url) as url, running_solobot(url, modules_dir, root, zygote=shared_zygote) as bot:
            rt = bot.host.runtime
            # Not installed yet: failed, with the list and the command to run.
            status = rt.module_status("native_user")
            assert status["state"] == "failed"
            assert "solobot-native-demo==1.0" in status["last_error"]
            assert "solobot modules deps native_user" in status["last_error"]
            assert rt.module_status("bystander")["state"] == "running"

            # The command shows exactly what it will install, then installs exactly that.
            out = io.StringIO()
            assert run_deps("native_user", modules_dir, data_dir, dry_run=True, out=out) == 0
            shown = out.getvalue()
            assert "solobot-native-demo==1.0" in shown and "requested, compiled code" in shown
            assert "solobot-pure-dep==2.1" in shown and "dependency" in shown
            assert not site.exists()
            out = io.StringIO()
            assert run_deps("native_user", modules_dir, data_dir, assume_yes=True, out=out) == 0
            record = json.loads((site / module_deps.INSTALL_RECORD).read_text())
            assert record["packages"] == {"solobot-native-demo": "1.0", "solobot-pure-dep": "2.1"}
            assert record["requirements"] == ["solobot-native-demo==1.0"]

            await rt.start("native_user")
            status = rt.module_status("native_user")
            assert status["state"] == "running", status["last_error"]
            assert any(layer.startswith("landlock") for layer in status["sandbox"]), status["sandbox"]
            results = await rt.run_hooks("profile_menu", chat_id=5, admin=False)
            texts = [r["button"].text for r in results if isinstance(r, dict) and "button" in r]
            assert "privet 42" in texts  # computed by the compiled extension, inside the sandbox

            # Only that process maps the extension: not the zygote, not the other module.
            def maps(pid: int) -> str:
                return Path(f"/proc/{pid}/maps").read_text()

            assert "_speedups" in maps(status["pid"])
            assert "_speedups" not in maps(rt.zygote_pid)
            assert "_speedups" not in maps(rt.module_status("bystander")["pid"])
            [seen] = [r for r in await rt.run_hooks("deps_probe", site=str(site)) if isinstance(r, dict)]
            assert seen == {"import": "ModuleNotFoundError", "listdir": "PermissionError"}
            if os.geteuid() == 0:
                assert oct(site.stat().st_mode & 0o777) == "0o750"

            # A requirement added later: failed again on the next start, with what is missing.
            (modules_dir / "native_user" / "requirements.txt").write_text("solobot-native-demo==1.0\nsolobot-pure-dep>=3\n")
            with pytest.raises(ModuleLoadError, match=r"solobot-pure-dep>=3 \(found 2.1\)"):
                await rt.restart("native_user")
            assert rt.module_status("native_user")["state"] == "failed"


def test_the_checker_reports_requirements_and_undeclared_imports(tmp_path: Path) -> None:
    from modcheck.checker import check_module
    from modcheck.cli import run_check

    module = write_module(tmp_path, "needs", requirements="solobot-native-demo==1.0\n")
    (module / "__init__.py").write_text("from .router import router\n")
    (module / "router.py").write_text(
        "import solobot_native_demo\nimport qrcode_not_here.sub\nfrom aiogram import Router\nfrom . import texts\n"
        "router = Router()\n"
    )
    rules = [(Path(f.file).name, f.line, f.rule) for f in check_module(module, ignore=["SB016"])]
    assert rules == [("router.py", 2, "SB031")]  # declared, core and relative imports pass
    out = io.StringIO()
    run_check([str(module)], "SB016", out=out)
    expected = "needs requires solobot-native-demo==1.0 (the operator installs them with `solobot modules deps needs`)"
    assert expected in out.getvalue()
    (module / "requirements.txt").write_text("-r base.txt\n")
    [finding] = [f for f in check_module(module) if f.rule == "SB030"]
    assert Path(finding.file).name == "requirements.txt" and "pip option '-r'" in finding.message


def test_the_command_line_shows_the_plan_and_refuses_bad_names(tmp_path: Path, wheelhouse: Path, capsys) -> None:
    from cli.main import main

    modules_dir = tmp_path / "modules"
    shutil.copytree(CASES / "native_user", modules_dir / "native_user")
    data = tmp_path / "data"
    assert main(["modules", "deps", "native_user", "--dir", str(modules_dir), "--data-dir", str(data), "--dry-run"]) == 0
    shown = capsys.readouterr().out
    assert "native_user requires: solobot-native-demo==1.0" in shown and "solobot-pure-dep==2.1" in shown
    assert not module_deps.site_dir(data, "native_user").exists()
    # Not a terminal and no --yes: nothing is installed, and the message says how to confirm.
    assert main(["modules", "deps", "native_user", "--dir", str(modules_dir), "--data-dir", str(data)]) == 1
    assert "run again with --yes" in capsys.readouterr().err
    assert main(["modules", "deps", "../etc", "--dir", str(modules_dir), "--data-dir", str(data)]) == 2
    assert main(["modules", "deps", "nope", "--dir", str(modules_dir), "--data-dir", str(data)]) == 1
