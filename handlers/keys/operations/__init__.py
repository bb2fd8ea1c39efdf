"""Key operations on the VPN panel behind a cluster (upstream's ``handlers.keys.operations``).

A key's ``server_id`` is the cluster (or single server) it lives on, as upstream stores it; the
panel serving that cluster is the one registered for its servers' ``panel_type`` (``panels``),
or the core's default panel when none is registered.
"""

from .creation import create_key_on_cluster
from .deletion import delete_key_from_cluster
from .renewal import renew_key_in_cluster

__all__ = ["create_key_on_cluster", "delete_key_from_cluster", "renew_key_in_cluster"]
