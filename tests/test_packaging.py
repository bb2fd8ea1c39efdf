"""The operator's packaging: docker-compose.yml, deploy/nginx.conf, deploy/solobot.service.

Docker is not run here (no daemon); what is checked: the compose file parses and wires two
workers, PostgreSQL, Redis and nginx together; nginx spreads the webhook path the example
settings name over both workers; the systemd unit passes ``systemd-analyze verify`` without a
warning; the containers and the unit grant the same capabilities; every product package is
installed; and Debian's nginx runs deploy/nginx.conf as shipped (addresses and certificate
paths aside) in front of two real HTTP workers.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from aiohttp import web
from dotenv import dotenv_values

from tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def unit_values(key: str) -> list[str]:
    text = (DEPLOY / "solobot.service").read_text()
    return [m.group(1) for m in re.finditer(rf"^{key}=(.*)$", text, re.MULTILINE)]


def test_compose_runs_two_identical_workers_beside_postgres_redis_and_nginx() -> None:
    services = compose()["services"]
    assert set(services) == {"bot-1", "bot-2", "postgres", "redis", "nginx"}
    bots = [services["bot-1"], services["bot-2"]]
    assert bots[0]["volumes"] != bots[1]["volumes"]  # each worker its own DATA_DIR
    assert [bot["hostname"] for bot in bots] == ["bot-1", "bot-2"]  # stable worker names in `modules status`
    for bot in bots:
        assert bot["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert "@postgres:5432/" in bot["environment"]["DATABASE_URL"]
        assert set(bot["depends_on"]) == {"postgres", "redis"}
        assert bot["cap_drop"] == ["ALL"] and bot["user"] == "root"
    assert set(services["nginx"]["depends_on"]) == {"bot-1", "bot-2"}


def test_nginx_spreads_the_webhook_path_over_both_workers() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    port = compose()["x-bot"]["environment"]["WEB_PORT"]
    upstream = re.search(r"upstream solobot_workers \{(.*?)\}", conf, re.DOTALL)
    assert upstream is not None
    assert re.findall(r"server (\S+);", upstream.group(1)) == [f"bot-1:{port}", f"bot-2:{port}"]
    example = dotenv_values(DEPLOY / "solobot.env.example")
    path = urlsplit(example["WEBHOOK_URL"]).path
    webhook = re.search(rf"location = {re.escape(path)} \{{(.*?)\n    \}}", conf, re.DOTALL)
    assert webhook is not None, f"nginx.conf has no location for {path}"
    assert "proxy_pass http://solobot_workers;" in webhook.group(1)
    assert "http_503" in webhook.group(1) and "non_idempotent" in webhook.group(1)  # a draining worker's update goes on


def test_containers_and_the_systemd_unit_grant_the_same_capabilities() -> None:
    (bounding,) = unit_values("CapabilityBoundingSet")
    unit_caps = {cap.removeprefix("CAP_") for cap in bounding.split()}
    assert unit_caps == set(compose()["x-bot"]["cap_add"])


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing (.ci/run installs Debian's systemd)"
    unit = tmp_path / "solobot.service"
    (exec_start,) = unit_values("ExecStart")
    # verify wants the program to exist: this machine's in place of /opt/solobot's.
    unit.write_text((DEPLOY / "solobot.service").read_text().replace(exec_start.split()[0], shutil.which("true") or "/bin/true"))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")
    for key, wanted in [("KillMode", "mixed"), ("Delegate", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict")]:
        assert unit_values(key) == [wanted], key
    (calls,) = unit_values("SystemCallFilter")
    assert {"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "seccomp"} <= set(calls.split())


def test_the_image_leaves_secrets_and_local_state_out() -> None:
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".env", "storage/", ".git"} <= set(ignored)
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    assert re.search(r"^USER solobot$", dockerfile, re.MULTILINE)  # non-root unless compose asks for root


def test_every_product_package_is_installed() -> None:
    """``solobot run`` (the console script) imports from the install, not from the working directory: a package
    missing from ``[tool.setuptools.packages.find]`` breaks it in the image and under systemd, not in the tests."""
    import fnmatch
    import tomllib

    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["packages"]["find"]["include"]
    not_product = {"tests", "benchmarks", "modules", "docs"}
    packages = {p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py")} - not_product
    missing = sorted(name for name in packages if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns))
    assert missing == [], f"add {missing} to [tool.setuptools.packages.find] include in pyproject.toml"
    assert {"bot", "config", "logger"} <= set(config["py-modules"])


# --- deploy/nginx.conf under a real nginx (Debian's; .ci/run installs it) ---------------------


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bot.example.org")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, private


def nginx_config(folder: Path, listen_port: int, worker_ports: list[int]) -> Path:
    """deploy/nginx.conf as shipped, pointed at this machine: only addresses and certificate paths change."""
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("server bot-1:8080;", f"server 127.0.0.1:{worker_ports[0]};")
    site = site.replace("server bot-2:8080;", f"server 127.0.0.1:{worker_ports[1]};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{listen_port} ssl;")
    site = site.replace("/etc/nginx/certs/", f"{folder}/")
    assert site.count("127.0.0.1:") == 3 and str(folder) in site, "deploy/nginx.conf changed shape: update this test"
    (folder / "site.conf").write_text(site)
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
        f"  include {folder}/site.conf;\n}}\n"
    )
    return main


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_nginx_passes_a_draining_workers_update_to_the_other_and_never_replays_module_posts(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert nginx is not None, "nginx is missing (.ci/run installs Debian's nginx-light)"
    self_signed_certificate(tmp_path)
    seen: list[tuple[str, str]] = []

    def worker(name: str, status: int) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            seen.append((name, request.path))
            return web.Response(status=status, text=name)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        return app

    runners = [web.AppRunner(worker("draining", 503)), web.AppRunner(worker("serving", 200))]
    for runner in runners:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = free_port()
    config = nginx_config(tmp_path, port, [runner.addresses[0][1] for runner in runners])
    checked = subprocess.run([nginx, "-t", "-c", str(config)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen([nginx, "-c", str(config)], stderr=subprocess.PIPE)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            base = f"https://127.0.0.1:{port}"
            for _ in range(100):  # until nginx listens
                try:
                    async with session.get(f"{base}/healthz") as response:
                        assert response.status == 403  # kept internal
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            async with session.get(f"{base}/metrics") as response:
                assert response.status == 403
            statuses = []
            for _ in range(4):  # round robin over both
                async with session.post(f"{base}/modules/pay/callback", json={}) as response:
                    statuses.append(response.status)
            assert sorted(statuses) == [200, 200, 503, 503] and len(seen) == 4  # a module's POST is never replayed
            seen.clear()
            for _ in range(4):  # the first one that lands on the draining worker is passed on, and marks it down
                async with session.post(f"{base}/telegram/webhook", json={"update_id": 1}) as response:
                    assert (response.status, await response.text()) == (200, "serving")
            assert [name for name, _ in seen].count("serving") == 4 and ("draining", "/telegram/webhook") in seen
    finally:
        server.terminate()
        server.wait(timeout=10)
        for runner in runners:
            await runner.cleanup()
