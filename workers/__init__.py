"""Several identical bot workers serving one bot (issue 14).

* ``arbiter`` — the small parent ``solobot run --workers N`` becomes: it opens the web port once,
  spawns N worker processes that inherit it, restarts the dead ones, forwards signals, and rolls
  them over one by one on SIGHUP;
* ``identity`` — which worker a process is (hostname + slot index, and its pid);
* ``database.worker_tables`` — the core tables the workers coordinate through;
* ``leadership`` — exactly-once duties (notifications, catalog watch) on one worker at a time;
* ``operations_journal`` — module start/stop/restart/reload reach every worker;
* ``heartbeat`` — each worker's state of each module, for ``solobot modules status``.
"""
