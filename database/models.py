"""Core tables, with upstream's exact table and column names (COMPAT.md §3).

Modules declare their own tables on the same ``Base`` (the seed's ``from database.models
import Base``) and reference ``users.tg_id`` by foreign key, so names here are a contract.
Every DateTime column is ``TIMESTAMP WITHOUT TIME ZONE`` holding naive UTC, as upstream.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """Naive UTC now: what ``TIMESTAMP WITHOUT TIME ZONE`` columns hold (``datetime.utcnow`` is deprecated)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Shared metadata for core and module tables; ``DateTime`` maps to naive timestamps."""

    # Module models written for upstream's declarative_base() may annotate plain Column()s.
    __allow_unmapped__ = True
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=False), dict[str, Any]: JSON}


class DictLikeMixin:
    """Row objects that also read like the dicts upstream code indexes: ``obj["col"]``, ``obj.get``."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, _attribute_name(self, key))
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, _attribute_name(self, key), default)

    def to_dict(self) -> dict[str, Any]:
        """Column name → value (``payments.metadata`` appears under its column name)."""
        mapper = self.__mapper__  # type: ignore[attr-defined]
        return {column.name: getattr(self, attr.key) for attr in mapper.column_attrs for column in attr.columns[:1]}


def _attribute_name(obj: Any, key: str) -> str:
    # A column whose name clashes with a Python or SQLAlchemy attribute ("metadata") lives under
    # another attribute name; look it up by column name so obj["metadata"] works as upstream's dicts.
    column = obj.__table__.columns.get(key)
    if column is not None:
        for attr in obj.__mapper__.column_attrs:
            if column in attr.columns:
                return attr.key
    return key


class User(DictLikeMixin, Base):
    __tablename__ = "users"

    tg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String)
    first_name: Mapped[str | None] = mapped_column(String)
    last_name: Mapped[str | None] = mapped_column(String)
    language_code: Mapped[str | None] = mapped_column(String)
    is_bot: Mapped[bool | None] = mapped_column(Boolean, default=False)
    balance: Mapped[float | None] = mapped_column(Float, default=0.0)
    trial: Mapped[int | None] = mapped_column(Integer, default=0)
    preferred_currency: Mapped[str] = mapped_column(String(10), default="RUB", server_default="RUB", index=True)
    source_code: Mapped[str | None] = mapped_column(String, nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class Tariff(DictLikeMixin, Base):
    __tablename__ = "tariffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String)
    group_code: Mapped[str | None] = mapped_column(String)
    duration_days: Mapped[int | None] = mapped_column(Integer)
    price_rub: Mapped[int | None] = mapped_column(Integer)
    traffic_limit: Mapped[int | None] = mapped_column(BigInteger)
    device_limit: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool | None] = mapped_column(Boolean, default=True)
    subgroup_title: Mapped[str | None] = mapped_column(String)
    sort_order: Mapped[int | None] = mapped_column(Integer)
    vless: Mapped[bool | None] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class Key(DictLikeMixin, Base):
    __tablename__ = "keys"

    client_id: Mapped[str] = mapped_column(String, primary_key=True)
    tg_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.tg_id"), nullable=False, index=True)
    email: Mapped[str | None] = mapped_column(String, unique=True)
    created_at: Mapped[int | None] = mapped_column(BigInteger)  # ms since the epoch, as upstream
    expiry_time: Mapped[int | None] = mapped_column(BigInteger)  # ms since the epoch
    key: Mapped[str | None] = mapped_column(String)
    server_id: Mapped[str | None] = mapped_column(String)
    remnawave_link: Mapped[str | None] = mapped_column(String)
    tariff_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("tariffs.id", ondelete="SET NULL"))
    is_frozen: Mapped[bool | None] = mapped_column(Boolean, default=False, index=True)
    alias: Mapped[str | None] = mapped_column(String)
    notified: Mapped[bool | None] = mapped_column(Boolean, default=False)
    notified_24h: Mapped[bool | None] = mapped_column(Boolean, default=False)
    selected_device_limit: Mapped[int | None] = mapped_column(Integer)
    selected_traffic_limit: Mapped[int | None] = mapped_column(BigInteger)
    selected_price_rub: Mapped[int | None] = mapped_column(Integer)
    current_device_limit: Mapped[int | None] = mapped_column(Integer)
    current_traffic_limit: Mapped[int | None] = mapped_column(BigInteger)


