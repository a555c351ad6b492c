"""First-sighting dedupe, counters and the JSON-lines protocol."""

from __future__ import annotations

import io
import json

from kubectl_seccomp.agent.events import EventWriter
from kubectl_seccomp.audit import AuditScanner, RecordKey

C1 = "a" * 64
C2 = "b" * 64


def key(syscall: int, code: str = "7ffc0000", arch: str = "c000003e", pid: int = 7) -> RecordKey:
    line = (
        f'type=1326 msg=audit(1.0:1): auid=0 uid=0 gid=0 ses=1 pid={pid} comm="sh" exe="/bin/busybox" '
        f"sig=0 arch={arch} syscall={syscall} compat=0 ip=0x1 code=0x{code}"
    )
    found = AuditScanner().feed_line_key(line)
    assert found is not None
    return found


def lines(out: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_first_sighting_only_per_container_arch_name_action() -> None:
    out = io.BytesIO()
    writer = EventWriter(out)
    for _ in range(1000):
        writer.record(key(0), C1)
    writer.record(key(0, pid=8), C1)  # other pid, same syscall: not new
    writer.record(key(0), C2)  # other container: new
    writer.record(key(0, code="50001"), C1)  # denied (ERRNO): new action
    writer.record(key(0, code="50002"), C1)  # other errno, same action: not new
    writer.record(key(3, arch="40000003"), C1)  # i386: number 3 is read there
    events = lines(out)
    assert [(e["container"], e["arch"], e["name"], e["action"]) for e in events] == [
        (C1, "x86_64", "read", "LOG"),
        (C2, "x86_64", "read", "LOG"),
        (C1, "x86_64", "read", "ERRNO"),
        (C1, "i386", "read", "LOG"),
    ]
    assert events[0] == {
        "event": "syscall",
        "container": C1,
        "arch": "x86_64",
        "name": "read",
        "action": "LOG",
        "pid": 7,
        "comm": "sh",
    }
    assert writer.counters.attributed == 1005


def test_unknown_number_and_unknown_arch() -> None:
    out = io.BytesIO()
    writer = EventWriter(out)
    writer.record(key(999), C1)
    writer.record(key(999), C1)
    writer.record(key(1, arch="deadbeef"), C1)
    assert lines(out) == [
        {"event": "unknown", "container": C1, "arch": "x86_64", "number": 999, "action": "LOG"},
        {"event": "unknown", "container": C1, "arch": "deadbeef", "number": 1, "action": "LOG"},
    ]


def test_unattributed_and_filtered_are_counted() -> None:
    out = io.BytesIO()
    writer = EventWriter(out, containers=[C1[:12]])
    writer.record(key(0), None)
    writer.record(key(0), C2)
    writer.record(key(0), C1)
    c = writer.counters
    assert (c.unattributed, c.attributed, c.filtered) == (1, 2, 1)
    assert [e["container"] for e in lines(out)] == [C1]


def test_counters_event_keys_are_stable() -> None:
    out = io.BytesIO()
    writer = EventWriter(out)
    writer.start("netlink", "node-1")
    writer.counters_event()
    writer.error("boom")
    start, counters, error = lines(out)
    assert start == {"event": "start", "version": 1, "source": "netlink", "node": "node-1"}
    assert list(counters) == [
        "event",
        "records",
        "attributed",
        "unattributed",
        "filtered",
        "lost",
        "malformed",
        "suppressed",
        "overruns",
    ]
    assert error == {"event": "error", "message": "boom"}
