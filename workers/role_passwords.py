"""Module role passwords shared by the workers (``ModuleSandboxes(role_passwords=...)``).

A module's database role ``mod_<name>`` is one role in the shared database, and every worker
runs a process of the module logging in as it. A single bot gives the role a fresh password for
its lifetime; a worker doing that would lock the other workers' processes of the module out (new
connections refused with the old password). So the first worker to need it draws a random
password and stores it in ``solobot_module_role_passwords``, a core table module roles cannot
read; every worker uses that one.
"""

from __future__ import annotations

import secrets

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class SharedRolePasswords:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def __call__(self, module: str) -> str:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO solobot_module_role_passwords (module, password) VALUES (:m, :p) ON CONFLICT (module) DO NOTHING"
                ),
                {"m": module, "p": secrets.token_urlsafe(24)},
            )
            return str(
                await conn.scalar(text("SELECT password FROM solobot_module_role_passwords WHERE module = :m"), {"m": module})
            )
