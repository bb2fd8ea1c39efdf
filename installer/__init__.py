"""Installing modules from the catalog: the operator's side (docs/catalog-install.md).

The bot fetches the catalog's signed index, verifies every download against the pinned key
(``catalog.verify``), checks the licence, stages the release with the catalog's own archive rules
and checker, grants what the operator agreed to in ``modules.toml`` and starts it sandboxed;
updates go through the runtime's reload (keep-last-good), the previous release stays for a
one-step rollback.
"""

from .errors import InstallRefused
from .service import Installer

__all__ = ["InstallRefused", "Installer"]
