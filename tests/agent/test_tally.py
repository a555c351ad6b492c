"""The watch protocol: every call counted per process, new keys at once, growth with each counters event."""

from __future__ import annotations

import io
import json

from kubectl_seccomp.agent.tally import TallyWriter
from kubectl_seccomp.audit import AuditScanner, RecordKey

C1 = "a" * 64
C2 = "b" * 64


def key(syscall: int, code: str = "7ffc0000", comm: str = "python3", pid: int = 7, arch: str = "c000003e") -> RecordKey:
    line = (
        f'type=1326 msg=audit(1.0:1): auid=0 uid=0 gid=0 ses=1 pid={pid} comm="{comm}" exe="/usr/bin/python3.11" '
        f"sig=0 arch={arch} syscall={syscall} compat=0 ip=0x1 code=0x{code}"
    )
    found = AuditScanner().feed_line_key(line)
    assert found is not None
    return found


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def calls(out: io.BytesIO) -> list[dict[str, object]]:
    return [e for e in (json.loads(line) for line in out.getvalue().splitlines()) if e["event"] == "calls"]


def test_new_call_is_reported_at_once_with_process_and_name() -> None:
    out, clock = io.BytesIO(), Clock()
    writer = TallyWriter(out, clock)
    writer.record(key(140), C1)  # getpriority on x86_64
    (event,) = calls(out)
    assert event == {
        "event": "calls", "container": C1, "arch": "x86_64", "name": "getpriority", "number": 140,
        "action": "LOG", "comm": "python3", "exe": "/usr/bin/python3.11", "pid": 7, "count": 1,
        "first": 100.0, "last": 100.0,
    }  # fmt: skip


def test_repeats_are_counted_and_reported_with_the_counters() -> None:
    out, clock = io.BytesIO(), Clock()
    writer = TallyWriter(out, clock)
    writer.record(key(140), C1)
    clock.now = 105.0
    writer.record(key(140, pid=8), C1, count=4)  # other pid, same process name: the same row
    assert len(calls(out)) == 1  # not yet
    writer.counters_event()
    last = calls(out)[-1]
    assert (last["count"], last["first"], last["last"], last["pid"]) == (5, 100.0, 105.0, 8)
    writer.counters_event()  # nothing grew: nothing repeated
    assert len(calls(out)) == 2
    assert json.loads(out.getvalue().splitlines()[-1])["attributed"] == 5


def test_keys_are_per_container_process_and_action() -> None:
    out = io.BytesIO()
    writer = TallyWriter(out, Clock())
    writer.record(key(124), C1)  # getsid, LOG
    writer.record(key(124), C2)  # other container
    writer.record(key(124, comm="sh"), C1)  # other process
    writer.record(key(124, code="50001"), C1)  # denied with SECCOMP_FILTER_FLAG_LOG
    writer.record(key(124), None)  # a host process: counted only
    assert [(e["container"], e["comm"], e["action"]) for e in calls(out)] == [
        (C1, "python3", "LOG"), (C2, "python3", "LOG"), (C1, "sh", "LOG"), (C1, "python3", "ERRNO"),
    ]  # fmt: skip
    assert writer.counters.unattributed == 1


def test_unknown_numbers_keep_the_number() -> None:
    out = io.BytesIO()
    TallyWriter(out, Clock()).record(key(4000), C1)
    (event,) = calls(out)
    assert event["name"] is None and event["number"] == 4000
