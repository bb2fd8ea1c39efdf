"""Serving an aiohttp application on a free local port for the duration of a test."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LocalServer:
    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    def build(self) -> web.Application:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self.build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
