"""Local servers that follow the public HTTP APIs of the VPN panels the core supports.

They keep their state in memory and check what a real panel checks (authentication, required
fields, duplicates, unknown clients), so the core's panel clients are tested against the
protocol, not against themselves: ``RemnawaveServer`` (Remnawave's REST API under ``/api``)
and ``XuiServer`` (3x-ui's ``/login`` and ``/panel/api/inbounds``).
"""

from .remnawave_server import RemnawaveServer
from .xui_server import XuiServer

__all__ = ["RemnawaveServer", "XuiServer"]
