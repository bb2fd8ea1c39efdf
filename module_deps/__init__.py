"""A module's own Python dependencies: what it declares, what installing them means, what is there.

A module lists its requirements in ``requirements.txt`` (upstream's convention) or in the
``[project] dependencies`` array of its ``module.toml``. The operator installs them with
``solobot modules deps NAME``: the resolver's plan (exact versions) is shown first, then those
exact versions are installed into the module's own site folder
``<DATA_DIR>/module-packages/<name>``, with the plan recorded there. Only that module's process
puts the folder on its ``sys.path`` (the zygote and other modules never do), and only that
module's sandbox may read it. A module whose requirements are not all there does not start: it
is ``failed`` with the list and the command to run. The catalog reuses the same steps.
"""

from .check import MissingRequirements, check_requirements
from .declared import RequirementsError, read_requirements
from .plan import InstallPlan, PipError, PlannedPackage, plan_install
from .site_folder import INSTALL_RECORD, install_plan, packages_root, read_record, site_dir

__all__ = (
    "INSTALL_RECORD",
    "InstallPlan",
    "MissingRequirements",
    "PipError",
    "PlannedPackage",
    "RequirementsError",
    "check_requirements",
    "install_plan",
    "packages_root",
    "plan_install",
    "read_record",
    "read_requirements",
    "site_dir",
)
