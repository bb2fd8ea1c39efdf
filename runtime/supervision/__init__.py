"""Process supervision: the zygote fork server, one process per module, its lifecycle.

Read in this order: ``zygote`` (the fork server) and ``zygote_client`` (the host's handle on
it); ``process`` (one incarnation of a module process: channel, heartbeat, exit watch);
``supervisor`` (one module across incarnations: states, restarts with backoff);
``sandbox_setup`` (what each start is confined to, from ``modules.toml``). ``task_owner`` owns
background tasks, ``state_store`` persists what the operator stopped, ``module_logs`` and
``latency`` are what the host records about a module; ``manifest`` is what a module process
reports at the handshake; ``abandoned_fork`` kills the process of a fork whose caller gave up;
``once_in_thread`` runs a blocking check once for concurrent starts.
"""
