"""``python -m modcheck``."""

import sys

from .cli import main

sys.exit(main())
