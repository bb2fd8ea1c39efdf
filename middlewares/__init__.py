"""Core outer middlewares: they run on every update before any router (modules' included).

Order: throttling (no I/O, or one Redis command when workers share it), DB session, user
registration, admin flag, ban check, maintenance,
then the end of the checks' transaction (``ReleaseBeforeRouting``: no pooled connection is held
while a module handles the update).
This package depends on ``database`` and ``shared_state`` only; the handlers depend on it (``dp["maintenance"]``), never
the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Dispatcher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database import async_session_maker
from shared_state.flag import LocalFlag
from shared_state.user_gate import UserGate

from . import texts
from .admin import AdminMiddleware
from .bans import BanCheckMiddleware
from .maintenance import MaintenanceMiddleware, MaintenanceMode
from .outage import install_outage_answer
from .session import ReleaseBeforeRouting, SessionMiddleware
from .throttling import ThrottlingMiddleware
from .users import UserRegistrationMiddleware


def setup_middlewares(
    dp: Dispatcher,
    *,
    admin_ids: Iterable[int] = (),
    session_maker: async_sessionmaker[AsyncSession] | None = None,
    throttle_rate: float = 0.5,
    throttle_gate: UserGate | None = None,
    maintenance: MaintenanceMode | None = None,
) -> None:
    """Install the core middlewares on ``dp.update`` (outer) and the maintenance switch as
    ``dp["maintenance"]``. ``session_maker`` defaults to ``database.async_session_maker``;
    ``throttle_rate`` 0 turns throttling off; ``throttle_gate`` (default: this process's memory)
    is where users' last updates are remembered and ``maintenance`` the switch (default: this
    process's) — Redis when several workers serve the bot."""
    maintenance = maintenance if maintenance is not None else LocalFlag()
    dp["maintenance"] = maintenance
    install_outage_answer(dp)  # Redis away: the user is asked to retry (fail-closed FSM), no traceback per update
    dp.update.outer_middleware(ThrottlingMiddleware(throttle_rate, texts.THROTTLED, throttle_gate))
    dp.update.outer_middleware(SessionMiddleware(session_maker or async_session_maker))
    dp.update.outer_middleware(UserRegistrationMiddleware())
    dp.update.outer_middleware(AdminMiddleware(admin_ids))
    dp.update.outer_middleware(BanCheckMiddleware(texts.BANNED))
    dp.update.outer_middleware(MaintenanceMiddleware(maintenance, texts.MAINTENANCE))
    dp.update.outer_middleware(ReleaseBeforeRouting())
