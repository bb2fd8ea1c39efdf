"""modcheck: a static checker and a scaffold for Solobot modules (the seed's guide and publication checklist).

    from modcheck import check_module, check_paths, create_module
    findings = check_paths(["modules"])          # list[Finding], sorted; str(f) == "file:line:col: RULE message"
    folder = create_module("my_module", "modules", with_db=True)

The checker reads sources with ``ast`` only: module code is never imported or run.
"""

from __future__ import annotations

from .checker import UsageError, check_module, check_paths, module_folders
from .findings import Finding
from .rules import RULES
from .scaffold import ScaffoldError, create_module

__all__ = ["RULES", "Finding", "ScaffoldError", "UsageError", "check_module", "check_paths", "create_module", "module_folders"]
