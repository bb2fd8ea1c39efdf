"""The README's main job, ``python -m host.demo``: runs the tour, prints the web chat's URL, then stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from catalog.demo import EXAMPLE
from tests.conftest import PROJECT_ROOT


def signed_in_page(link: str) -> str:
    """Follow a printed one-time sign-in link with cookies, as a browser would; the page it lands on."""
    import http.cookiejar
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(link, timeout=30) as response:
        return response.read().decode()


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_demo_tours_the_bot_and_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "storage"), "MODULES_STATE_FILE": str(tmp_path / "state.json")}
    env.pop("DATABASE_URL", None)
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "host.demo", "--port", "0", "--web-port", "0", "--chat-port", "0", "--catalog-port", "0"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 170
            while "Ctrl-C stops everything" not in log.read_text() and demo.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            transcript = log.read_text()
            assert "Ctrl-C stops everything" in transcript, transcript
            descendants = psutil.Process(demo.pid).children(recursive=True)
            cabinet = signed_in_page(re.search(r"sign in as the example developer: (\S+)", transcript).group(1))
            # The demo bot installs from that catalog: `solobot catalog list` asks it over its control socket.
            listed = subprocess.run(
                [sys.executable, "-m", "cli", "catalog", "list"],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=30)
    assert code == 0, log.read_text()[-2000:]
    assert "Привет из модуля!" in transcript  # hello_world answered from its process
    assert "Топ пригласивших" in transcript and "Подключить Happ TV" in transcript
    assert "no answer" not in transcript, transcript
    assert re.search(r"Web chat: http://127\.0\.0\.1:\d+/", transcript), transcript  # the page's URL is printed
    # The local catalog: its URL, and a sign-in link that opens the example developer's cabinet.
    assert re.search(r"Module catalog: http://127\.0\.0\.1:\d+", transcript), transcript
    assert 'id="my-id">1003<' in cabinet and "Управление модулями" in cabinet
    assert listed.returncode == 0 and f"{EXAMPLE} " in listed.stdout, listed.stdout + listed.stderr
    # Nothing outlives the demo: no module process, no zygote, no PostgreSQL on its data folder.
    assert len(descendants) >= 10  # zygote, 9 module processes, the postmaster and its workers
    # Their exits may still be under way when the demo's returns: poll until none runs (or 10 s).
    deadline = time.monotonic() + 10
    while running(descendants) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(descendants) == []
    postgres_on_our_data = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and any(str(tmp_path) in part for part in p.info["cmdline"])
    ]
    assert postgres_on_our_data == []


def running(processes: list[psutil.Process]) -> list[int]:
    """Pids of ``processes`` still running (a zombie has exited: its parent just has not reaped it)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_demo_in_webhook_mode_tours_the_bot_with_updates_posted_to_it(tmp_path: Path) -> None:
    """``--webhook``: the local Bot API server posts every update to the bot's web server."""
    env = {**os.environ, "DATA_DIR": str(tmp_path / "storage"), "MODULES_STATE_FILE": str(tmp_path / "state.json")}
    env.pop("DATABASE_URL", None)
    log = tmp_path / "demo.log"
    ports = ["--port", "0", "--web-port", "0", "--chat-port", "0"]
    command = [sys.executable, "-m", "host.demo", *ports, "--no-catalog", "--webhook"]
    with log.open("w") as out:
        demo = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 170
            while "Ctrl-C stops everything" not in log.read_text() and demo.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            transcript = log.read_text()
        finally:
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=30)
    assert code == 0, log.read_text()[-2000:]
    posted_to = r"Webhook mode: the Bot API server posts updates to http://127\.0\.0\.1:\d+/telegram/webhook"
    assert re.search(posted_to, transcript), transcript
    assert "Привет из модуля!" in transcript and "Подписка создана" in transcript  # a module and the core answered
    assert "no answer" not in transcript, transcript
