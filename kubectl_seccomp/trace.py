"""The record workflow's side of the node agent's wire format, and what it adds up to.

The agent prints JSON lines (protocol version 1, see
``kubectl_seccomp/agent/events.py``); :func:`parse_event` turns one line into a
frozen dataclass, pure and total: a line that is not an event (a stray
warning of the Python runtime, a truncated line) becomes :class:`Noise`
rather than an exception. :class:`TraceState` accumulates events of all nodes
and attributes them to the workload's containers by container ID; events of
IDs not known yet wait in ``pending`` until the pod list is refreshed.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Union

from kubectl_seccomp.agent.events import Counters
from kubectl_seccomp.observed import is_allowed, is_runtime


@dataclass(frozen=True)
class Start:
    node: str
    source: str
    version: int


@dataclass(frozen=True)
class Syscall:
    container: str
    arch: str
    name: str
    action: str
    pid: Optional[int] = None
    comm: str = ""


@dataclass(frozen=True)
class Unknown:
    container: str
    arch: str
    number: int
    action: str


@dataclass(frozen=True)
class AgentFailure:
    message: str


@dataclass(frozen=True)
class LogProfileFile:
    """A marker of the follower pod's shell: the log profile was installed or removed."""

    installed: bool


@dataclass(frozen=True)
class HandedOver:
    """An agent's answer to a handover request: the files it wrote (``{path: sha256}``), or why not."""

    request: str
    files: dict[str, str]
    failure: Optional[str] = None


@dataclass(frozen=True)
class Noise:
    line: str


Event = Union[Start, Syscall, Unknown, Counters, AgentFailure, LogProfileFile, HandedOver, Noise]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_event(line: str) -> Event:
    """One protocol line -> an event; anything else -> :class:`Noise`."""
    text = line.strip()
    if not text.startswith("{"):
        return Noise(text)
    try:
        data = json.loads(text)
    except ValueError:
        return Noise(text)
    if not isinstance(data, dict):
        return Noise(text)
    kind = data.get("event")
    try:
        if kind == "syscall":
            pid = data.get("pid")
            return Syscall(
                str(data["container"]).lower(),
                str(data["arch"]),
                str(data["name"]),
                str(data.get("action", "LOG")),
                pid if isinstance(pid, int) else None,
                str(data.get("comm", "")),
            )
        if kind == "unknown":
            return Unknown(
                str(data["container"]).lower(),
                str(data["arch"]),
                _int(data.get("number")),
                str(data.get("action", "LOG")),
            )
        if kind == "counters":
            return Counters(**{key: _int(data.get(key)) for key in Counters.__dataclass_fields__})
        if kind == "start":
            return Start(str(data.get("node", "")), str(data.get("source", "")), _int(data.get("version")))
        if kind in ("log-profile-installed", "log-profile-removed"):
            return LogProfileFile(kind == "log-profile-installed")
        if kind == "error":
            return AgentFailure(str(data.get("message", "unknown error")))
        if kind == "handed-over":
            files = data.get("files")
            if not isinstance(files, dict):
                return Noise(text)
            return HandedOver(str(data["id"]), {str(k): str(v) for k, v in files.items()})
        if kind == "handover-failed":
            return HandedOver(str(data["id"]), {}, str(data.get("message", "unknown error")))
    except KeyError:
        return Noise(text)
    return Noise(text)


@dataclass(frozen=True)
class Target:
    """Which container of which pod a container ID belongs to."""

    pod: str
    container: str
    init: bool
    node: str


@dataclass(frozen=True)
class TraceView:
    """A snapshot for the live view."""

    elapsed: float
    pods: int
    containers: int
    syscalls: int
    newest: tuple[str, ...]
    lost: int
    unattributed: int
    records: int
    sources: dict[str, str]
    idle: float
    agents_down: tuple[str, ...] = ()  # nodes whose agent is not followed right now