class Server(DictLikeMixin, Base):
    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_name: Mapped[str | None] = mapped_column(String)
    server_name: Mapped[str | None] = mapped_column(String, unique=True)
    api_url: Mapped[str | None] = mapped_column(String)
    subscription_url: Mapped[str | None] = mapped_column(String)
    inbound_id: Mapped[str | None] = mapped_column(String)
    panel_type: Mapped[str | None] = mapped_column(String)
    max_keys: Mapped[int | None] = mapped_column(Integer)
    tariff_group: Mapped[str | None] = mapped_column(String)
    enabled: Mapped[bool | None] = mapped_column(Boolean, default=True)


class Payment(DictLikeMixin, Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tg_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.tg_id"))
    amount: Mapped[float | None] = mapped_column(Float)
    payment_system: Mapped[str | None] = mapped_column(String)
    status: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    original_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 8))
    currency: Mapped[str] = mapped_column(String(10), default="RUB", server_default="RUB")
    payment_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # "metadata" is reserved on declarative classes, hence the attribute name.
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)


class Admin(DictLikeMixin, Base):
    __tablename__ = "admins"

    tg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    token: Mapped[str | None] = mapped_column(String, unique=True)
    description: Mapped[str | None] = mapped_column(String)
    role: Mapped[str] = mapped_column(String, default="admin")
    added_at: Mapped[datetime | None] = mapped_column(default=utcnow)


class Referral(DictLikeMixin, Base):
    __tablename__ = "referrals"

    referred_tg_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
    referrer_tg_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
    reward_issued: Mapped[bool | None] = mapped_column(Boolean, default=False)


class Notification(DictLikeMixin, Base):
    __tablename__ = "notifications"

    tg_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
    notification_type: Mapped[str] = mapped_column(String, primary_key=True)
    last_notification_time: Mapped[datetime | None] = mapped_column(default=utcnow)


class TemporaryData(DictLikeMixin, Base):
    __tablename__ = "temporary_data"

    tg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str | None] = mapped_column(String)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class BlockedUser(DictLikeMixin, Base):
    """Users who blocked the bot (sending to them fails)."""

    __tablename__ = "blocked_users"

    tg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ManualBan(DictLikeMixin, Base):
    """Users an admin banned; ``until`` None means for ever."""

    __tablename__ = "manual_bans"

    tg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    banned_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    banned_by: Mapped[int | None] = mapped_column(BigInteger)
    until: Mapped[datetime | None] = mapped_column(nullable=True)


class Coupon(DictLikeMixin, Base):
    __tablename__ = "coupons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str | None] = mapped_column(String, unique=True)
    amount: Mapped[int | None] = mapped_column(Integer)
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    usage_count: Mapped[int | None] = mapped_column(Integer, default=0)
    is_used: Mapped[bool | None] = mapped_column(Boolean, default=False)
    days: Mapped[int | None] = mapped_column(Integer)
    new_users_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    percent: Mapped[int | None] = mapped_column(Integer)
    max_discount_amount: Mapped[int | None] = mapped_column(Integer)
    min_order_amount: Mapped[int | None] = mapped_column(Integer)


class CouponUsage(DictLikeMixin, Base):
    """Who activated which coupon (the primary key makes one activation per user)."""

    __tablename__ = "coupon_usages"

    coupon_id: Mapped[int] = mapped_column(Integer, ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    used_at: Mapped[datetime | None] = mapped_column(default=utcnow)


class Gift(DictLikeMixin, Base):
    __tablename__ = "gifts"

    gift_id: Mapped[str] = mapped_column(String, primary_key=True, default=lambda: uuid.uuid4().hex)
    sender_tg_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.tg_id"))
    recipient_tg_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.tg_id"))
    selected_months: Mapped[int | None] = mapped_column(Integer)
    expiry_time: Mapped[datetime | None] = mapped_column()
    gift_link: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    is_used: Mapped[bool | None] = mapped_column(Boolean, default=False)
    is_unlimited: Mapped[bool | None] = mapped_column(Boolean, default=False)
    max_usages: Mapped[int | None] = mapped_column(Integer)
    tariff_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("tariffs.id"))
