"""watch's side of the protocol: calls lines parsed, attributed to pods, counts replaced not added."""

from __future__ import annotations

import json

from kubectl_seccomp.trace import Noise, Start, Target
from kubectl_seccomp.watching import Calls, WatchState, parse_watch_event

C1 = "a" * 64


def line(count: int = 1, container: str = C1, name: object = "getpriority", last: float = 2.0) -> str:
    return json.dumps({"event": "calls", "container": container, "arch": "x86_64", "name": name, "number": 140,
                       "action": "LOG", "comm": "python3", "exe": "/usr/bin/python3.11", "pid": 9,
                       "count": count, "first": 1.0, "last": last})  # fmt: skip


def test_parse_calls_and_other_lines() -> None:
    event = parse_watch_event(line())
    assert isinstance(event, Calls) and (event.name, event.count, event.first) == ("getpriority", 1, 1.0)
    assert isinstance(parse_watch_event('{"event":"start","version":1,"source":"netlink","node":"n"}'), Start)
    assert isinstance(parse_watch_event('{"event":"calls"'), Noise)  # truncated
    assert isinstance(parse_watch_event("Traceback (most recent call last):"), Noise)


def test_calls_wait_for_their_pod_then_counts_replace() -> None:
    state = WatchState(wanted=frozenset({"web"}))
    row, unknown = state.feed("n1", parse_watch_event(line()))
    assert row is None and unknown
    (resolved,) = state.set_targets({C1: Target("web-1", "web", False, "n1")})
    assert (resolved.pod, resolved.container, resolved.syscall, resolved.count) == ("web-1", "web", "getpriority", 1)
    row, unknown = state.feed("n1", parse_watch_event(line(count=7, last=9.0)))
    assert row is not None and not unknown and (row.count, row.first, row.last) == (7, 1.0, 9.0)
    assert len(state.rows) == 1
    assert state.calls_by_container() == {"web": {("x86_64", "getpriority")}}


def test_other_containers_and_unknown_numbers() -> None:
    state = WatchState(wanted=frozenset({"web"}))
    state.set_targets({C1: Target("web-1", "sidecar", False, "n1"), "b" * 64: Target("web-1", "web", False, "n1")})
    assert state.feed("n1", parse_watch_event(line()))[0] is None  # the sidecar was not asked for
    row, _ = state.feed("n1", parse_watch_event(line(container="b" * 64, name=None)))
    assert row is not None and row.syscall == "#140"
    assert state.calls_by_container() == {}  # a number we cannot name is not folded
    state.feed("n1", parse_watch_event(line(container="c" * 64)))
    state.finish()
    assert state.foreign == 2
