"""``python -m cli ...`` is ``solobot ...`` (the same entry point, without installing the script)."""

from .main import main

raise SystemExit(main())
