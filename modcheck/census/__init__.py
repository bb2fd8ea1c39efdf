"""The census of upstream Solobot's module-facing names: which exist here, and what to use for the rest.

Three files, one direction of flow:

* ``upstream.json`` — every public name of upstream's module-facing packages with its kind and,
  for functions, its parameters (made by ``extract.py`` from an upstream checkout);
* ``decisions.toml`` — written by hand: for names the core does not provide, why, and what a
  module should use instead (matched by module and name patterns, first match wins);
* ``census.json`` — generated (``python -m modcheck.census --write``): each upstream name with
  its status here. The checker reads it without importing the core; the same command rewrites
  the census section of ``docs/module-compatibility.md``. ``tests/test_census.py`` rebuilds both
  from the code and fails when they are stale, when a provided function's signature no longer
  accepts upstream's parameters, or when a missing name has no recorded reason.
"""

from __future__ import annotations

from .model import Census, Decision, Entry, load_census, load_decisions, load_upstream

__all__ = ("Census", "Decision", "Entry", "load_census", "load_decisions", "load_upstream")
