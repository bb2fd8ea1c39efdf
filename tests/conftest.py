"""Shared fixtures: module folders written on the fly, and runtimes over them.

Every runtime here is real: a real zygote, real forked module processes, real sockets.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.pool import NullPool

from runtime import ModuleRuntime, RuntimeConfig
from tests.redis_fixtures import redis_server, redis_url  # noqa: F401  (fixtures: a real redis-server)
from tests.shared_zygote import ThreadedZygote

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SLOW_TEST_WEIGHT = 50  # a `slow` test costs about as much as this many ordinary ones


# tryfirst: xdist's worker turns ``xdist_group`` markers into nodeid suffixes in this same hook, and
# tests/conftest.py is registered before xdist's plugin (so, without it, called after): the file
# groups added here were never seen, and a file's tests were spread over both workers, each setting
# up the file's module-scoped fixtures anew (tests that build on the previous one then failed).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``-n`` (``--dist loadgroup``) a test file is one unit of work, so its module- and
    session-scoped fixtures (a PostgreSQL database, a running bot) are set up once, on one worker.
    A test that names its own ``xdist_group`` (the escape suite: one per mode) keeps it.

    Groups are handed out in the order of the items (``--no-loadscope-reorder``): the heaviest
    first, weighing a ``slow`` test like many, so a long one does not start last and run alone.
    """
    weight: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
        group = _group(item)
        weight[group] = weight.get(group, 0) + (SLOW_TEST_WEIGHT if item.get_closest_marker("slow") else 1)
    first_seen = {group: index for index, group in enumerate(dict.fromkeys(_group(item) for item in items))}
    items.sort(key=lambda item: (-weight[_group(item)], first_seen[_group(item)]))  # stable within a group


def _group(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    assert marker is not None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name"))


class ModuleFolder:
    """A modules folder in a temp dir; ``add`` writes a module in the seed's layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, router_source: str, *, version: str | None = None, **files: str) -> Path:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text('__all__ = ("router",)\nfrom .router import router\n')
        (folder / "router.py").write_text(textwrap.dedent(router_source))
        for filename, source in files.items():
            (folder / filename.replace("__", ".")).write_text(textwrap.dedent(source))
        if version is not None:
            (folder / "VERSION").write_text(version + "\n")
        return folder

    def add_button_module(self, name: str, hook: str = "profile_menu", after: str = "balance") -> Path:
        """A well-behaved module adding one button named after itself."""
        return self.add(
            name,
            f"""
            from aiogram import Router
            from aiogram.types import InlineKeyboardButton
            from hooks.hooks import register_hook

            router = Router()

            async def {hook}_hook(**kwargs):
                return {{"after": {after!r}, "button": InlineKeyboardButton(text={name!r}, callback_data={name + "|open"!r})}}

            register_hook({hook!r}, {hook}_hook)
            """,
        )

    def add_hanging_module(self, name: str, hook: str = "profile_menu") -> Path:
        """A module whose ``hook`` never returns (an hour's sleep): the host's timeout must cut it."""
        return self.add(
            name,
            f"""
            import asyncio
            from aiogram import Router
            from hooks.hooks import register_hook
            router = Router()

            @register_hook({hook!r})
            async def hang(**kwargs):
                await asyncio.sleep(3600)
            """,
        )


@pytest.fixture
def modules(tmp_path: Path) -> ModuleFolder:
    return ModuleFolder(tmp_path / "modules")


RuntimeFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def shared_zygote() -> Iterator[ThreadedZygote]:
    """The zygote runtimes of this test process fork from (see tests/shared_zygote.py)."""
    zygote = ThreadedZygote().start()
    try:
        yield zygote
    finally:
        zygote.close()


@pytest.fixture
def make_runtime(tmp_path: Path, shared_zygote: ThreadedZygote) -> RuntimeFactory:
    """``async with make_runtime(folder, **config) as rt`` — a runtime with a private state file.

    Its module processes fork from the shared zygote; ``own_zygote=True`` gives the runtime its
    own (a test that kills or replaces the zygote).
    """

    @asynccontextmanager
    async def factory(
        folder: ModuleFolder | Path, state_file: Path | None = None, *, own_zygote: bool = False, **config: Any
    ) -> AsyncIterator[ModuleRuntime]:
        root = folder.root if isinstance(folder, ModuleFolder) else folder
        state = state_file or tmp_path / "storage" / "modules_state.json"
        zygote = None if own_zygote else shared_zygote
        # Opted out explicitly: these are tests of the process model; the sandbox has its own tests.
        runtime = ModuleRuntime(root, state_file=state, config=RuntimeConfig(**config), zygote=zygote, sandbox=False)
        async with runtime as rt:
            yield rt

    return factory


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def pids(rt: ModuleRuntime) -> dict[str, int | None]:
    return {s["name"]: s["pid"] for s in rt.status()}


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts: use it for children something reaps)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def callback_rows(builder: Any) -> list[list[str]]:
    return [[b.callback_data or b.url for b in row] for row in builder.export()]


# --- PostgreSQL: one embedded server per test session, one fresh database per test ---------


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """asyncpg URL of the ``postgres`` database on an embedded server living for the whole session."""
    from database.embedded import EmbeddedPostgres

    with EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data") as pg:
        yield pg.url


_database_counter = itertools.count(1)


@asynccontextmanager
async def fresh_database(pg_url: str) -> AsyncIterator[str]:
    """A new empty database on the embedded server; dropped on exit. Yields its URL."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"test_{os.getpid()}_{next(_database_counter)}"
    admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def db(pg_url: str, anyio_backend: str) -> AsyncIterator[str]:
    """A fresh database with the core tables: ``database.db`` is bound to it; yields its URL."""
    import database.db
    from database.init_db import init_db

    async with fresh_database(pg_url) as url:
        engine = database.db.bind(url)
        try:
            await init_db(engine)
            yield url
        finally:
            await database.db.dispose()
