"""The data layer against a real PostgreSQL (embedded, one fresh database per test)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psutil
import pytest
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, String, event, inspect, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

import database
import database.db
from database import async_session_maker
from database.init_db import init_db
from database.models import Base, Key, Payment, Server, Tariff, User, utcnow

pytestmark = pytest.mark.anyio

DAY_MS = 86_400_000


async def make_user(tg_id: int, balance: float = 0.0, **columns) -> None:
    async with async_session_maker() as session:
        assert await database.add_user(session, tg_id, username=f"u{tg_id}", **columns)
        if balance:
            await database.update_balance(session, tg_id, balance)


async def make_key(tg_id: int, email: str, days: float = 30, **columns) -> str:
    client_id = f"client-{email}"
    async with async_session_maker() as session:
        expiry = int(time.time() * 1000 + days * DAY_MS)
        await database.store_key(session, tg_id, client_id, email, expiry, f"vless://{email}", "local", **columns)
    return client_id


# --- engine, session maker, schema --------------------------------------------------------


async def test_session_maker_imported_before_bind_is_bound_after(db: str) -> None:
    from database import async_session_maker as early  # the same object modules import at load

    assert early is database.db.async_session_maker
    assert early.kw["bind"] is database.db.engine
    async with early() as session:
        assert await session.scalar(text("select 1")) == 1


def test_importing_database_connects_nowhere() -> None:
    # The zygote pre-imports these before forking; nothing may open a socket or start a server.
    code = (
        "import sys, database, database.models, database.db\n"
        "assert database.db.engine is None\n"
        "print(sorted(m for m in ('pgserver', 'asyncpg') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    assert out.stdout.strip() == "[]"


async def test_core_tables_have_upstream_names_and_naive_timestamps(db: str) -> None:
    def describe(conn):
        insp = inspect(conn)
        tables = set(insp.get_table_names())
        columns = {t: {c["name"]: c for c in insp.get_columns(t)} for t in tables}
        indexes = {t: {tuple(i["column_names"]) for i in insp.get_indexes(t)} for t in tables}
        return tables, columns, indexes

    async with database.db.engine.connect() as conn:
        tables, columns, indexes = await conn.run_sync(describe)
    expected = {"users", "keys", "payments", "tariffs", "servers", "admins", "referrals", "notifications"}
    expected |= {"temporary_data", "blocked_users", "manual_bans", "coupons", "gifts"}
    assert expected <= tables
    assert {"tg_id", "balance", "trial", "preferred_currency", "source_code", "created_at", "updated_at"} <= set(columns["users"])
    assert {"client_id", "tg_id", "email", "expiry_time", "key", "remnawave_link", "is_frozen", "notified_24h"} <= set(
        columns["keys"]
    )
    assert {"selected_device_limit", "current_traffic_limit", "tariff_id", "alias"} <= set(columns["keys"])
    assert {"metadata", "payment_id", "original_amount", "currency"} <= set(columns["payments"])
    assert str(columns["users"]["created_at"]["type"]) == "TIMESTAMP"
    assert columns["users"]["created_at"]["type"].timezone is False
    assert ("tg_id",) in indexes["keys"] and ("is_frozen",) in indexes["keys"]
    assert ("payment_id",) in indexes["payments"]


async def test_init_db_is_idempotent_and_seeds_once(db: str) -> None:
    await init_db()
    await init_db(database.db.engine)
    async with async_session_maker() as session:
        assert len(await database.get_tariffs(session)) == 1
        assert sum(len(s) for s in (await database.get_servers(session)).values()) == 1


async def test_init_db_adds_the_columns_an_older_database_lacks(db: str, caplog: pytest.LogCaptureFixture) -> None:
    """A coupons table from before the percent/limit columns (an older upstream release): init_db adds
    them, existing rows keep their data and get the server default (or NULL), and the log says so."""
    async with database.db.engine.begin() as conn:
        await conn.execute(
            text("ALTER TABLE coupons DROP COLUMN percent, DROP COLUMN new_users_only, DROP COLUMN min_order_amount")
        )
        await conn.execute(text("INSERT INTO coupons (code, amount, usage_limit) VALUES ('OLD', 50, 3)"))
    with caplog.at_level(logging.WARNING, logger="solobot.database"):
        await init_db()
    assert "coupons.percent" in caplog.text and "coupons.new_users_only" in caplog.text
    async with database.db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT code, amount, percent, new_users_only, min_order_amount FROM coupons"))).one()
    assert tuple(row) == ("OLD", 50, None, False, None)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="solobot.database"):
        await init_db()  # nothing missing any more: nothing said
    assert "added columns" not in caplog.text


async def test_rows_read_like_dicts(db: str) -> None:
    await make_user(1, first_name="Ann")
    async with async_session_maker() as session:
        user = await session.get(User, 1)
        assert user["first_name"] == "Ann" and user.get("first_name") == "Ann"
        assert user.get("no_such_column", "dflt") == "dflt"
        with pytest.raises(KeyError):
            user["no_such_column"]
        as_dict = user.to_dict()
        assert as_dict["tg_id"] == 1 and as_dict["balance"] == 0.0 and as_dict["trial"] == 0
        assert as_dict["created_at"].tzinfo is None
        assert abs(as_dict["created_at"] - utcnow()) < timedelta(minutes=1)  # naive *UTC*, not local time

        pid = await database.add_payment(session, 1, 10, "test", metadata={"a": 1})
        await session.commit()
        payment = await session.get(Payment, pid)
        assert payment["metadata"] == {"a": 1} == payment.metadata_ == payment.to_dict()["metadata"]


# --- users, balance, trial ------------------------------------------------------------------


async def test_add_user_inserts_or_ignores(db: str) -> None:
    async with async_session_maker() as session:
        assert await database.add_user(session, 42, username="a", first_name="A", language_code="ru") is True
        assert await database.add_user(session, 42, username="changed") is False
        assert await database.check_user_exists(session, 42) is True
        assert await database.check_user_exists(session, 43) is False
    async with async_session_maker() as session:
        user = await session.get(User, 42)
        assert user.username == "a" and user.preferred_currency == "RUB"


async def test_add_user_without_commit_is_rolled_back_with_the_session(db: str) -> None:
    async with async_session_maker() as session:
        assert await database.add_user(session, 7, commit=False)
        await session.rollback()
        assert not await database.check_user_exists(session, 7)


async def test_update_balance_adds_and_refuses_to_go_below_zero(db: str) -> None:
    await make_user(1)
    async with async_session_maker() as session:
        assert await database.update_balance(session, 1, 100) == 100
        assert await database.update_balance(session, 1, -30.5) == 69.5
        with pytest.raises(ValueError, match="below zero"):
            await database.update_balance(session, 1, -70)
        assert await database.get_balance(session, 1) == 69.5
        assert await database.update_balance(session, 999, 5) is None  # unknown user: nothing to change
    async with async_session_maker() as session:  # committed
        assert await database.get_balance(session, 1) == 69.5
        assert await database.get_balance(session, 999) == 0.0


async def test_update_balance_is_atomic_under_concurrency(db: str) -> None:
    await make_user(1, balance=100)

    async def debit() -> bool:
        async with async_session_maker() as session:
            try:
                await database.update_balance(session, 1, -30)
                return True
            except ValueError:
                return False

    results = await asyncio.gather(*(debit() for _ in range(10)))
    assert results.count(True) == 3  # 100 → 70 → 40 → 10, the other seven are refused
    async with async_session_maker() as session:
        assert await database.get_balance(session, 1) == 10


async def test_trial_and_snapshot(db: str) -> None:
    await make_user(5)
    async with async_session_maker() as session:
        assert await database.get_trial(session, 5) == 0
        assert await database.update_trial(session, 5, 1) is True
        assert await database.get_trial(session, 5) == 1
        assert await database.update_trial(session, 404, 1) is False
        assert await database.get_trial(session, 404) == 0
        assert await database.get_user_snapshot(session, 5) == (1, 0)
        assert await database.get_user_snapshot(session, 404) is None
    await make_key(5, "k1")
    async with async_session_maker() as session:
        assert await database.get_user_snapshot(session, 5) == (1, 1)


# --- keys -------------------------------------------------------------------------------------


async def test_store_get_count_update_delete_keys(db: str) -> None:
    await make_user(10)
    first = await make_key(10, "alpha", selected_device_limit=3)
    await make_key(10, "beta")
    async with async_session_maker() as session:
        keys = await database.get_keys(session, 10)
        assert [k.email for k in keys] == ["alpha", "beta"] and all(isinstance(k, Key) for k in keys)
        assert keys[0]["current_device_limit"] == 3  # current defaults to selected on create
        assert await database.get_key_count(session, 10) == 2
        assert await database.get_key_count(session, 11) == 0

        await database.store_key(session, 10, first, "alpha", 123, "vless://new", "srv2")  # same client: update
        key = await database.get_key_by_email(session, "alpha")
        assert (key.key, key.server_id, key.expiry_time, key.selected_device_limit) == ("vless://new", "srv2", 123, 3)
        assert await database.get_client_id_by_email(session, "alpha") == first

        key.notified = key.notified_24h = True
        await session.commit()
        await database.update_key_expiry(session, first, 999_000)
        await session.refresh(key)
        assert (key.expiry_time, key.notified, key.notified_24h) == (999_000, False, False)

        assert await database.delete_key(session, first) == 1
        assert await database.get_key_count(session, 10) == 1
        assert await database.delete_key(session, 10) == 1  # an int: every key of that user
        assert await database.get_key_count(session, 10) == 0


async def test_key_needs_an_existing_user(db: str) -> None:
    async with async_session_maker() as session:
        with pytest.raises(IntegrityError):
            await database.store_key(session, 12345, "c", "e", 1, "k", "s")


async def test_get_key_details(db: str) -> None:
    await make_user(20, balance=55.5)
    await make_key(20, "mykey", days=10.5, alias="phone")
    async with async_session_maker() as session:
        details = await database.get_key_details(session, "mykey")
        assert await database.get_key_details(session, "missing") is None
    assert details["tg_id"] == 20 and details["balance"] == 55.5
    assert details["email"] == "mykey" and details["client_id"] == "client-mykey" and details["alias"] == "phone"
    assert details["link"] == "vless://mykey" and details["key"] == "vless://mykey"
    assert details["days_left_message"] == "Осталось дней: <b>10</b>"
    expiry = datetime.fromtimestamp(details["expiry_time"] / 1000, UTC)
    assert details["expiry_date"].startswith(f"{expiry.day} ") and f"{expiry.year} года {expiry:%H:%M}" in details["expiry_date"]
    for column in ("server_id", "created_at", "expiry_time", "is_frozen", "tariff_id", "remnawave_link"):
        assert column in details


def test_days_left_message_wording() -> None:
    from database.keys import days_left_message, format_expiry_date

    now = 1_700_000_000_000
    assert days_left_message(now - 1, now) == "<b>Ключ истек.</b>"
    assert days_left_message(now + 5 * 3_600_000, now) == "Осталось часов: <b>5</b>"
    assert days_left_message(now + 3 * DAY_MS + 10, now) == "Осталось дней: <b>3</b>"
    assert format_expiry_date(0) == "1 января 1970 года 00:00"


async def test_non_frozen_keys_for_the_notifications_loop(db: str) -> None:
    await make_user(30)
    await make_key(30, "live")
    await make_key(30, "frozen")
    async with async_session_maker() as session:
        key = await database.get_key_by_email(session, "frozen")
        key.is_frozen = True
        await session.commit()
        assert [k.email for k in await database.get_non_frozen_keys(session)] == ["live"]
        rows = await database.get_non_frozen_key_rows(session)
    assert [r["email"] for r in rows] == ["live"] and isinstance(rows[0], dict) and rows[0]["tg_id"] == 30


@pytest.mark.slow
async def test_non_frozen_keys_scale_to_100k(db: str) -> None:
    async with database.db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO users (tg_id, balance, trial) SELECT g, 0, 0 FROM generate_series(1, 20000) g"))
        await conn.execute(
            text(
                "INSERT INTO keys (client_id, tg_id, email, expiry_time, is_frozen) "
                "SELECT 'c' || g, 1 + g % 20000, 'e' || g, 0, g % 10 = 0 FROM generate_series(1, 100000) g"
            )
        )
    # How fast is benchmarks/bench_notifications.py's business (BENCHMARKS.md); what scales is
    # checked here: one statement for all keys, whatever their number, and plain rows.
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(database.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with async_session_maker() as session:
            rows = await database.get_non_frozen_key_rows(session)
    finally:
        event.remove(database.db.engine.sync_engine, "before_cursor_execute", count)
    assert len(rows) == 90_000 and len(statements) == 1, statements
    assert all(type(row) is dict for row in rows) and not any(row["is_frozen"] for row in rows)
    assert [row["tg_id"] for row in rows] == sorted(row["tg_id"] for row in rows)


# --- payments, referrals, tariffs, servers ---------------------------------------------------


async def test_add_payment_returns_id_without_committing(db: str) -> None:
    await make_user(40)
    async with async_session_maker() as session:
        pid = await database.add_payment(
            session, 40, 150.0, "yookassa", payment_id="ext-1", metadata={"order": 7}, original_amount=Decimal("1.5")
        )
        assert isinstance(pid, int)
        await session.rollback()
        assert await database.get_last_payments(session, 40) == []

        first = await database.add_payment(session, 40, 10, "stars", status="pending")
        second = await database.add_payment(session, 40, 20, "stars")
        await session.commit()
    async with async_session_maker() as session:
        payments = await database.get_last_payments(session, 40)
        assert [p["id"] for p in payments] == [second, first]
        assert payments[0]["currency"] == "RUB" and payments[0]["status"] == "success"
        assert [p["id"] for p in await database.get_last_payments(session, 40, statuses=["pending"])] == [first]
        assert await database.update_payment_status(session, first, "success")
        await session.commit()
        assert (await database.get_payment_by_id(session, first))["status"] == "success"
        assert await database.get_payment_by_payment_id(session, "nope") is None


async def test_referrals(db: str) -> None:
    for tg_id in (1, 2, 3, 4):
        await make_user(tg_id)
    async with async_session_maker() as session:
        assert await database.add_referral(session, 2, 1) is True
        assert await database.add_referral(session, 2, 1) is False  # already there
        assert await database.add_referral(session, 1, 1) is False  # self-referral
        assert await database.add_referral(session, 3, 1)
        assert await database.add_referral(session, 4, 2)  # level 2 for user 1
        assert await database.get_referral_count(session, 1) == 2
        await database.add_payment(session, 2, 100, "test")
        await database.add_payment(session, 4, 100, "test")
        await database.add_payment(session, 3, 100, "test", status="pending")  # not counted
        await session.commit()
    await make_key(3, "ref-key")
    async with async_session_maker() as session:
        stats = await database.get_referral_stats(session, 1)
    assert stats["total_referrals"] == 2
    assert stats["active_referrals"] == 1
    assert stats["referrals_by_level"] == {1: 2, 2: 1}
    assert stats["total_referral_bonus"] == pytest.approx(100 * 0.25 + 100 * 0.10)


async def test_tariffs(db: str) -> None:
    async with async_session_maker() as session:
        await database.create_tariff(
            session, {"name": "B", "group_code": "vip", "duration_days": 90, "price_rub": 400, "sort_order": 2}
        )
        await database.create_tariff(
            session, {"name": "A", "group_code": "vip", "duration_days": 30, "price_rub": 150, "sort_order": 1}
        )
        vip = await database.get_tariffs(session, group_code="vip")
        assert [t["name"] for t in vip] == ["A", "B"] and all(isinstance(t, dict) for t in vip)
        assert len(await database.get_tariffs(session)) == 3  # plus the seeded default
        one = await database.get_tariffs(session, tariff_id=vip[0]["id"])
        assert one == [vip[0]]
        assert (await database.get_tariff_by_id(session, vip[1]["id"]))["price_rub"] == 400
        assert await database.get_tariff_by_id(session, 99999) is None


async def test_get_servers_groups_by_cluster(db: str) -> None:
    async with async_session_maker() as session:
        await database.create_server(session, "de", "de-1", "http://de1", inbound_id="2", panel_type="remnawave")
        await database.create_server(session, "de", "de-2", "http://de2", enabled=False)
        servers = await database.get_servers(session)
        assert set(servers) == {"local", "de"}
        assert [s["server_name"] for s in servers["de"]] == ["de-1"]
        de1 = servers["de"][0]
        assert de1["cluster_name"] == "de" and de1["api_url"] == "http://de1" and de1["panel_type"] == "remnawave"
        assert de1["enabled"] is True and isinstance(de1["server_id"], int)
        for field in ("subscription_url", "inbound_id", "max_keys", "tariff_group"):
            assert field in de1
        with_disabled = await database.get_servers(session, include_enabled=True)
        assert [s["server_name"] for s in with_disabled["de"]] == ["de-1", "de-2"]


# --- temporary data, notifications, bans, admins -----------------------------------------------


async def test_temporary_data(db: str) -> None:
    await make_user(50)
    async with async_session_maker() as session:
        assert await database.get_temporary_data(session, 50) is None
        await database.create_temporary_data(session, 50, "waiting_payment", {"amount": 100})
        await database.create_temporary_data(session, 50, "waiting_card", {"amount": 200, "x": [1]})
        assert await database.get_temporary_data(session, 50) == {"state": "waiting_card", "data": {"amount": 200, "x": [1]}}
        await database.clear_temporary_data(session, 50)
        assert await database.get_temporary_data(session, 50) is None


async def test_notifications(db: str) -> None:
    await make_user(60)
    async with async_session_maker() as session:
        assert await database.check_notification_time(session, 60, "expiry") is True
        assert await database.get_last_notification_time(session, 60, "expiry") is None
        await database.add_notification(session, 60, "expiry")
        assert await database.check_notification_time(session, 60, "expiry", hours=12) is False
        assert await database.check_notification_time(session, 60, "expiry", hours=0) is True
        sent_ms = await database.get_last_notification_time(session, 60, "expiry")
        assert abs(sent_ms - time.time() * 1000) < 60_000
        await database.add_notification(session, 60, "expiry")  # upsert, not a duplicate key error
        await database.delete_notification(session, 60, "expiry")
        assert await database.get_last_notification_time(session, 60, "expiry") is None


async def test_bans_and_blocked_users(db: str) -> None:
    async with async_session_maker() as session:
        assert await database.is_user_banned(session, 70) is False
        await database.ban_user(session, 70, reason="spam", banned_by=1)
        assert await database.is_user_banned(session, 70) is True
        await database.ban_user(session, 70, until=utcnow() - timedelta(minutes=1))  # expired ban
        assert await database.is_user_banned(session, 70) is False
        await database.ban_user(session, 70, until=utcnow() + timedelta(days=1))
        assert await database.is_user_banned(session, 70) is True
        await database.unban_user(session, 70)
        assert await database.is_user_banned(session, 70) is False

        await database.create_blocked_user(session, 71)
        await database.create_blocked_user(session, 71)
        assert await database.is_user_blocked(session, 71)
        await database.delete_blocked_user(session, [71])
        assert not await database.is_user_blocked(session, 71)


async def test_admins(db: str) -> None:
    async with async_session_maker() as session:
        assert await database.is_admin(session, 80) is False
        assert await database.add_admin(session, 80, role="moderator") is True
        assert await database.add_admin(session, 80) is False
        assert await database.is_admin(session, 80) is True
        assert await database.get_admin_ids(session) == [80]


# --- module tables (the seed's example) --------------------------------------------------------


async def test_module_table_with_fk_to_users_and_on_conflict_do_nothing(db: str) -> None:
    class ChannelBonusClaim(Base):  # written exactly as the guide shows, legacy Column() style
        __tablename__ = "test_channel_bonus_claims"

        tg_id = Column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
        note = Column(String)
        claimed_at = Column(DateTime, default=utcnow)

    try:
        await init_db()  # the host creates module tables registered on Base
        await make_user(90)
        async with async_session_maker() as session:
            for _ in range(2):
                stmt = insert(ChannelBonusClaim).values(tg_id=90, note="x").on_conflict_do_nothing(index_elements=["tg_id"])
                await session.execute(stmt)
                await session.commit()
            claims = (await session.execute(select(ChannelBonusClaim))).scalars().all()
            assert [c.tg_id for c in claims] == [90] and claims[0].claimed_at.tzinfo is None
            with pytest.raises(IntegrityError):  # the foreign key is real
                await session.execute(insert(ChannelBonusClaim).values(tg_id=91))
            await session.rollback()
            await session.execute(text("DELETE FROM users WHERE tg_id = 90"))  # ON DELETE CASCADE
            await session.commit()
            assert (await session.execute(select(ChannelBonusClaim))).first() is None
    finally:
        Base.metadata.remove(ChannelBonusClaim.__table__)  # other tests' create_all must not see it


# --- embedded PostgreSQL -------------------------------------------------------------------------


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir) in cmdline:
            found.append(proc)
    return found


@pytest.mark.slow
def test_embedded_postgres_starts_serves_and_stops(tmp_path: Path) -> None:
    from database.embedded import EmbeddedPostgres

    data_dir = tmp_path / "pgdata"
    with EmbeddedPostgres(data_dir) as pg:
        pid = pg.pid
        assert pg.url.startswith("postgresql+asyncpg://") and "?host=" in pg.url
        assert psutil.pid_exists(pid) and postgres_processes(data_dir)
        script = f"""
            import asyncio
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import create_async_engine
            async def main():
                engine = create_async_engine({pg.url!r})
                async with engine.connect() as conn:
                    print((await conn.execute(text("select current_database()"))).scalar())
                await engine.dispose()
            asyncio.run(main())
        """
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "postgres"
    assert not pg.running
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert postgres_processes(data_dir) == []

    with EmbeddedPostgres(data_dir) as again:  # the data folder is reused, not re-initialised
        assert again.pid != pid
    assert postgres_processes(data_dir) == []


@pytest.mark.slow
async def test_resolve_database_url(tmp_path: Path) -> None:
    from config import load_settings
    from database.embedded import resolve_database_url

    given = load_settings({"DATABASE_URL": "postgresql://u:p@db:5432/bot"}, env_file=None, require_token=False)
    url, close = await resolve_database_url(given)
    assert url == "postgresql+asyncpg://u:p@db:5432/bot"
    await close()

    embedded = load_settings({"DATA_DIR": str(tmp_path)}, env_file=None, require_token=False)
    url, close = await resolve_database_url(embedded)
    try:
        assert (tmp_path / "postgres" / "PG_VERSION").exists()
        engine = database.db.bind(url)
        await init_db(engine)
        async with async_session_maker() as session:
            assert await session.scalar(select(Tariff.name)) is not None
            assert await session.scalar(select(Server.cluster_name)) == "local"
    finally:
        await database.db.dispose()
        await close()
    assert postgres_processes(tmp_path / "postgres") == []
