"""``from logger import logger``: the shared logger modules and core code write to (upstream name).

Inside a module process the runtime attaches a handler that forwards records to the host,
where they appear tagged with the module's name.
"""

import logging

logger = logging.getLogger("solobot")

__all__ = ["logger"]
