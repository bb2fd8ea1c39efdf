"""The operator's packaging: docker-compose.yml, deploy/nginx.conf, deploy/solobot.service.

Docker and nginx are not run here (no daemon); what can be checked is: the compose file parses
and wires two workers, PostgreSQL, Redis and nginx together; nginx spreads the webhook path the
example settings name over both workers; the systemd unit passes ``systemd-analyze verify``
without a warning; the containers and the unit grant the same capabilities.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from dotenv import dotenv_values

from tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"


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
