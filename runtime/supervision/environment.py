"""The environment handed to the zygote, and so to every module process: an allowlist.

Nothing secret is ever inherited: not ``BOT_TOKEN``, not ``DATABASE_URL``, not whatever else
the operator keeps in the host's environment. Only what an interpreter needs to run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOME", "SYSTEMROOT")

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # runtime/supervision/environment.py


def module_environment(source: Mapping[str, str] | None = None) -> dict[str, str]:
    source = os.environ if source is None else source
    env = {key: source[key] for key in ALLOWED if key in source}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env
