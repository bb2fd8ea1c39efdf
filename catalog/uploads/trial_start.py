"""``python -m catalog.uploads.trial_start ROOT``: a warm process that starts uploaded modules as the bot would, sandboxed.

The catalog keeps one such child process (``catalog.uploads.trial.WarmTrial``) for every upload's
start check — the seed's "test compatibility before uploading an update", done for the developer.
It holds one ``ModuleRuntime`` with its ``ModuleSandboxes`` (and so one warm zygote) for its
lifetime, so a check costs a fork and the module's own import rather than two Python start-ups.
Each module runs in a real sandboxed module process (own uid when root, rlimits, Landlock,
seccomp) under default permissions: an empty ``modules.toml`` is passed explicitly, so no grant of
the catalog machine's bot can apply; there is no database.

Protocol, one JSON object per line: stdin ``{"source": "/folder/of/the/module", "name": "weather"}``;
the answer ``{"state": "running"|..., "error": str|null, "warnings": [...], "sandbox": [...],
"hooks": [...]}``. The first line written is ``{"ready": true}``. Answers go to the original
stdout; fd 1 is pointed at stderr so nothing else (a module's or a library's print) can garble them.
A separate process keeps the runtime's global state (hook dispatcher, child subreaper) out of
the catalog's web server, which may share its process with a bot (``solobot demo``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

START_TIMEOUT = 20.0


async def check_one(runtime: Any, modules_dir: Path, source: Path, name: str) -> dict[str, Any]:
    from runtime import ModuleLoadError

    target = modules_dir / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)  # the check's folder is already 0755/0644: modes are kept
    try:
        try:
            await runtime.start(name)
        except ModuleLoadError:
            pass  # the supervisor has the reason in last_error
        status = runtime.module_status(name)
        return {
            "state": status["state"],
            "error": status["last_error"],
            "warnings": status["warnings"],
            "sandbox": status["sandbox"],
            "hooks": status["hooks"],
        }
    finally:
        await runtime.forget(name)
        shutil.rmtree(target, ignore_errors=True)


async def serve(root: Path, answers: TextIO) -> None:
    from runtime import ModuleRuntime, RuntimeConfig
    from runtime.supervision.sandbox_setup import ModuleSandboxes
    from sandbox.bot_api_policy import BotApiPolicy

    modules_dir = root / "modules"
    modules_dir.mkdir(mode=0o755, exist_ok=True)
    config_path = root / "modules.toml"
    config_path.write_text("# the catalog's start check: default permissions only\n")
    sandboxes = ModuleSandboxes(modules_dir=modules_dir, data_dir=root / "data", policy=BotApiPolicy(), config_path=config_path)
    config = RuntimeConfig(start_timeout=START_TIMEOUT, crash_loop_max=1, backoff_initial=60.0)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with ModuleRuntime(modules_dir, state_file=root / "data" / "state.json", config=config, sandboxes=sandboxes) as runtime:
        answers.write(json.dumps({"ready": True}) + "\n")
        answers.flush()
        while line := await reader.readline():
            request = json.loads(line)
            result = await check_one(runtime, modules_dir, Path(request["source"]), request["name"])
            answers.write(json.dumps(result, ensure_ascii=False) + "\n")
            answers.flush()


def main() -> None:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    asyncio.run(serve(Path(sys.argv[1]).resolve(), answers))


if __name__ == "__main__":
    main()
