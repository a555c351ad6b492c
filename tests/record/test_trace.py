"""The agent's wire format as the record workflow reads it, and attribution to containers."""

from __future__ import annotations

import pytest

from kubectl_seccomp.trace import (
    AgentFailure,
    Counters,
    LogProfileFile,
    Noise,
    Start,
    Syscall,
    Target,
    TraceState,
    Unknown,
    parse_event,
)

CID = "a" * 64


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"event":"start","version":1,"source":"netlink","node":"n1"}', Start("n1", "netlink", 1)),
        (
            f'{{"event":"syscall","container":"{CID.upper()}","arch":"x86_64","name":"read","action":"LOG",'
            '"pid":7,"comm":"python3"}',
            Syscall(CID, "x86_64", "read", "LOG", 7, "python3"),
        ),
        (
            f'{{"event":"unknown","container":"{CID}","arch":"x86_64","number":999,"action":"LOG"}}',
            Unknown(CID, "x86_64", 999, "LOG"),
        ),
        (
            '{"event":"counters","records":5,"attributed":4,"unattributed":1,"lost":2,"malformed":0,'
            '"suppressed":0,"filtered":0,"overruns":3}',
            Counters(records=5, attributed=4, unattributed=1, lost=2, overruns=3),  # overruns kept
        ),
        ('{"event":"error","message":"no audit source"}', AgentFailure("no audit source")),
        ("Traceback (most recent call last):", Noise("Traceback (most recent call last):")),
        ('{"event":"syscall","arch":"x86_64"}', Noise('{"event":"syscall","arch":"x86_64"}')),
        ('{"event":"syscall", "truncat', Noise('{"event":"syscall", "truncat')),
        ("[1, 2]", Noise("[1, 2]")),
        ('{"event":"log-profile-installed"}', LogProfileFile(True)),
        ('{"event":"log-profile-removed"}', LogProfileFile(False)),
        ('{"event":"future-kind"}', Noise('{"event":"future-kind"}')),
    ],
)
def test_parse_event(line: str, expected: object) -> None:
    assert parse_event(line) == expected


def test_events_of_unknown_containers_wait_until_the_pod_list_names_them() -> None:
    state = TraceState(wanted=frozenset({"web"}))
    assert state.feed("n1", Syscall(CID, "x86_64", "read", "LOG")) is True  # unknown id: refresh wanted
    assert state.observed == {}
    state.set_targets({CID: Target("web-1", "web", False, "n1")})
    assert state.observed == {"web": {("x86_64", "read")}}
    assert state.pods_seen == {"web": {"web-1"}}


def test_unwanted_containers_and_leftovers_are_counted_not_recorded() -> None:
    state = TraceState(wanted=frozenset({"web"}))
    state.set_targets({CID: Target("web-1", "sidecar", False, "n1")})
    state.feed("n1", Syscall(CID, "x86_64", "read", "LOG"))
    state.feed("n1", Syscall("b" * 64, "x86_64", "write", "LOG"))
    state.finish()
    assert state.observed == {}
    assert state.foreign == 1


@pytest.mark.parametrize("include_denied", [False, True])
def test_denied_calls_are_left_out_unless_asked_and_runtime_calls_are_marked(include_denied: bool) -> None:
    state = TraceState(wanted=frozenset({"web"}), include_denied=include_denied)
    state.set_targets({CID: Target("web-1", "web", False, "n1")})
    state.feed("n1", Syscall(CID, "x86_64", "read", "LOG"))
    state.feed("n1", Syscall(CID, "x86_64", "mknodat", "ERRNO"))
    state.feed("n1", Syscall(CID, "x86_64", "capset", "LOG", 1, "runc:[2:INIT]"))
    state.feed("n1", Syscall(CID, "x86_64", "setns", "LOG", 1, "crun"))
    expected = {("x86_64", "read"), ("x86_64", "capset"), ("x86_64", "setns")}
    if include_denied:
        expected.add(("x86_64", "mknodat"))
    assert state.observed == {"web": expected}
    assert state.denied == ({} if include_denied else {"web": {("x86_64", "mknodat")}})
    assert state.runtime_calls == {("x86_64", "capset"), ("x86_64", "setns")}


def test_view_sums_counters_of_all_nodes_and_lists_newest_names() -> None:
    state = TraceState(wanted=frozenset({"web"}))
    state.set_targets({CID: Target("web-1", "web", False, "n1"), "c" * 64: Target("web-2", "web", False, "n2")})
    state.feed("n1", Start("n1", "netlink", 1))
    state.feed("n1", Counters(records=10, lost=1, unattributed=2))
    state.feed("n2", Counters(records=5, lost=0, unattributed=1))
    for name in ("read", "write", "read"):
        state.feed("n1", Syscall(CID, "x86_64", name, "LOG"))
    state.feed("n2", Syscall("c" * 64, "aarch64", "read", "LOG"))
    view = state.view()
    assert (view.records, view.lost, view.unattributed) == (15, 1, 3)
    assert view.syscalls == 2 and view.pods == 2 and view.containers == 1
    assert view.newest == ("read", "write")
    assert view.sources == {"n1": "netlink"}


def test_contract_agent_writer_to_cli_reader() -> None:
    """Every line the agent's EventWriter prints parses back into the event it meant, counters whole."""
    import io

    from kubectl_seccomp.agent.events import EventWriter
    from kubectl_seccomp.audit import AuditScanner

    out = io.BytesIO()
    writer = EventWriter(out)
    writer.start("netlink", "node-a")
    scanner = AuditScanner()
    for number in (0, 999):  # read(2), and a number no table names
        key = scanner.feed_line_key(
            f"type=SECCOMP msg=audit(1.0:{7 + number}): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=42 "
            f'comm="python3" exe="/usr/bin/python3" sig=0 arch=c000003e syscall={number} compat=0 ip=0x0 '
            "code=0x7ffc0000"
        )
        assert key is not None
        writer.record(key, CID)
    writer.counters = Counters(
        records=9, attributed=8, unattributed=1, filtered=2, lost=3, malformed=4, suppressed=5, overruns=6
    )
    writer.counters_event()
    writer.error("boom")
    events = [parse_event(text) for text in out.getvalue().decode().splitlines()]
    assert events == [
        Start("node-a", "netlink", 1),
        Syscall(CID, "x86_64", "read", "LOG", 42, "python3"),
        Unknown(CID, "x86_64", 999, "LOG"),
        Counters(records=9, attributed=8, unattributed=1, filtered=2, lost=3, malformed=4, suppressed=5, overruns=6),
        AgentFailure("boom"),
    ]
