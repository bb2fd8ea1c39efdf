"""``solobot modules status``: module status dicts (``ModuleSupervisor.status``) as a terminal table."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

from sandbox.containment.status import cgroup_line

MIN_ERROR_WIDTH = 20


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 1024 / 1024:.1f}"


def milliseconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.1f}" if ms < 10 else f"{ms:.0f}"


def one_line(text: str | None, width: int) -> str:
    """The first non-empty line, cut to ``width`` with an ellipsis."""
    if not text:
        return "-"
    line = next((part.strip() for part in text.splitlines() if part.strip()), "-")
    return line if len(line) <= width else line[: max(1, width - 1)] + "…"


CATALOG_LEGEND = "* installed from the catalog (`solobot modules status NAME` shows the release and its source)"
COLUMNS: tuple[tuple[str, str], ...] = (  # header, alignment
    ("MODULE", "<"),
    ("STATE", "<"),
    ("VERSION", "<"),
    ("PID", ">"),
    ("UPTIME", ">"),
    ("USS MB", ">"),  # what the module itself holds; RSS would count pages shared with the zygote
    ("RESTARTS", ">"),
    ("P50/P99 ms", ">"),
    ("LAST ERROR", "<"),
)


def _cells(status: dict[str, Any]) -> list[str]:
    return [
        str(status.get("name", "?")),
        str(status.get("state", "?")),
        str(status.get("version") or "-")[:12] + ("*" if status.get("source") else ""),  # *: from the catalog
        str(status.get("pid") or "-"),
        human_duration(status.get("uptime")),
        megabytes(status.get("uss")),
        str(status.get("restarts", 0)),
        f"{milliseconds(status.get('hook_p50'))}/{milliseconds(status.get('hook_p99'))}",
    ]


def render(statuses: Sequence[dict[str, Any]], width: int | None = None) -> str:
    """The table, fitted to ``width`` columns (default: the terminal's).

    The last error gets the room left on the row; in a narrow terminal (80 columns) the gaps
    shrink and the error moves to its own indented line under the module's row.
    """
    if not statuses:
        return "no modules (the modules folder has none)"
    width = width or shutil.get_terminal_size((100, 24)).columns
    rows = [_cells(s) for s in statuses]
    sizes = [max(len(header), *(len(row[i]) for row in rows)) for i, (header, _) in enumerate(COLUMNS[:-1])]
    for gap in ("  ", " "):
        room = width - sum(sizes) - len(gap) * len(sizes)
        if room >= MIN_ERROR_WIDTH:
            break

    def line(cells: Sequence[str]) -> str:
        parts = [f"{cell:{align}{size}}" for cell, size, (_, align) in zip(cells, sizes, COLUMNS, strict=False)]
        return gap.join(parts + list(cells[len(sizes) :])).rstrip()

    legend = [CATALOG_LEGEND] if any(s.get("source") for s in statuses) else []
    if room >= MIN_ERROR_WIDTH:
        lines = [line([header for header, _ in COLUMNS])]
        lines += [line([*row, one_line(s.get("last_error"), room)]) for row, s in zip(rows, statuses, strict=True)]
        return "\n".join(lines + legend)
    lines = [line([header for header, _ in COLUMNS[:-1]])]
    for row, status in zip(rows, statuses, strict=True):
        lines.append(line(row))
        if status.get("last_error"):
            lines.append("    last error: " + one_line(status["last_error"], max(MIN_ERROR_WIDTH, width - 16)))
    return "\n".join(lines + legend)


def details(status: dict[str, Any]) -> str:
    """Everything about one module, for ``solobot modules status NAME``: the full last error included."""
    hooks = ", ".join(status.get("hooks") or []) or "-"
    lines = [
        f"hooks: {hooks}",
        f"hook calls: {status.get('hook_calls', 0)}, errors: {status.get('hook_errors', 0)}, "
        f"timeouts: {status.get('hook_timeouts', 0)}",
    ]
    if status.get("hooks_resting"):
        lines.append("resting after a timeout (not asked for now): " + ", ".join(status["hooks_resting"]))
    source = status.get("source")
    if source:
        previous = (source.get("previous") or {}).get("version")
        kept = f"; previous {previous} kept for rollback" if previous else ""
        lines.append(f"installed from the catalog {source.get('source')}: {source.get('version')}{kept}")
    if status.get("webhook_path"):
        lines.append(f"webhook: {status['webhook_path']}")
    if status.get("max_updates_in_flight") is not None:
        lines.append(f"updates in flight: {status.get('updates_in_flight', 0)} (at most {status['max_updates_in_flight']})")
    cgroup = cgroup_line(status.get("sandbox"))
    if cgroup:  # where its processes live (and die with it), before the long list of layers
        lines.append(f"processes: {cgroup}")
    if status.get("sandbox"):
        lines.append("sandbox: " + "; ".join(status["sandbox"]))
    lines.extend(f"warning: {warning}" for warning in status.get("warnings") or [])
    if status.get("last_error"):
        lines.append("last error:\n  " + str(status["last_error"]).rstrip().replace("\n", "\n  "))
    return "\n".join(lines)


def render_workers(workers: Sequence[dict[str, Any]], module: str | None = None, error: str | None = None) -> str:
    """Several workers: each one's state of each module (of ``module`` only when given), stale ones marked.

    The table above is the answering worker's own view (with memory and latency); this is every
    worker's, from their heartbeats in the shared database.
    """
    if error:
        return f"workers: {error}"
    names = sorted({name for w in workers for name in w.get("modules", {})} if module is None else {module})
    header = ["WORKER", "PID", "UPTIME", *[name.upper() for name in names]]
    rows = []
    for worker in workers:
        label = str(worker.get("slot", "?")) + (
            f" (stale: silent {human_duration(worker.get('silent'))})" if worker.get("stale") else ""
        )
        states = worker.get("modules", {})
        rows.append(
            [
                label,
                str(worker.get("pid", "-")),
                human_duration(worker.get("uptime")),
                *[str(states.get(n, {}).get("state", "-")) for n in names],
            ]
        )
    if not rows:
        return "workers: none has reported yet"
    sizes = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = ["  ".join(f"{cell:<{size}}" for cell, size in zip(cells, sizes, strict=True)).rstrip() for cells in [header, *rows]]
    return "\n".join(["", "every worker (heartbeats in the shared database):", *lines])