@dataclass
class TraceState:
    """Everything traced so far, from every node."""

    wanted: frozenset[str]  # container names whose syscalls we record
    include_denied: bool = False  # allow what a filter denied, too (see kubectl_seccomp.observed)
    targets: dict[str, Target] = field(default_factory=dict)
    observed: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # container name -> (arch, name)
    pods_seen: dict[str, set[str]] = field(default_factory=dict)  # container name -> pod names
    nodes_seen: dict[str, set[str]] = field(default_factory=dict)
    unknown: set[tuple[str, str, int]] = field(default_factory=set)  # (container, arch, number)
    pending: list[Union[Syscall, Unknown]] = field(default_factory=list)
    counters: dict[str, Counters] = field(default_factory=dict)  # node -> latest counters
    sources: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    runtime_calls: set[tuple[str, str]] = field(default_factory=set)  # first sighted in the runtime's init
    log_installed: set[str] = field(default_factory=set)  # nodes
    log_removed: set[str] = field(default_factory=set)
    noise: int = 0
    newest: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    started: float = field(default_factory=time.monotonic)
    last_new: float = field(default_factory=time.monotonic)
    foreign: int = 0  # events of containers that are not ours
    denied: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # left out: a filter denied them
    handed_over: dict[str, HandedOver] = field(default_factory=dict)  # node -> its agent's latest answer
    closed: bool = False  # the recording ended: syscalls read from now on are not of it (see close())

    def set_targets(self, targets: dict[str, Target]) -> None:
        """New container ID map; replays pending events that now resolve."""
        self.targets = dict(targets)
        waiting, self.pending = self.pending, []
        for event in waiting:
            self._apply(event, keep_pending=True)

    def feed(self, node: str, event: Event) -> bool:
        """Take one event of ``node``; True when it names a container ID we do not know."""
        if isinstance(event, (Syscall, Unknown)):
            return not self.closed and not self._apply(event, keep_pending=True)
        if isinstance(event, Counters):
            self.counters[node] = event
        elif isinstance(event, Start):
            self.sources[node] = event.source
        elif isinstance(event, LogProfileFile):
            if event.installed:  # a node's replacement agent installs it again
                self.log_installed.add(node)
                self.log_removed.discard(node)
            else:
                self.log_removed.add(node)
        elif isinstance(event, AgentFailure):
            self.errors.append(f"{node}: {event.message}")
        elif isinstance(event, HandedOver):
            self.handed_over[node] = event
        else:
            self.noise += 1
        return False

    def _apply(self, event: Union[Syscall, Unknown], keep_pending: bool) -> bool:
        target = self.targets.get(event.container)
        if target is None:
            if keep_pending:
                self.pending.append(event)
            return False
        if target.container not in self.wanted:
            return True
        self.pods_seen.setdefault(target.container, set()).add(target.pod)
        self.nodes_seen.setdefault(target.container, set()).add(target.node)
        if isinstance(event, Unknown):
            self.unknown.add((target.container, event.arch, event.number))
            return True
        key = (event.arch, event.name)
        if not is_allowed(event.action, self.include_denied):
            self.denied.setdefault(target.container, set()).add(key)
            return True
        if is_runtime(event.comm):
            self.runtime_calls.add(key)
        seen = self.observed.setdefault(target.container, set())
        if key not in seen:
            if not any(key[1] == name for _arch, name in self._all()):
                self.newest.append(event.name)
            seen.add(key)
            self.last_new = time.monotonic()
        return True

    def _all(self) -> set[tuple[str, str]]:
        result: set[tuple[str, str]] = set()
        for value in self.observed.values():
            result |= value
        return result

    def finish(self) -> None:
        """Count what never resolved as foreign (containers not of this workload)."""
        self.foreign += len(self.pending)
        self.pending = []

    def close(self) -> None:
        """End the recording here (:meth:`finish`, and syscalls fed later are left out), while the
        agents still run: their profiles are written from what was read until now."""
        self.finish()
        self.closed = True

    def totals(self) -> Counters:
        values = list(self.counters.values())
        return Counters(**{key: sum(getattr(c, key) for c in values) for key in Counters.__dataclass_fields__})

    def view(self, agents_down: tuple[str, ...] = ()) -> TraceView:
        totals = self.totals()
        now = time.monotonic()
        return TraceView(
            elapsed=now - self.started,
            pods=len(set().union(*self.pods_seen.values())) if self.pods_seen else 0,
            containers=len(self.observed),
            syscalls=len({name for _arch, name in self._all()}),
            newest=tuple(self.newest),
            lost=totals.lost,
            unattributed=totals.unattributed,
            records=totals.records,
            sources=dict(self.sources),
            idle=now - self.last_new,
            agents_down=agents_down,
        )
