"""How a purchased key is placed: on the least loaded cluster (upstream's "cluster mode"; its
country-selection mode is not part of this core)."""
