"""Containment of a module's processes: everything a module starts ends with it, and is counted.

- ``cgroup.py``: the one interface (``CgroupBackend``, ``ModuleCgroup``) and the limits it applies;
- ``cgroup_v2.py`` / ``cgroup_v1.py`` / ``no_cgroup.py``: its backends; ``choose.py`` picks one;
- ``host_folder.py``: where a host keeps its module cgroups, and the sweep of a crashed host's;
- ``hidden_files.py``: memfds, shared memory and unlinked-but-open files a module holds (what a
  walk of its folders never sees), for the resource watchdog.
"""
