"""The agent's output for ``watch``: every call counted, per process, with times.

``record`` needs only first sightings (:class:`~kubectl_seccomp.agent.events.EventWriter`);
``watch`` shows how often each process made each call and when it was first and
last seen. :class:`TallyWriter` counts records per (container, comm, exe, arch,
syscall, action), writes a ``calls`` line at once for a new one (so a call shows
up within a second of the record) and, with each counters event, one more for
every key whose count grew since. Times are the agent's clock (Unix seconds)
when it read the record: the records arrive within milliseconds. Protocol
lines, beside those of :mod:`~kubectl_seccomp.agent.events`::

    {"event":"calls","container":"<id>","arch":"x86_64","name":"getpriority","number":140,
     "action":"LOG","comm":"busybox","exe":"/bin/busybox","pid":42,"count":3,"first":T,"last":T}

``name`` is null when our tables do not know the number; ``arch`` is then the
hex AUDIT_ARCH if the architecture is unknown too.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from kubectl_seccomp.agent.events import EventWriter
from kubectl_seccomp.audit import RecordKey

TallyKey = tuple[str, bytes, bytes, bytes, bytes, bytes]  # container, comm, exe, arch, syscall, code


class _Tally:
    __slots__ = ("count", "event", "first", "last", "pid", "reported")

    def __init__(self, now: float, pid: int, event: dict[str, object]) -> None:
        self.count = 0
        self.first = now
        self.last = now
        self.reported = 0
        self.pid = pid
        self.event = event


class TallyWriter(EventWriter):
    """Counts every record of every container; reports new keys at once and growth with each counters event."""

    MAX_KEYS = 100_000  # distinct keys kept (bounded memory); past it new keys are counted as filtered

    def __init__(self, out: object, clock: Callable[[], float] = time.time) -> None:
        super().__init__(out)  # type: ignore[arg-type]
        self.clock = clock
        self._tallies: dict[TallyKey, _Tally] = {}

    def record(self, key: RecordKey, container: Optional[str], count: int = 1) -> None:
        if container is None:
            self.counters.unattributed += count
            return
        self.counters.attributed += count
        now = self.clock()
        tkey = (container, key[1], key[2], key[3], key[4], key[5])
        tally = self._tallies.get(tkey)
        if tally is None:
            if len(self._tallies) >= self.MAX_KEYS:
                self.counters.filtered += count
                return
            tally = self._tallies[tkey] = _Tally(now, int(key[0]), self._describe(container, key))
            tally.count = count
            self._report(tally)
            return
        tally.count += count
        tally.last = now
        tally.pid = int(key[0])

    def _describe(self, container: str, key: RecordKey) -> dict[str, object]:
        record = self._decode(key)
        arch = record.arch
        return {
            "event": "calls",
            "container": container,
            "arch": arch.name if arch is not None else f"{record.audit_arch:x}",
            "name": record.syscall_name,
            "number": record.syscall,
            "action": record.action.name,
            "comm": record.comm,
            "exe": record.exe,
        }

    def _report(self, tally: _Tally) -> None:
        tally.reported = tally.count
        self.emit({**tally.event, "pid": tally.pid, "count": tally.count, "first": tally.first, "last": tally.last})

    def flush(self) -> None:
        """A ``calls`` line for every key whose count grew since it was last reported."""
        for tally in self._tallies.values():
            if tally.count != tally.reported:
                self._report(tally)

    def counters_event(self) -> None:
        self.flush()
        super().counters_event()
