"""``host.worker_logs``'s merging of several workers' lines (the cluster test runs it end to end: ``test_workers``)."""

from __future__ import annotations

from pathlib import Path

from host.worker_logs import merged, tagged, worker_address


def test_lines_are_tagged_after_their_level_and_notices_in_front() -> None:
    line = "2026-12-07 05:03:36.984 INFO [module probe] stdout: who\n    a continuation"
    assert tagged(line, "vm-1") == "2026-12-07 05:03:36.984 INFO [vm-1] [module probe] stdout: who\n    a continuation"
    assert tagged("… 3 line(s) dropped: the reader was too slow", "vm-0") == "[vm-0] … 3 line(s) dropped: the reader was too slow"


def test_workers_lines_merge_by_time_keeping_each_workers_order_and_the_last_count() -> None:
    lines = {
        "vm-0": ["2026-12-07 05:00:00.001 INFO a1", "2026-12-07 05:00:00.003 INFO a2", "2026-12-07 05:00:00.003 INFO a3"],
        "vm-1": ["2026-12-07 05:00:00.002 INFO b1", "2026-12-07 05:00:00.004 WARNING b2"],
    }
    assert [line.rsplit(" ", 1)[1] for line in merged(lines, 10)] == ["a1", "b1", "a2", "a3", "b2"]
    assert [line.rsplit(" ", 1)[1] for line in merged(lines, 2)] == ["a3", "b2"]
    assert merged(lines, 0) == []


def test_each_worker_has_its_own_address_beside_the_shared_one() -> None:
    assert worker_address("\0solobot-control-abc", 4242) == "\0solobot-control-abc-4242"
    assert worker_address(Path("/run/solobot/control.sock"), 4242) == Path("/run/solobot/control.sock.4242")
