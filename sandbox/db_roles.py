"""Each sandboxed module's own PostgreSQL role and schema, with exactly the grants the operator chose.

:func:`ensure_module_role` makes (idempotently, at every start of the module) role ``mod_<name>``
(LOGIN, a fresh random password each time, no other attribute) and schema ``mod_<name>`` owned by
it, first on the role's ``search_path``: tables the module creates land there. Then it revokes
everything the role holds in schema ``public`` (core tables, sequences, CREATE) and grants:

* CONNECT on the database, USAGE on schema ``public``;
* REFERENCES (tg_id) on ``users`` only with ``references_users = true`` (then a module table may
  declare ``ForeignKey("users.tg_id")``); revoked otherwise;
* SELECT on the ``db_read`` tables; SELECT, INSERT, UPDATE, DELETE on the ``db_write`` tables,
  and USAGE on their sequences.

Nothing grants one module's role anything in another module's schema. The owner engine must be
a superuser or have CREATEROLE and own the database (the embedded server's ``postgres`` does).
A ``trusted`` module gets the owner's URL, as upstream.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .permissions import ModulePermissions

log = logging.getLogger("solobot.runtime")

ROLE_PREFIX = "mod_"
CONNECTION_LIMIT = 10  # a module process pools 2 (+3 overflow) connections; room for a restart's overlap
ADVISORY_LOCK = 0x736F6C6F626F74  # "solobot": serialises role set-up within a database
SETUP_LOCK_TIMEOUT_MS = 5_000  # any other lock the set-up waits for
SETUP_LOCK_TRIES = 20
SETUP_LOCK_PAUSE = 0.1  # seconds: ~2 s of tries for the advisory lock
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1


def role_name(module: str) -> str:
    """``mod_<module>`` in lower case; :class:`ValueError` for a name that is not a short identifier."""
    if not _MODULE_NAME.fullmatch(module) or len(ROLE_PREFIX) + len(module) > _MAX_IDENTIFIER:
        raise ValueError(
            f"module name {module!r} cannot name a database role: use letters, digits and _ "
            f"(not starting with a digit), at most {_MAX_IDENTIFIER - len(ROLE_PREFIX)} characters"
        )
    return ROLE_PREFIX + module.lower()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def ensure_module_role(
    owner_engine: AsyncEngine,
    module: str,
    permissions: ModulePermissions,
    *,
    host: str | None = None,
    port: int | None = None,
    password: str | None = None,
    processes: int = 1,
) -> str:
    """Create or update ``module``'s role and schema and return the URL its process connects with.

    The URL is ``postgresql+asyncpg://mod_<name>:<password>@<host>:<port>/<database>``: the owner
    URL's TCP host and port, or, when the owner connects over a unix socket (the embedded server),
    the server's first ``listen_addresses`` entry and its ``port``; ``host``/``port`` override.
    A new random password is set unless ``password`` is given (e.g. to keep the old process of a
    module being reloaded able to open connections until it retires, or the module's processes of
    the other workers). ``processes``: how many processes of the module connect at once (one per
    worker); the role's connection limit grows with it.
    """
    if permissions.trusted:
        return owner_engine.url.render_as_string(hide_password=False)
    role = role_name(module)
    password = password or secrets.token_urlsafe(24)
    async with owner_engine.begin() as conn:
        # Nothing in this set-up may wait unbounded on a lock a module's session can hold.
        await conn.execute(text(f"SET LOCAL lock_timeout = '{SETUP_LOCK_TIMEOUT_MS}ms'"))
        await _serialise_setup(conn)
        database = str(await conn.scalar(text("SELECT current_database()")))
        await _ensure_role(conn, role, password, CONNECTION_LIMIT * max(1, processes))
        await _limit_role(conn, role, permissions)
        await _ensure_schema(conn, role)
        await _grant(conn, role, database, permissions)
        tcp_host, tcp_port = await _tcp_address(conn, owner_engine.url, host, port)
    return URL.create(
        "postgresql+asyncpg", username=role, password=password, host=tcp_host, port=tcp_port, database=database
    ).render_as_string(hide_password=False)


async def _serialise_setup(conn: AsyncConnection) -> None:
    """Set roles up one at a time across host processes, unless a module holds the key.

    PostgreSQL refuses concurrent GRANT/REVOKE on one object ("tuple concurrently updated"), so
    host processes sharing a database take an advisory lock. Any role can take any advisory lock,
    so a module could hold this one forever: the host only *tries* for a while, then goes on
    without it (within one host process, ``ModuleSandboxes`` serialises set-ups itself).
    """
    for _ in range(SETUP_LOCK_TRIES):
        if await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}):
            return
        await asyncio.sleep(SETUP_LOCK_PAUSE)
    holders = await conn.scalar(
        text(
            "SELECT string_agg(DISTINCT a.usename, ', ') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND (l.classid::bigint << 32 | l.objid::bigint) = :key"
        ),
        {"key": ADVISORY_LOCK},
    )
    log.warning("database role set-up: advisory lock held by %s; going on without it", holders or "another session")


async def _limit_role(conn: AsyncConnection, role: str, permissions: ModulePermissions) -> None:
    """Role defaults the module's sessions start with; ``db_limits.DatabaseReaper`` enforces them if it changes them."""
    r = quote_ident(role)
    await conn.execute(text(f"ALTER ROLE {r} SET statement_timeout = '{int(permissions.db_statement_seconds * 1000)}ms'"))
    await conn.execute(
        text(f"ALTER ROLE {r} SET idle_in_transaction_session_timeout = '{int(permissions.db_idle_seconds * 1000)}ms'")
    )
    # A superuser-only setting: the module cannot raise it; an owner that is no superuser cannot set it.
    try:
        async with conn.begin_nested():
            await conn.execute(text(f"ALTER ROLE {r} SET temp_file_limit = '{int(permissions.disk_mb)}MB'"))
    except DBAPIError as exc:
        log.warning("[module %s] temp_file_limit not set (the database owner is no superuser): %s", role, exc.orig)


