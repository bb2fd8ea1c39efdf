"""``solobot catalog serve`` on embedded defaults: creates its key pair (0600) and prints the public key to
pin, serves the signed index with links to where it listens, and Ctrl-C leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from catalog.verify import load_public_key, verify_index
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.timeout(180)


def serve(tmp_path: Path, log_name: str) -> tuple[str, str, str]:
    """Run the catalog until it prints its key, fetch the index, stop it with Ctrl-C: (key, index body, transcript)."""
    env = {**os.environ, "DATA_DIR": str(tmp_path / "storage"), "CATALOG_PORT": "0", "CATALOG_ADMIN_IDS": "1"}
    for name in ("CATALOG_DATABASE_URL", "CATALOG_BOT_TOKEN"):
        env.pop(name, None)
    log = tmp_path / log_name
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "catalog", "serve", "--port", "0"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while "Ctrl-C stops the catalog" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            transcript = log.read_text()
            assert "Ctrl-C stops the catalog" in transcript, transcript
            key = re.search(r"CATALOG_PUBLIC_KEY=(\S+)", transcript).group(1)  # type: ignore[union-attr]
            url = re.search(r"Catalog: (http://\S+)", transcript).group(1)  # type: ignore[union-attr]
            with urllib.request.urlopen(url + "/api/v1/index", timeout=30) as response:
                body = response.read().decode()
            descendants = psutil.Process(process.pid).children(recursive=True)
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=60)
    assert code == 0, log.read_text()[-2000:]
    time.sleep(0.5)
    assert [p.pid for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    return key, body, log.read_text()


@pytest.mark.slow
def test_serve_creates_its_key_prints_it_and_stops_cleanly(tmp_path: Path) -> None:
    key, body, transcript = serve(tmp_path, "first.log")
    assert "Created the catalog's Ed25519 key pair" in transcript
    assert "No CATALOG_BOT_TOKEN" in transcript  # the operator is told what is missing
    key_file = tmp_path / "storage" / "catalog" / "catalog.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    index = verify_index(json.loads(body), load_public_key(key))
    assert index.modules == {}
    listening = re.search(r"Catalog: (http://\S+)", transcript).group(1)  # type: ignore[union-attr]
    assert json.loads(body)["payload"]["catalog"] == listening  # links point where it listens, not at port 0
    # Kept across restarts: the same file is read again (test_catalog_signing covers that without a server).
