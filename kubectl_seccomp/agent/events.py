"""The agent's output: first sightings and counters, as JSON lines.

A node whose workload makes 100,000 syscalls a second must send kilobytes,
not megabytes, through the pod log stream, so :class:`EventWriter` prints one
line the first time it sees a (container, arch, syscall, action) and
otherwise only counts. The protocol (version 1; keys are stable, the record
workflow parses them)::

    {"event":"start","version":1,"source":"netlink","node":"<hostname>"}
    {"event":"syscall","container":"<id>","arch":"x86_64","name":"read","action":"LOG","pid":1,"comm":"sh"}
    {"event":"unknown","container":"<id>","arch":"x86_64","number":999,"action":"LOG"}
    {"event":"counters","records":N,"attributed":N,"unattributed":N,"filtered":N,
     "lost":N,"malformed":N,"suppressed":N,"overruns":N}
    {"event":"error","message":"..."}

``arch`` of an ``unknown`` event is the hex AUDIT_ARCH when we have no table
for that architecture. :meth:`EventWriter.record` is the hot path: a record
already seen costs one dict and one set lookup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Optional

from kubectl_seccomp.audit import RecordKey, SeccompRecord, record_from_key

PROTOCOL_VERSION = 1


@dataclass
class Counters:
    """What the agent has read, and what became of it."""

    records: int = 0  # SECCOMP records parsed
    attributed: int = 0  # ... tied to a container (reported or filtered)
    unattributed: int = 0  # ... of host processes, or of processes we could not trace
    filtered: int = 0  # ... of containers not asked for (--container)
    lost: int = 0  # audit serial numbers that never arrived
    malformed: int = 0  # lines that announced a SECCOMP record but did not parse
    suppressed: int = 0  # printk "callbacks suppressed" totals (kmsg)
    overruns: int = 0  # times a kernel buffer overflowed (kmsg EPIPE, netlink ENOBUFS)


class EventWriter:
    """Dedupe records into first-sighting events and write protocol lines."""

    MAX_DECODED = 200_000  # distinct raw records kept decoded (bounded memory)

    def __init__(self, out: BinaryIO, containers: Optional[Iterable[str]] = None) -> None:
        self.out = out
        # Container ids to report, each a full id or a prefix (podman shows 12
        # characters); None reports every container.
        self.containers = tuple(containers) if containers is not None else None
        self._wanted: dict[str, bool] = {}
        self.counters = Counters()
        self._decoded: dict[RecordKey, SeccompRecord] = {}
        self._seen_raw: set[tuple[str, bytes, bytes, bytes]] = set()
        self._seen: set[tuple[str, str, str, str]] = set()

    def emit(self, event: dict[str, object]) -> None:
        """Write one protocol line and flush it (the reader is a log stream)."""
        self.out.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        self.out.flush()

    def start(self, source: str, node: str) -> None:
        self.emit({"event": "start", "version": PROTOCOL_VERSION, "source": source, "node": node})

    def error(self, message: str) -> None:
        self.emit({"event": "error", "message": message})

    def counters_event(self) -> None:
        c = self.counters
        self.emit(
            {
                "event": "counters",
                "records": c.records,
                "attributed": c.attributed,
                "unattributed": c.unattributed,
                "filtered": c.filtered,
                "lost": c.lost,
                "malformed": c.malformed,
                "suppressed": c.suppressed,
                "overruns": c.overruns,
            }
        )

    def record(self, key: RecordKey, container: Optional[str], count: int = 1) -> None:
        """Count ``count`` parsed records ``key`` of ``container`` (None: unattributed)."""
        counters = self.counters
        if container is None:
            counters.unattributed += count
            return
        counters.attributed += count
        if self.containers is not None:
            wanted = self._wanted.get(container)
            if wanted is None:
                wanted = self._wanted[container] = container.startswith(self.containers)
            if not wanted:
                counters.filtered += count
                return
        raw = (container, key[3], key[4], key[5])
        if raw in self._seen_raw:
            return
        self._seen_raw.add(raw)
        self._first(container, self._decode(key))

    def _decode(self, key: RecordKey) -> SeccompRecord:
        record = self._decoded.get(key)
        if record is None:
            if len(self._decoded) >= self.MAX_DECODED:
                self._decoded.clear()
            record = self._decoded[key] = record_from_key(key)
        return record

    def _first(self, container: str, record: SeccompRecord) -> None:
        """A (container, arch, number, code) not seen before; report it unless known by name."""
        arch = record.arch
        action = record.action.name
        name = record.syscall_name
        if arch is None or name is None:
            arch_name = arch.name if arch is not None else f"{record.audit_arch:x}"
            seen_key = (container, arch_name, f"#{record.syscall}", action)
            if seen_key not in self._seen:
                self._seen.add(seen_key)
                self.emit(
                    {
                        "event": "unknown",
                        "container": container,
                        "arch": arch_name,
                        "number": record.syscall,
                        "action": action,
                    }
                )
            return
        seen_key = (container, arch.name, name, action)
        if seen_key in self._seen:  # same action, other data bits (errno)
            return
        self._seen.add(seen_key)
        self.emit(
            {
                "event": "syscall",
                "container": container,
                "arch": arch.name,
                "name": name,
                "action": action,
                "pid": record.pid,
                "comm": record.comm,
            }
        )
