"""One problem found in a module: where it is, which rule, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class Finding:
    """A checker result; ``str()`` gives ``file:line:col: RULE message`` (line and col are 1-based)."""

    file: str
    line: int
    col: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.rule} {self.message}"
