"""Census data: upstream names, the decisions about missing ones, and the generated census."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
UPSTREAM_FILE = HERE / "upstream.json"
DECISIONS_FILE = HERE / "decisions.toml"
CENSUS_FILE = HERE / "census.json"

PROVIDED = "provided"
MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Decision:
    """Why names matching ``modules``/``names`` (fnmatch patterns) are not provided, and what to use."""

    modules: tuple[str, ...]
    names: tuple[str, ...]
    reason: str
    instead: str

    def matches(self, module: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(module, p) for p in self.modules) and any(fnmatch.fnmatchcase(name, p) for p in self.names)


@dataclass(frozen=True, slots=True)
class Entry:
    """One upstream name and its status here (``reason``/``instead`` only when missing)."""

    module: str
    name: str
    kind: str
    status: str
    reason: str = ""
    instead: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Census:
    upstream: str
    commit: str
    entries: tuple[Entry, ...]
    _index: dict[tuple[str, str], Entry] = field(init=False, repr=False, compare=False)
    _modules: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(e.module, e.name): e for e in self.entries})
        object.__setattr__(self, "_modules", frozenset(e.module for e in self.entries))

    def lookup(self, module: str, name: str) -> Entry | None:
        return self._index.get((module, name))

    def knows_module(self, module: str) -> bool:
        return module in self._modules

    def module_entries(self, module: str) -> list[Entry]:
        return [e for e in self.entries if e.module == module]

    def to_json(self) -> str:
        body = {
            "upstream": self.upstream,
            "commit": self.commit,
            "entries": [[e.module, e.name, e.kind, e.status, e.reason, e.instead] for e in self.entries],
        }
        lines = ",\n".join(f"  {json.dumps(row, ensure_ascii=False)}" for row in body["entries"])
        head = json.dumps({k: v for k, v in body.items() if k != "entries"}, ensure_ascii=False)[:-1]
        return f'{head}, "entries": [\n{lines}\n]}}\n'

    @classmethod
    def from_json(cls, text: str) -> Census:
        data = json.loads(text)
        entries = tuple(Entry(*row) for row in data["entries"])
        return cls(data["upstream"], data["commit"], entries)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.entries]


def load_upstream() -> dict[str, Any]:
    return json.loads(UPSTREAM_FILE.read_text(encoding="utf-8"))


def load_decisions() -> list[Decision]:
    data = tomllib.loads(DECISIONS_FILE.read_text(encoding="utf-8"))
    return [
        Decision(tuple(d["modules"]), tuple(d.get("names", ["*"])), d["reason"].strip(), d.get("instead", "").strip())
        for d in data["missing"]
    ]


@cache
def load_census() -> Census:
    """The committed census (no core import): what the checker consults."""
    return Census.from_json(CENSUS_FILE.read_text(encoding="utf-8"))
