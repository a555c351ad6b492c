"""The follow loop: source lines -> parser -> attribution -> events.

One thread, one ``select``: on the audit source (or a short poll when it is a
regular file), the proc connector, and a wake-up pipe that SIGTERM/SIGINT
write to. Process events are always applied before the audit lines read in the
same turn, so a child's fork is known before its first record is attributed.
Counters are written every ``interval`` seconds and once more at the end.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from types import FrameType
from typing import Optional

from kubectl_seccomp.agent.attribution import Attributor
from kubectl_seccomp.agent.events import EventWriter
from kubectl_seccomp.agent.sources import MAX_LINES, AuditLogSource, Source
from kubectl_seccomp.audit import AuditScanner

FILE_POLL_SECONDS = 0.05


class Follower:
    """Follows ``source`` until stopped, writing events through ``writer``."""

    def __init__(self, source: Source, attributor: Attributor, writer: EventWriter, interval: float = 2.0) -> None:
        self.source = source
        self.attributor = attributor
        self.writer = writer
        self.interval = interval
        self.scanner = AuditScanner()
        self._stop_read, self._stop_write = os.pipe()
        os.set_blocking(self._stop_read, False)
        os.set_blocking(self._stop_write, False)
        self._stopping = False

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._stop_write, b"x")

    def install_signal_handlers(self) -> None:
        def handler(_signum: int, _frame: Optional[FrameType]) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def feed(self, lines: list[bytes]) -> None:
        """Parse, attribute and report lines (the hot path; also used by the bench).

        The parser counts the distinct records of the whole batch in one pass
        (:meth:`AuditScanner.feed_block`), so a pid is looked up and a record
        deduped once per batch, not once per line.
        """
        if not lines:
            return
        lookup = self.attributor.lookup
        record = self.writer.record
        batch: dict[bytes, Optional[str]] = {}  # pid -> container, once per batch
        for key, count in self.scanner.feed_block(b"\n".join(lines) + b"\n").items():
            pid = key[0]
            try:
                container = batch[pid]
            except KeyError:
                container = batch[pid] = lookup(int(pid))
            record(key, container, count)

    def sync_counters(self) -> None:
        stats = self.scanner.stats
        counters = self.writer.counters
        counters.records = stats.records
        counters.lost = stats.lost
        counters.malformed = stats.malformed
        counters.suppressed = stats.suppressed
        counters.overruns = self.source.overruns + (
            self.attributor.connector.overruns if self.attributor.connector is not None else 0
        )

    def run(self) -> None:
        """Loop until :meth:`stop`, or until a stream source ends."""
        connector = self.attributor.connector
        next_counters = time.monotonic() + self.interval
        try:
            while not self._stopping:
                fds = [self._stop_read]
                source_fd = self.source.fileno()
                if source_fd is not None:
                    fds.append(source_fd)
                if connector is not None:
                    fds.append(connector.fileno())
                timeout = max(0.0, next_counters - time.monotonic())
                if source_fd is None:
                    timeout = min(timeout, FILE_POLL_SECONDS)
                select.select(fds, [], [], timeout)
                self.attributor.poll_events()
                self.feed(self.source.read_lines())
                if isinstance(self.source, AuditLogSource) and self.source.at_eof:
                    break
                if time.monotonic() >= next_counters:
                    self.sync_counters()
                    self.writer.counters_event()
                    next_counters = time.monotonic() + self.interval
            # What arrived before the stop was asked for still counts (read
            # in bounded batches: until a read comes back short).
            self.attributor.poll_events()
            while True:
                lines = self.source.read_lines()
                self.feed(lines)
                if len(lines) < MAX_LINES:
                    break
        finally:
            self.scanner.finish()
            self.sync_counters()
            self.writer.counters_event()
            os.close(self._stop_read)
            os.close(self._stop_write)
