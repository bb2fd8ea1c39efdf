"""The whole bot for end-to-end tests: local Bot API server + ``SolobotHost`` + example modules.

Modules are copied from the project's ``modules/`` into a temporary folder, so each test runs
exactly the modules it names (and may edit their files) without touching the repository.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import Settings
from host import SolobotHost
from local_bot_api import LocalBotAPI, SimulatedUser
from runtime import RuntimeConfig
from runtime.supervision.zygote_client import ForkServer

PROJECT_MODULES = Path(__file__).resolve().parent.parent / "modules"
ADMIN_ID = 1


@dataclass
class Solobot:
    api: LocalBotAPI
    host: SolobotHost
    modules_dir: Path

    def user(self, tg_id: int, first_name: str = "Пользователь", username: str | None = None) -> SimulatedUser:
        return self.api.user(tg_id=tg_id, first_name=first_name, username=username)


@contextmanager
def traversable_dir(prefix: str = "solobot-") -> Iterator[Path]:
    """A temporary folder module processes (their own uids) can reach: pytest's are 0700 root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def copy_modules(names: Iterable[str], target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(PROJECT_MODULES / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@asynccontextmanager
async def running_solobot(
    database_url: str,
    modules_dir: Path,
    data_dir: Path,
    runtime_config: RuntimeConfig | None = None,
    *,
    reload: bool = False,
    zygote: ForkServer | None = None,
    api: LocalBotAPI | None = None,
    **settings: Any,
) -> AsyncIterator[Solobot]:
    """The bot over ``modules_dir``; its module processes fork from ``zygote`` (the test process's
    shared one, the ``shared_zygote`` fixture), or from its own when None. ``settings``: more
    ``Settings`` fields (e.g. ``catalog_url``). ``api``: a running local Bot API server to use (a bot
    restarted in another mode); None: a fresh one for this bot."""
    async with AsyncExitStack() as own:
        if api is None:
            api = await own.enter_async_context(LocalBotAPI(token="123456:TEST"))
        # The admin has talked to the bot before it starts: modules message admins from startup observers.
        api.user(tg_id=ADMIN_ID, first_name="Пользователь")
        settings = Settings(
            bot_token=api.token,
            telegram_api_url=api.base_url,
            database_url=database_url,
            admin_ids=(ADMIN_ID,),
            modules_dir=str(modules_dir),
            web_host="127.0.0.1",
            data_dir=str(data_dir / "storage"),
            username_bot="solobot_test_bot",
            **{"web_port": 0, **settings},  # 0: any free port (webhook tests choose theirs)
        )
        host = SolobotHost(
            settings,
            runtime_config=runtime_config or RuntimeConfig(update_timeout=5.0),
            state_file=data_dir / "storage" / "modules_state.json",
            notifications=False,
            throttle_rate=0.0,
            reload=reload,
            zygote=zygote,
        )
        async with host:
            yield Solobot(api, host, modules_dir)
