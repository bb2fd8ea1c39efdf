"""Re-make, for one host call, the arguments the host could not send as they are.

The host replaces what only makes sense in its own process with a ``Ref``: its database session
(``Ref("session")``), its bot (``Ref("bot")``), an ``FSMContext`` (``Ref("state", key)``) and the
notification loop's key list (``Ref("keys", query)``, loaded here from the database so 100 000
keys never cross the channel). Telegram objects arrive unbound and are bound to this process's
bot so their shortcuts (``message.answer``…) work. One ``CallScope`` is one call: at most one
database session, committed when the call succeeds and rolled back when it fails.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject

from ipc import Ref
from runtime.aiogram_bridge.fsm_keys import key_from_wire

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from .context import ModuleContext


class CallScope:
    def __init__(self, context: ModuleContext) -> None:
        self._context = context
        self._session: AsyncSession | None = None
        self.failed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._context.open_session()
        return self._session

    async def resolve_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        resolved = dict(kwargs)
        for name, value in kwargs.items():
            if isinstance(value, (TelegramObject, Ref)):  # plain values are taken as they came
                resolved[name] = await self.resolve(value)
        return resolved

    async def resolve(self, value: Any) -> Any:
        if isinstance(value, TelegramObject):
            return self._context.bind(value)
        if not isinstance(value, Ref):
            return value
        if value.kind == "session":
            return self.session
        if value.kind == "bot":
            return self._context.bot
        if value.kind == "state":
            return FSMContext(storage=self._context.storage, key=key_from_wire(value.data))
        if value.kind == "keys":
            return await self._context.load_keys(self.session, value.data)
        raise ValueError(f"the host sent an unknown reference kind {value.kind!r}")

    async def __aenter__(self) -> CallScope:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if exc is None and not self.failed:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()
