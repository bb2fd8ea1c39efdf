"""Catalog tables. Times are naive UTC (the project's convention); ids of people are Telegram user IDs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Account(Base):
    __tablename__ = "catalog_accounts"
    tg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)


class Application(Base):
    __tablename__ = "catalog_applications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("catalog_accounts.tg_id"), index=True)
    developer_name: Mapped[str] = mapped_column(String(128))
    contact: Mapped[str] = mapped_column(String(256))
    module_name: Mapped[str] = mapped_column(String(40), index=True)
    summary: Mapped[str] = mapped_column(String(300))
    repository_url: Mapped[str | None] = mapped_column(String(500))
    what_it_does: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / approved / rejected
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)


class Module(Base):
    __tablename__ = "catalog_modules"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("catalog_accounts.tg_id"), index=True)
    summary: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    image_key: Mapped[str | None] = mapped_column(String(200))
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Release(Base):
    __tablename__ = "catalog_releases"
    __table_args__ = (UniqueConstraint("module", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    module: Mapped[str] = mapped_column(String(40), ForeignKey("catalog_modules.name"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    archive_kind: Mapped[str] = mapped_column(String(8))  # zip / tar.gz
    signature: Mapped[str] = mapped_column(String(200))  # detached Ed25519 signature of the archive, base64url
    changelog: Mapped[str] = mapped_column(Text, default="")
    requests: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    min_core: Mapped[str | None] = mapped_column(String(64))
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # published / awaiting_moderation / rejected / yanked
    status: Mapped[str] = mapped_column(String(24), default="published")
    moderation_note: Mapped[str | None] = mapped_column(Text)  # why it waits for a moderator
    decision_reason: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int] = mapped_column(BigInteger)  # the module's owner when uploaded (a change of hands is moderated)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    yanked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Licence(Base):
    __tablename__ = "catalog_licences"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    module: Mapped[str] = mapped_column(String(40), ForeignKey("catalog_modules.name"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    bot_id: Mapped[int | None] = mapped_column(BigInteger)
    not_after: Mapped[datetime | None] = mapped_column(DateTime)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    issued_by: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    token: Mapped[str] = mapped_column(Text)


class ApiToken(Base):
    __tablename__ = "catalog_api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("catalog_accounts.tg_id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in the list so the developer recognises it
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginLink(Base):
    __tablename__ = "catalog_login_links"
    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # set when confirmed in the bot
    first_name: Mapped[str | None] = mapped_column(String(256))
    username: Mapped[str | None] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    __tablename__ = "catalog_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(48))
    object: Mapped[str] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Counter(Base):
    """Monotonic versions of the signed documents (``index``, ``revocations``)."""

    __tablename__ = "catalog_counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
