"""The ``watch`` side of the agent's ``calls`` lines (:mod:`kubectl_seccomp.agent.tally`),
and what they add up to: one row per pod, container, process and syscall.

Pure, like :mod:`kubectl_seccomp.trace` (whose events it reuses for the other
protocol lines): :func:`parse_watch_event` is total, :class:`WatchState`
attributes calls to the target's pods by container ID and keeps calls of IDs
not known yet until the pod list is refreshed. Counts are the agents' running
totals per container, so a repeated line replaces, never adds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Optional, Union

from kubectl_seccomp.agent.events import Counters
from kubectl_seccomp.trace import AgentFailure, Event, Start, Target, parse_event


@dataclass(frozen=True)
class Calls:
    """One process's calls of one syscall in one container, as the agent counted them."""

    container: str  # container ID
    arch: str
    name: Optional[str]  # None: a number our tables do not know
    number: int
    action: str  # LOG (complain mode), ERRNO (a denial logged by SECCOMP_FILTER_FLAG_LOG), KILL_*, TRAP
    comm: str
    exe: str
    pid: int
    count: int
    first: float  # Unix seconds, the agent's clock
    last: float


@dataclass(frozen=True)
class WatchRow:
    """What ``watch`` shows for one pod, container, process and syscall."""

    pod: str
    container: str
    node: str
    comm: str
    exe: str
    syscall: str  # the name by the record's arch, or ``#NUMBER``
    arch: str
    action: str
    count: int
    first: float
    last: float
    pid: int

    @property
    def key(self) -> tuple[str, str, str, str, str, str, str]:
        return (self.pod, self.container, self.comm, self.exe, self.arch, self.syscall, self.action)

    def as_dict(self) -> dict[str, object]:
        return {
            "time": self.last,
            "pod": self.pod,
            "container": self.container,
            "node": self.node,
            "comm": self.comm,
            "exe": self.exe,
            "pid": self.pid,
            "syscall": self.syscall,
            "arch": self.arch,
            "action": self.action,
            "count": self.count,
            "firstSeen": self.first,
            "lastSeen": self.last,
        }


WatchEvent = Union[Calls, Event]


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _time(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def parse_watch_event(line: str) -> WatchEvent:
    """A ``calls`` line -> :class:`Calls`; any other line as :func:`kubectl_seccomp.trace.parse_event` reads it."""
    text = line.strip()
    if '"calls"' in text:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("event") == "calls" and "container" in data:
            name = data.get("name")
            return Calls(
                container=str(data["container"]).lower(),
                arch=str(data.get("arch", "")),
                name=str(name) if isinstance(name, str) else None,
                number=_number(data.get("number")),
                action=str(data.get("action", "LOG")),
                comm=str(data.get("comm", "")),
                exe=str(data.get("exe", "")),
                pid=_number(data.get("pid")),
                count=_number(data.get("count")),
                first=_time(data.get("first")),
                last=_time(data.get("last")),
            )
    return parse_event(line)


@dataclass
class WatchState:
    """Every call seen so far from every node, by pod, container, process and syscall."""

    wanted: frozenset[str]  # container names to show
    targets: dict[str, Target] = field(default_factory=dict)
    rows: dict[tuple[str, ...], WatchRow] = field(default_factory=dict)
    pending: list[Calls] = field(default_factory=list)
    counters: dict[str, Counters] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    foreign: int = 0  # calls lines of containers that are not the target's

    def set_targets(self, targets: dict[str, Target]) -> list[WatchRow]:
        """A new container ID map; the rows that pending calls now resolve to."""
        self.targets = dict(targets)
        waiting, self.pending = self.pending, []
        changed = []
        for calls in waiting:
            row = self._apply(calls)
            if row is not None:
                changed.append(row)
        return changed

    def feed(self, node: str, event: WatchEvent) -> tuple[Optional[WatchRow], bool]:
        """Take one event; the row it changed, and whether it names a container ID we do not know."""
        if isinstance(event, Calls):
            if event.container not in self.targets:
                self.pending.append(event)
                return None, True
            return self._apply(event), False
        if isinstance(event, Counters):
            self.counters[node] = event
        elif isinstance(event, Start):
            self.sources[node] = event.source
        elif isinstance(event, AgentFailure):
            self.errors.append(f"{node}: {event.message}")
        return None, False

    def _apply(self, calls: Calls) -> Optional[WatchRow]:
        target = self.targets.get(calls.container)
        if target is None:
            self.pending.append(calls)
            return None
        if target.container not in self.wanted:
            self.foreign += 1
            return None
        syscall = calls.name or f"#{calls.number}"
        row = WatchRow(
            target.pod, target.container, target.node, calls.comm, calls.exe, syscall, calls.arch,
            calls.action, calls.count, calls.first, calls.last, calls.pid,
        )  # fmt: skip
        old = self.rows.get(row.key)
        if old is not None:
            row = replace(row, first=min(old.first, row.first), count=max(old.count, row.count))
        self.rows[row.key] = row
        return row

    def finish(self) -> None:
        """Calls whose container never resolved belong to other workloads."""
        self.foreign += len(self.pending)
        self.pending = []

    def calls_by_container(self) -> dict[str, set[tuple[str, str]]]:
        """Container name -> the (arch, syscall name) pairs seen (what ``--fold`` adds)."""
        result: dict[str, set[tuple[str, str]]] = {}
        for row in self.rows.values():
            if not row.syscall.startswith("#"):
                result.setdefault(row.container, set()).add((row.arch, row.syscall))
        return result

    def totals(self) -> Counters:
        values = list(self.counters.values())
        return Counters(**{key: sum(getattr(c, key) for c in values) for key in Counters.__dataclass_fields__})
