"""One TOML spelling of a permission value, for lines the operator pastes into ``modules.toml``.

Both the CLI's summary (``network = true, tcp_ports = [443]``) and the "grant in modules.toml"
hints print values that must read back exactly as the operator sees them, so they share this.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

TomlScalar = bool | int | float | str


def toml_value(value: TomlScalar | Sequence[TomlScalar]) -> str:
    """``value`` as a TOML literal that :mod:`tomllib` reads back as the same value (a tuple as an array)."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        # 10.0 → "10": the permission keys that take numbers accept integers, and it reads as typed.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        # JSON's escapes (\" \\ \n \uXXXX) are all valid in a TOML basic string; JSON leaves DEL
        # (U+007F) raw, which TOML forbids there.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML spelling for {type(value).__name__} values: {value!r}")
