"""``python -m catalog.uploads.trial_start MODULES_DIR NAME``: start one module as the bot would, sandboxed, and report.

Run by the catalog in a child process for every upload (the seed's "test compatibility before
uploading an update", done for the developer): the project's own ``ModuleRuntime`` with its
``ModuleSandboxes`` starts ``MODULES_DIR/NAME`` in a real sandboxed module process (own uid when
root, rlimits, Landlock, seccomp) under default permissions — an empty ``modules.toml`` is
passed explicitly, so no grant of the catalog machine's bot can apply — and prints one JSON line:
``{"state": "running"|..., "error": str|null, "warnings": [...], "sandbox": [...]}``.
A separate process keeps the catalog's own process out of the runtime's global state
(hook dispatcher, child subreaper) and lets it kill a check that hangs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

START_TIMEOUT = 20.0


async def trial_start(modules_dir: Path, name: str) -> dict[str, Any]:
    from runtime import ModuleRuntime, RuntimeConfig
    from runtime.supervision.sandbox_setup import ModuleSandboxes
    from sandbox.bot_api_policy import BotApiPolicy

    root = modules_dir.parent
    config_path = root / "modules.toml"
    config_path.write_text("# the catalog's start check: default permissions only\n")
    sandboxes = ModuleSandboxes(modules_dir=modules_dir, data_dir=root / "data", policy=BotApiPolicy(), config_path=config_path)
    config = RuntimeConfig(start_timeout=START_TIMEOUT, crash_loop_max=1, backoff_initial=60.0)
    async with ModuleRuntime(modules_dir, state_file=root / "data" / "state.json", config=config, sandboxes=sandboxes) as runtime:
        status = runtime.module_status(name)
        return {
            "state": status["state"],
            "error": status["last_error"],
            "warnings": status["warnings"],
            "sandbox": status["sandbox"],
            "hooks": status["hooks"],
        }


def main() -> None:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    modules_dir, name = Path(sys.argv[1]).resolve(), sys.argv[2]
    result = asyncio.run(trial_start(modules_dir, name))
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
