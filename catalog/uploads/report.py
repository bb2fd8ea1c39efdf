"""The check report a developer sees for an upload: one section per step, errors block, warnings are shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    name: str  # "archive", "layout", "checker", "start"
    title: str  # Russian, for the page
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ran: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors  # a step left out on purpose (start check off) blocks nothing

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "title": self.title,
            "ok": self.ok,
            "ran": self.ran,
            "errors": self.errors,
            "warnings": self.warnings,
            "notes": self.notes,
        }


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    version: str | None = None
    requests: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    min_core: str | None = None

    def step(self, name: str, title: str) -> Step:
        step = Step(name, title)
        self.steps.append(step)
        return step

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def errors(self) -> list[str]:
        return [message for step in self.steps for message in step.errors]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "version": self.version, "steps": [s.to_json() for s in self.steps], "requests": self.requests}
