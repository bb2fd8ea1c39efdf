"""``python bot.py``: configuration errors are one line, and importing ``bot`` has no side effects."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT


def run_bot(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "API_TOKEN", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bot.py")],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "solobot: BOT_TOKEN is missing"),
        ({"BOT_TOKEN": "not-a-token"}, "solobot: BOT_TOKEN"),
        ({"BOT_TOKEN": "123:abc", "DATABASE_URL": "mysql://x"}, "solobot: DATABASE_URL"),
        ({"BOT_TOKEN": "123:abc", "WEB_PORT": "http"}, "solobot: WEB_PORT"),
    ],
)
def test_a_bad_setting_is_one_line_not_a_traceback(env: dict[str, str], message: str, tmp_path) -> None:
    result = run_bot(env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_importing_bot_creates_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import bot; bot.bot"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert "no bot in this process yet" in result.stderr