async def _ensure_role(conn: AsyncConnection, role: str, password: str, connection_limit: int) -> None:
    r = quote_ident(role)
    attributes = (
        f"LOGIN PASSWORD {_literal(password)} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS "
        f"CONNECTION LIMIT {int(connection_limit)}"
    )
    exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role})
    await conn.execute(text(f"{'ALTER' if exists else 'CREATE'} ROLE {r} WITH {attributes}"))
    await conn.execute(text(f"ALTER ROLE {r} SET search_path = {r}, public"))


async def _ensure_schema(conn: AsyncConnection, role: str) -> None:
    r = quote_ident(role)
    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {r} AUTHORIZATION {r}"))
    await conn.execute(text(f"ALTER SCHEMA {r} OWNER TO {r}"))
    await conn.execute(text(f"REVOKE ALL ON SCHEMA {r} FROM PUBLIC"))


async def _grant(conn: AsyncConnection, role: str, database: str, permissions: ModulePermissions) -> None:
    r = quote_ident(role)
    for statement in (
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE CREATE ON SCHEMA public FROM {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {r}",
        f"GRANT CONNECT ON DATABASE {quote_ident(database)} TO {r}",
        f"GRANT USAGE ON SCHEMA public TO {r}",
    ):
        await conn.execute(text(statement))
    if await _exists(conn, "users"):
        verb = "GRANT" if permissions.references_users else "REVOKE"
        await conn.execute(text(f"{verb} REFERENCES (tg_id) ON public.users {'TO' if verb == 'GRANT' else 'FROM'} {r}"))
    for table in permissions.db_read:
        await _require(conn, table)
        await conn.execute(text(f"GRANT SELECT ON public.{quote_ident(table)} TO {r}"))
    for table in permissions.db_write:
        await _require(conn, table)
        await conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{quote_ident(table)} TO {r}"))
        for sequence in await _sequences(conn, table):
            await conn.execute(text(f"GRANT USAGE ON SEQUENCE public.{quote_ident(sequence)} TO {r}"))


async def _exists(conn: AsyncConnection, table: str) -> bool:
    return await conn.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"public.{quote_ident(table)}"}) is True


async def _require(conn: AsyncConnection, table: str) -> None:
    if not await _exists(conn, table):
        raise ValueError(f"core table {table!r} does not exist in this database: create the core tables (init_db) first")


async def _sequences(conn: AsyncConnection, table: str) -> list[str]:
    """Sequences owned by ``table``'s columns (serial and identity)."""
    rows = await conn.execute(
        text(
            "SELECT s.relname FROM pg_class s "
            "JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "JOIN pg_class t ON t.oid = d.refobjid "
            "WHERE s.relkind = 'S' AND t.oid = to_regclass(:name)"
        ),
        {"name": f"public.{quote_ident(table)}"},
    )
    return [row[0] for row in rows]


async def _tcp_address(conn: AsyncConnection, owner_url: URL, host: str | None, port: int | None) -> tuple[str, int]:
    url = make_url(owner_url)
    url_host = url.host if url.host and not url.host.startswith("/") else None
    if host is None and url_host is not None:
        host = url_host
        port = port or url.port or 5432
    if host is None:
        listen = str(await conn.scalar(text("SELECT current_setting('listen_addresses')")) or "")
        first = next((part.strip() for part in listen.split(",") if part.strip()), "")
        if not first:
            raise ValueError(
                "the database server does not listen on TCP (listen_addresses is empty): "
                "module processes can only reach it over TCP"
            )
        host = "127.0.0.1" if first in ("*", "0.0.0.0", "localhost") else ("::1" if first == "::" else first)
    if port is None:
        port = int(await conn.scalar(text("SELECT current_setting('port')::int")) or 5432)
    return host, port
