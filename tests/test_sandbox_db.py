"""Module database roles against the real embedded PostgreSQL: what a module role may and may not do."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import BigInteger, Column, ForeignKey, MetaData, String, Table, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from database.embedded import module_host_port
from sandbox.db_roles import ensure_module_role, role_name
from sandbox.permissions import ModulePermissions
from tests.installs import as_user_command

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def owner(db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(db, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (tg_id, balance) VALUES (1, 10), (2, 20)"))
            await conn.execute(
                text("INSERT INTO keys (tg_id, client_id, email, created_at, expiry_time) VALUES (1, 'c1', 'e1', 0, 0)")
            )
        yield engine
    finally:
        await engine.dispose()


async def connect(dsn: str) -> asyncpg.Connection:
    url = make_url(dsn)
    return await asyncpg.connect(host=url.host, port=url.port, user=url.username, password=url.password, database=url.database)


async def denied(conn: asyncpg.Connection, sql: str) -> str:
    with pytest.raises(asyncpg.PostgresError) as caught:
        await conn.execute(sql)
    return str(caught.value)


async def test_module_role_gets_exactly_its_grants(db: str) -> None:
    async with owner(db) as engine:
        dsn = await ensure_module_role(engine, "alpha", ModulePermissions(db_read=("keys",)))
        url = make_url(dsn)
        assert url.username == "mod_alpha" and url.host == "127.0.0.1" and url.password
        assert module_host_port(dsn) == ("127.0.0.1", url.port)
        conn = await connect(dsn)
        try:
            assert "permission denied" in await denied(conn, "SELECT * FROM users")
            assert "permission denied" in await denied(conn, "SELECT * FROM payments")
            assert "permission denied" in await denied(conn, "UPDATE users SET balance = 1000")
            assert "must be owner" in await denied(conn, "DROP TABLE keys")
            assert "permission denied" in await denied(conn, "CREATE TABLE public.x (id int)")
            assert await conn.fetchval("SELECT count(*) FROM keys") == 1  # granted SELECT

            # No foreign key to the core's users without the grant (references_users).
            assert "permission denied" in await denied(conn, "CREATE TABLE notes (tg_id bigint REFERENCES users (tg_id))")
        finally:
            await conn.close()
        dsn = await ensure_module_role(engine, "alpha", ModulePermissions(db_read=("keys",), references_users=True))
        conn = await connect(dsn)
        try:
            await conn.execute("CREATE TABLE notes (tg_id bigint REFERENCES users (tg_id), body text)")
            assert await conn.fetchval("SELECT to_regclass('mod_alpha.notes') IS NOT NULL")
            await conn.execute("INSERT INTO notes VALUES (1, 'hello')")
            assert "foreign key" in await denied(conn, "INSERT INTO notes VALUES (999, 'nobody')")
            assert await conn.fetchval("SELECT body FROM notes") == "hello"
        finally:
            await conn.close()


async def test_module_tables_via_sqlalchemy_and_db_write(db: str) -> None:
    metadata = MetaData()
    Table("users", metadata, Column("tg_id", BigInteger, primary_key=True))  # stands for the core table
    notes = Table(
        "bravo_notes",
        metadata,
        Column("tg_id", BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True),
        Column("body", String),
    )
    async with owner(db) as engine:
        dsn = await ensure_module_role(engine, "bravo", ModulePermissions(db_write=("payments",), references_users=True))
        module = create_async_engine(dsn, poolclass=NullPool)
        try:
            async with module.begin() as conn:
                await conn.run_sync(lambda sync: metadata.create_all(sync, tables=[notes]))
                for _ in range(2):
                    await conn.execute(insert(notes).values(tg_id=2, body="x").on_conflict_do_nothing(index_elements=["tg_id"]))
                assert (await conn.execute(select(notes.c.body))).scalars().all() == ["x"]
                # db_write: its rows, with the serial id from a sequence it may use
                await conn.execute(
                    text("INSERT INTO payments (tg_id, amount, payment_system, status) VALUES (2, 5, 'test', 'success')")
                )
                assert await conn.scalar(text("SELECT count(*) FROM payments")) == 1
                await conn.execute(text("UPDATE payments SET status = 'refunded'"))
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT to_regclass('mod_bravo.bravo_notes') IS NOT NULL"))
                assert await conn.scalar(text("SELECT to_regclass('public.bravo_notes')")) is None
        finally:
            await module.dispose()


async def test_modules_cannot_read_each_other_and_grants_follow_the_config(db: str) -> None:
    async with owner(db) as engine:
        first = await ensure_module_role(engine, "charlie", ModulePermissions(db_read=("keys",)))
        conn = await connect(first)
        try:
            await conn.execute("CREATE TABLE secrets (v text)")
            await conn.execute("INSERT INTO secrets VALUES ('s')")
        finally:
            await conn.close()
        other = await connect(await ensure_module_role(engine, "delta", ModulePermissions()))
        try:
            assert "permission denied" in await denied(other, "SELECT * FROM mod_charlie.secrets")
            assert "permission denied" in await denied(other, "CREATE TABLE mod_charlie.y (id int)")
        finally:
            await other.close()

        # A new start rotates the password and applies the current grants (keys no longer readable).
        again = await ensure_module_role(engine, "charlie", ModulePermissions())
        assert make_url(again).password != make_url(first).password
        with pytest.raises(asyncpg.InvalidPasswordError):
            await connect(first)
        conn = await connect(again)
        try:
            assert "permission denied" in await denied(conn, "SELECT * FROM keys")
            assert await conn.fetchval("SELECT v FROM secrets") == "s"  # its own schema survives
        finally:
            await conn.close()


async def test_trusted_module_gets_the_owner_url_and_names_are_checked(db: str) -> None:
    async with owner(db) as engine:
        assert await ensure_module_role(engine, "echo", ModulePermissions(trust="trusted")) == engine.url.render_as_string(
            hide_password=False
        )
    assert role_name("Top_Referrers") == "mod_top_referrers"
    for bad in ("", "1abc", "a-b", 'x"; DROP', "x" * 60):
        with pytest.raises(ValueError, match="cannot name a database role"):
            role_name(bad)


def test_module_host_port() -> None:
    assert module_host_port("postgresql+asyncpg://u:p@db.example:6432/bot") == ("db.example", 6432)
    assert module_host_port("postgresql+asyncpg://u:p@db.example/bot") == ("db.example", 5432)
    with pytest.raises(ValueError, match="not a TCP address"):
        module_host_port("postgresql+asyncpg://postgres:pw@/postgres?host=/tmp/pg&port=5000")


async def test_concurrent_starts_do_not_collide(db: str) -> None:
    async with owner(db) as engine:
        dsns = await asyncio.gather(
            *(ensure_module_role(engine, f"golf{i}", ModulePermissions(db_read=("keys",))) for i in range(6))
        )
        dsns += await asyncio.gather(*(ensure_module_role(engine, "golf0", ModulePermissions()) for _ in range(3)))
    assert len({make_url(d).username for d in dsns}) == 6


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
async def test_another_uid_reaches_the_module_dsn_over_tcp(db: str) -> None:
    async with owner(db) as engine:
        dsn = await ensure_module_role(engine, "hotel", ModulePermissions(db_read=("keys",)))
    url = make_url(dsn)
    script = (
        "import asyncio, asyncpg\n"
        "async def main():\n"
        f"    conn = await asyncpg.connect(host={url.host!r}, port={url.port}, user={url.username!r}, "
        f"password={url.password!r}, database={url.database!r})\n"
        "    print(await conn.fetchval('SELECT count(*) FROM keys'))\n"
        "asyncio.run(main())\n"
    )
    command = as_user_command(65534, 65534, [sys.executable, "-c", script])
    out = subprocess.run(command, capture_output=True, text=True, cwd="/", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


@pytest.mark.slow
def test_embedded_server_listens_on_tcp_with_passwords_only(tmp_path: Path) -> None:
    from database.embedded import EmbeddedPostgres

    data_dir = tmp_path / "pg"

    async def attempt(port: int, password: str | None) -> str:
        try:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", password=password, database="postgres")
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
            return type(exc).__name__
        await conn.close()
        return "ok"

    with EmbeddedPostgres(data_dir) as pg:
        port, password = pg.port, make_url(pg.url).password
        assert "?host=" in pg.url and password
        assert asyncio.run(attempt(port, None)) == "InvalidPasswordError"
        assert asyncio.run(attempt(port, "wrong")) == "InvalidPasswordError"
        assert asyncio.run(attempt(port, password)) == "ok"
    # A folder from an older version trusted everyone: the next start tightens pg_hba.conf again.
    (data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    with EmbeddedPostgres(data_dir) as again:
        assert make_url(again.url).password == password  # the data folder keeps its owner password
        assert asyncio.run(attempt(again.port, None)) == "InvalidPasswordError"
        assert "trust" not in (data_dir / "pg_hba.conf").read_text().replace("# ", "")


# --- database resources: limits the host enforces, set-up a module cannot stall -------------------


async def test_a_module_holding_the_set_up_lock_does_not_stall_other_modules_set_up(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    from sandbox.db_roles import ADVISORY_LOCK

    async with owner(db) as engine:
        squatter = await connect(await ensure_module_role(engine, "squatter", ModulePermissions()))
        try:
            await squatter.execute(f"SELECT pg_advisory_lock({ADVISORY_LOCK})")  # held for the session
            dsn = await asyncio.wait_for(ensure_module_role(engine, "bystander", ModulePermissions()), 60)
            assert make_url(dsn).username == "mod_bystander"
        finally:
            await squatter.close()
    assert any("advisory lock held by mod_squatter" in r.getMessage() for r in caplog.records), caplog.text


async def test_role_limits_are_set_and_enforced_even_when_the_session_lifts_them(db: str) -> None:
    from sandbox.db_limits import DatabaseReaper

    permissions = ModulePermissions(db_statement_seconds=0.5, db_idle_seconds=0.5, disk_mb=64)
    async with owner(db) as engine:
        dsn = await ensure_module_role(engine, "sleeper", permissions)
        async with engine.connect() as conn:
            config = await conn.scalar(text("SELECT rolconfig FROM pg_roles WHERE rolname = 'mod_sleeper'"))
        assert {"statement_timeout=500ms", "idle_in_transaction_session_timeout=500ms", "temp_file_limit=64MB"} <= set(config)
        reaper = DatabaseReaper(engine, lambda: {"mod_sleeper": ("sleeper", 0.5, 0.5)})
        busy, idle = await connect(dsn), await connect(dsn)
        try:
            assert "permission denied" in await denied(busy, "SET temp_file_limit = -1")  # superuser-only: stays
            await busy.execute("SET statement_timeout = 0")  # lifts the role's own timeout
            sleeping = asyncio.ensure_future(busy.execute("SELECT pg_sleep(60)"))
            await idle.execute("SET idle_in_transaction_session_timeout = 0")
            await idle.execute("BEGIN")
            await idle.execute("SELECT 1")
            ended: list[tuple[str, int, str]] = []
            for _ in range(100):  # the reaper's own loop, stepped by hand
                ended += await reaper.sweep()
                if len(ended) >= 2:
                    break
                await asyncio.sleep(0.1)
            whys = sorted(why for _, _, why in ended)
            assert len(whys) == 2 and "a statement ran" in whys[0] and "idle in a transaction" in whys[1], ended
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
                await sleeping
        finally:
            for conn in (busy, idle):
                conn.terminate()


async def test_a_modules_schema_and_large_objects_count_against_disk_mb(db: str, tmp_path: Path) -> None:
    """What a module keeps in the database is disk it uses: the watchdog adds it to its files."""
    from sandbox.db_limits import DatabaseReaper
    from sandbox.watchdog import ResourceWatchdog

    async with owner(db) as engine:
        dsn = await ensure_module_role(engine, "hoarder", ModulePermissions())
        conn = await connect(dsn)
        try:
            await conn.execute("CREATE TABLE blobs (body text)")  # incompressible text: 3 MB of random hex
            await conn.execute("ALTER TABLE blobs ALTER COLUMN body SET STORAGE EXTERNAL")
            await conn.execute("INSERT INTO blobs SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 100000)")
            async with conn.transaction():
                oid = await conn.fetchval("SELECT lo_from_bytea(0, decode(repeat('ab', 1048576), 'hex'))")  # 1 MB
        finally:
            await conn.close()
        limits = {role_name("hoarder"): ("hoarder", 30.0, 60.0)}
        sizes = await DatabaseReaper(engine, lambda: limits).sizes()
        assert sizes["hoarder"] >= 4 * 1024 * 1024, sizes
        async with engine.connect() as owner_conn:
            large = await owner_conn.scalar(
                text("SELECT sum(octet_length(data)) FROM pg_largeobject WHERE loid = :oid"), {"oid": oid}
            )
        assert large == 1024 * 1024

    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        reasons: list[str] = []
        watchdog = ResourceWatchdog()
        data = tmp_path / "data"
        data.mkdir()
        watchdog.watch("hoarder", process.pid, 512, 30, reasons.append, disk_paths=[data], disk_mb=2)
        watchdog.sample()
        assert reasons == []  # its folders are empty
        watchdog.set_database_bytes(sizes)
        watchdog.sample()
        assert len(reasons) == 1 and "over the 2 MB limit" in reasons[0], reasons
        assert "MB in its database schema and large objects" in reasons[0], reasons
    finally:
        process.kill()
        process.wait()
