"""Secure by default (issue 10, item 12): ``ModuleRuntime(modules_dir=...)`` confines every module
unless the caller opts out, and a runtime that opted out says so wherever a module's status shows."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cli.status_table import details
from runtime import ModuleRuntime
from runtime.supervision.sandbox_setup import ModuleSandboxes
from runtime.supervision.zygote import UNSANDBOXED_LAYER
from sandbox.bot_api_policy import BotApiPolicy

from .conftest import ModuleFolder
from .shared_zygote import ThreadedZygote
from .solobot_harness import traversable_dir

pytestmark = pytest.mark.anyio


async def test_a_runtime_given_only_a_modules_folder_sandboxes_its_modules(shared_zygote: ThreadedZygote) -> None:
    with traversable_dir("solobot-default-") as root:
        folder = ModuleFolder(root / "modules")
        folder.add_button_module("plain")
        runtime = ModuleRuntime(folder.root, state_file=root / "state.json", data_dir=root / "storage", zygote=shared_zygote)
        assert runtime.sandboxes is not None
        async with runtime as rt:
            status = rt.module_status("plain")
            assert status["state"] == "running", status
            layers = status["sandbox"]
            assert UNSANDBOXED_LAYER not in layers and not any(layer.startswith("FAILED") for layer in layers), layers
            assert any(layer.startswith("rlimits") or "landlock" in layer.lower() for layer in layers), layers
            assert f"updates in flight: at most {status['max_updates_in_flight']}" in "; ".join(layers)
            assert (root / "storage" / "modules" / "plain").is_dir()  # its private data folder, under data_dir


async def test_an_unsandboxed_runtime_says_so_in_every_status(
    tmp_path: Path, shared_zygote: ThreadedZygote, caplog: pytest.LogCaptureFixture
) -> None:
    folder = ModuleFolder(tmp_path / "modules")
    folder.add_button_module("plain")
    with caplog.at_level(logging.WARNING, logger="solobot.runtime"):
        async with ModuleRuntime(folder.root, state_file=tmp_path / "state.json", zygote=shared_zygote, sandbox=False) as rt:
            status = rt.module_status("plain")
            assert status["sandbox"] == [UNSANDBOXED_LAYER]
            assert "sandbox: NOT sandboxed" in details(status)  # `solobot modules status plain`
            assert rt.status()[0]["sandbox"] == [UNSANDBOXED_LAYER]  # the admin card and /healthz read this
    assert any("sandbox=False" in r.getMessage() for r in caplog.records)


def test_opting_out_and_passing_sandboxes_together_is_a_mistake(tmp_path: Path) -> None:
    sandboxes = ModuleSandboxes(modules_dir=tmp_path / "modules", data_dir=tmp_path / "storage", policy=BotApiPolicy())
    with pytest.raises(ValueError, match="sandbox=False"):
        ModuleRuntime(tmp_path / "modules", sandboxes=sandboxes, sandbox=False)
