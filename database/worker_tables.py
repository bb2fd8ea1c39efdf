"""The core tables workers coordinate through.

Module database roles get no privilege on them (``sandbox.db_roles`` revokes everything in
``public`` and grants only the operator's ``db_read``/``db_write`` tables, and PostgreSQL gives
PUBLIC no table privileges): a module can neither read nor lock, let alone write, a lease or an
operation. That is why leadership is a lease row here and not an advisory lock, which any role
can take (``leadership``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class WorkerLease(Base):
    """Who runs an exactly-once duty until when (the database's clock: workers' clocks may differ)."""

    __tablename__ = "solobot_worker_leases"
    duty: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModuleOperationRecord(Base):
    """The operator's last operation on a module and the state it leaves wanted (the truth with several workers)."""

    __tablename__ = "solobot_module_operations"
    module: Mapped[str] = mapped_column(String(255), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    operation: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(BigInteger)  # grows by one per operation: workers apply each once
    requested_by: Mapped[str] = mapped_column(String(255))  # the worker instance that ran it first
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ModuleRolePassword(Base):
    """The password of a module's database role, the same for every worker: each worker's process of
    the module logs in as the one role ``mod_<name>`` (``sandbox.db_roles``)."""

    __tablename__ = "solobot_module_role_passwords"
    module: Mapped[str] = mapped_column(String(255), primary_key=True)
    password: Mapped[str] = mapped_column(String(255))


class WorkerRecord(Base):
    """A worker process that is (or was recently) alive; ``seen_at`` older than a few beats: stale."""

    __tablename__ = "solobot_workers"
    instance: Mapped[str] = mapped_column(String(255), primary_key=True)
    slot: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WorkerModuleState(Base):
    """One worker's state of one module, as of its last heartbeat."""

    __tablename__ = "solobot_worker_modules"
    instance: Mapped[str] = mapped_column(String(255), primary_key=True)
    module: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
