"""Parse kernel SECCOMP audit records from any form a node produces.

Standard library only: this module also runs inside the node agent's pod.

One regular expression reads the record, whatever carried it: auditd's
audit.log (RAW, or ENRICHED with its 0x1d-separated interpretation, which we
ignore because its ``SYSCALL=`` name is often wrong), ``dmesg`` with or without
``[timestamp]``, raw ``/dev/kmsg``, syslog/journal lines with a ``kernel:``
prefix, journald's own ``audit[PID]: SECCOMP`` form, and netlink payloads
(``type=1326 msg=audit(...): ...``). Two drivers share it:

* :meth:`AuditScanner.feed_line` returns one :class:`SeccompRecord` per line
  (the node agent follows records one at a time);
* :meth:`AuditScanner.feed_block` counts distinct records in a block of many
  lines without building an object per line (``generate`` reads logs of
  millions of lines).

Anything that is not a SECCOMP record, or is one that was truncated or garbled,
is counted and skipped; nothing here raises on input. Audit serial numbers are
consecutive per boot, so gaps between the serials of *all* audit lines read
(not only SECCOMP ones) count records the kernel or the printk ring lost.
"""

from __future__ import annotations

import enum
import functools
import heapq
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional, Union

from kubectl_seccomp.syscalls import Arch, arch_from_audit, syscall_name


class Action(enum.Enum):
    """The seccomp action a record reports (``code=``, data bits masked)."""

    KILL_PROCESS = 0x80000000
    KILL_THREAD = 0x00000000
    TRAP = 0x00030000
    ERRNO = 0x00050000
    USER_NOTIF = 0x7FC00000
    TRACE = 0x7FF00000
    LOG = 0x7FFC0000
    ALLOW = 0x7FFF0000
    UNKNOWN = -1

    @classmethod
    def from_code(cls, code: int) -> Action:
        try:
            return cls(code & 0xFFFF0000)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_denial(self) -> bool:
        """True for the actions that stop the syscall from doing its work."""
        return self in _DENIALS


_DENIALS = frozenset({Action.KILL_PROCESS, Action.KILL_THREAD, Action.TRAP, Action.ERRNO})


@dataclass(frozen=True)
class SeccompRecord:
    """One SECCOMP audit record (type 1326)."""

    pid: int  # host pid of the thread group
    comm: str
    exe: str
    audit_arch: int  # AUDIT_ARCH_* value
    syscall: int  # number, meaning depends on audit_arch
    code: int
    serial: Optional[int] = None  # None in forms that do not carry it
    time: Optional[float] = None

    @property
    def action(self) -> Action:
        return Action.from_code(self.code)

    @property
    def arch(self) -> Optional[Arch]:
        return arch_from_audit(self.audit_arch)

    @property
    def syscall_name(self) -> Optional[str]:
        """The syscall's name, or None when the number is unknown for its arch."""
        arch = self.arch
        return syscall_name(arch, self.syscall) if arch is not None else None


_VALUE = rb'("[^"\n\x1d]*"|[0-9A-Fa-f]+|\(null\))'
# The fields of a SECCOMP record come in a fixed order; optional ones (subj=,
# ses=, ...) are skipped by the lazy gaps, a whole space-separated field at a
# time (skipping byte by byte made the parser 2.5 times slower, and the node
# agent must keep up with 200,000 records a second). A line cut anywhere before
# code= does not match and counts as malformed.
_GAP = rb"(?: [^ \n\x1d]*)*?"


def _record_fields(pid: bytes) -> bytes:
    """The fields of a SECCOMP record from `` pid=`` on; ``pid`` is the pattern of the pid."""
    return (
        rb" pid=(" + pid + rb") comm=" + _VALUE + rb" exe=" + _VALUE
        + _GAP + rb" arch=([0-9a-fA-F]+) syscall=(\d+)" + _GAP + rb" code=0x([0-9a-fA-F]+)"
    )  # fmt: skip


_RECORD = (
    rb"(?:type=(?:SECCOMP|1326) (?:msg=)?audit\((\d+\.\d+):(\d+)\):|audit\[\d+\]: SECCOMP)"
    + _GAP
    + _record_fields(rb"\d+")
)
RECORD_RE = re.compile(_RECORD)
# A record whose fields did not all parse still announces itself with one of these.
_SECCOMP_MARK_RE = re.compile(rb"type=(?:SECCOMP|1326)[ \x1d]|audit\[\d+\]: SECCOMP ")
# A line's serial is its header's: the ``audit(SECONDS.MILLIS:SERIAL)`` that holds
# the line's first "(" (no header format has one before it). Message text may
# quote another ``audit(T:S)`` -- a userspace AUDIT_USER message, a comm or exe
# the kernel prints unescaped -- and counting that one would make a hole (or a
# "new boot") out of nothing: lost records that were never lost. Each pattern
# starts at a line's start, the first line's given a newline before it.
# auditd's own DAEMON_* records are numbered by auditd, not the kernel: they
# would look like gaps, so they are not serials we track.
_LINE_SERIAL_RE = re.compile(rb"\n[^\n(]*?type=(?!DAEMON_)\w+ (?:msg=)?audit\(\d+\.\d+:(\d+)\)")
_SUPPRESSED_RE = re.compile(rb"kauditd_printk_skb: (\d+) callbacks suppressed")
# The same, faster, for blocks without DAEMON_* records (the usual case).
_BLOCK_SERIAL_RE = re.compile(rb"\n[^\n(]*audit\(\d+\.\d+:(\d+)\)")
# For blocks of many lines: the same record fields as RECORD_RE, but starting at
# the literal " pid=" (and the selected pids), which re's literal search skips
# to far faster than it can try every line's start. Counts of the record marks
# (below) check that every match stands in a record line.
_MARKS = (b"SECCOMP", b"type=1326")  # "SECCOMP" covers type=SECCOMP and journald's audit[N]: SECCOMP


@functools.lru_cache(maxsize=16)
def _block_record_re(pids: frozenset[int]) -> re.Pattern[bytes]:
    pid = b"|".join(str(p).encode() for p in sorted(pids)) if pids else rb"\d+"
    return re.compile(_record_fields(pid))


class BlockCensus(NamedTuple):
    """What a block of lines holds besides its records (see :func:`census_block`)."""

    lines: int
    marks: int  # occurrences of the SECCOMP record marks
    # Every audit serial in order, or (first, last) when they never go down and
    # never skip a number (what the compiled census returns for such blocks).
    serials: Union[tuple[int, int], list[int]]
    suppressed: int  # kauditd_printk_skb "callbacks suppressed" totals
    # Where the selected processes' records can be: None for the whole block; the
    # compiled census gives just the lines holding " pid=N comm=" of a selected
    # pid, each from there on (the record pattern finds the same records in it).
    record_text: Optional[bytes] = None


# A census of a block for the selected pids; None where census_block must answer.
Census = Callable[[bytes, frozenset[int]], Optional[BlockCensus]]


def census_block(block: bytes) -> BlockCensus:
    """Count the lines, record marks and serials of a block of whole lines.

    The reference for the optional compiled census (``kubectl_seccomp._census``),
    which must give the same answer.
    """
    lines = block.count(b"\n")
    if block and not block.endswith(b"\n"):
        lines += 1
    marks = sum(block.count(mark) for mark in _MARKS)
    serial_texts = _serial_texts(block)
    serials = _serial_run(serial_texts) or list(map(int, serial_texts))
    suppressed = sum(int(n) for n in _SUPPRESSED_RE.findall(block)) if b"callbacks suppressed" in block else 0
    return BlockCensus(lines, marks, serials, suppressed)


def block_serials(block: bytes) -> list[int]:
    """Every audit serial of a block, in order (auditd's own DAEMON_* records left out)."""
    return list(map(int, _serial_texts(block)))


def _serial_texts(block: bytes) -> list[bytes]:
    """The header serial of each line that has one, in order."""
    serial_re = _LINE_SERIAL_RE if b"type=DAEMON_" in block else _BLOCK_SERIAL_RE
    return serial_re.findall(b"\n" + block)


def _serial_run(serials: list[bytes]) -> Optional[tuple[int, int]]:
    """(first, last) when the serials never go down and never skip a number; else None.

    Decided on the digits themselves, without an int per line: when every
    serial has as many digits as the others, their byte order is their number
    order, and distinct texts are distinct numbers.
    """
    if not serials:
        return None
    width = len(serials[0])
    if len(serials[-1]) != width or len(b"".join(serials)) != width * len(serials):
        return None
    first, last = int(serials[0]), int(serials[-1])
    if len(set(serials)) != last - first + 1 or serials != sorted(serials):
        return None
    return first, last


# The groups of a RECORD_RE match that identify a distinct record when counting
# (time and serial excluded).
RecordKey = tuple[bytes, bytes, bytes, bytes, bytes, bytes]


def _decode_value(raw: bytes) -> str:
    """comm=/exe= are quoted, or hex when they contain odd characters."""
    if raw.startswith(b'"'):
        return raw[1:-1].decode("utf-8", "replace")
    if raw == b"(null)":
        return ""
    try:
        return bytes.fromhex(raw.decode("ascii")).decode("utf-8", "replace")
    except ValueError:
        return raw.decode("ascii", "replace")


def record_from_key(key: RecordKey, serial: Optional[int] = None, time: Optional[float] = None) -> SeccompRecord:
    """Build the record for the identifying groups of a match."""
    pid, comm, exe, arch, syscall, code = key
    return SeccompRecord(
        pid=int(pid),
        comm=_decode_value(comm),
        exe=_decode_value(exe),
        audit_arch=int(arch, 16),
        syscall=int(syscall),
        code=int(code, 16),
        serial=serial,
        time=time,
    )


class SerialTracker:
    """Counts audit serial numbers that never showed up.

    Serials are consecutive per boot and shared by every audit record type, but
    lines can arrive slightly out of order (several CPUs) and one event can
    carry several records with the same serial. So we keep a bounded window of
    serials seen beyond the contiguous run and only call a serial lost once the
    window has moved past it: memory stays flat however long the log is. A
    record can still come later than that (its process was preempted between
    taking a serial and queueing the record while other CPUs logged thousands):
    the serials of the latest small holes are remembered, and one that turns
    up after all is taken back from ``lost``.
    """

    WINDOW = 4096
    LATE_HOLE = 16  # holes up to this many serials are remembered ...
    LATE_MEMORY = 4096  # ... this many serials at most, the oldest forgotten first

    def __init__(self) -> None:
        self.lost = 0
        self._contiguous: Optional[int] = None  # every serial up to here was seen
        self._ahead: list[int] = []  # a heap of serials seen beyond _contiguous
        self._highest = 0  # the highest serial in _ahead while it is not empty
        self.first: Optional[int] = None  # the first serial seen
        self._late: dict[int, None] = {}  # serials counted lost that may still come (insertion order)

    def see(self, serial: int) -> None:
        contiguous = self._contiguous
        if contiguous is None:
            self._contiguous = self.first = serial
            return
        if serial == contiguous + 1 and not self._ahead:
            self._contiguous = serial
            return
        if serial <= contiguous:
            if self._late and serial in self._late:  # counted lost, but here after all
                del self._late[serial]
                self.lost -= 1
            elif contiguous - serial > self.WINDOW:  # serials restart: a new boot
                self.finish()
                self._late.clear()
                self._contiguous = serial
            return
        heapq.heappush(self._ahead, serial)
        if serial > self._highest or len(self._ahead) == 1:
            self._highest = serial
        self._advance()
        while self._ahead and self._highest - self._contiguous > self.WINDOW:  # type: ignore[operator]
            # The oldest hole is too far behind to be filled by reordering: lost.
            first = heapq.heappop(self._ahead)
            self._count_hole(self._contiguous, first)  # type: ignore[arg-type]
            self._contiguous = first
            self._advance()

    def see_sorted_run(self, serials: list[int]) -> bool:
        """Fast path for a block of serials in order with no hole inside it.

        Returns False, having changed nothing, when the block is not such a run;
        the caller then feeds the serials one by one.
        """
        if not serials:
            return False
        first, last = serials[0], serials[-1]
        if len(set(serials)) != last - first + 1 or serials != sorted(serials):
            return False
        return self.see_run(first, last)

    def see_run(self, first: int, last: int) -> bool:
        """Take a block whose serials never go down and never skip a number, from ``first`` to ``last``.

        Returns False, having changed nothing, when serials seen before do not
        let the run be taken whole (some arrived out of order, or the run starts
        behind them); the caller then feeds the serials one by one.
        """
        if self._ahead:
            return False
        contiguous = first - 1 if self._contiguous is None else self._contiguous
        if first < contiguous:
            return False
        if self._contiguous is None:
            self.first = first
        if first > contiguous + 1:
            self._count_hole(contiguous, first)
        self._contiguous = last
        return True

    def _count_hole(self, before: int, after: int) -> None:
        """The serials between ``before`` and ``after`` never came (so far)."""
        self.lost += after - before - 1
        if after - before - 1 <= self.LATE_HOLE:
            late = self._late
            late.update(dict.fromkeys(range(before + 1, after)))
            while len(late) > self.LATE_MEMORY:
                del late[next(iter(late))]

    def _advance(self) -> None:
        ahead = self._ahead
        contiguous = self._contiguous
        assert contiguous is not None
        while ahead and ahead[0] <= contiguous + 1:
            contiguous = max(contiguous, heapq.heappop(ahead))
        self._contiguous = contiguous

    def finish(self) -> None:
        """Count the holes left in the window (end of input, or of a boot)."""
        while self._ahead:
            first = heapq.heappop(self._ahead)
            assert self._contiguous is not None
            self.lost += first - self._contiguous - 1
            self._contiguous = first
            self._advance()

    def absorb(self, later: SerialTracker) -> None:
        """Go on with what another tracker saw in the input that follows ours."""
        self.finish()
        later.finish()
        if later.first is None:
            return
        if self._contiguous is None:
            self.first = later.first
        elif later.first > self._contiguous + 1:  # (smaller: serials restarted, a new boot)
            self.lost += later.first - self._contiguous - 1
        self._contiguous = later._contiguous
        self.lost += later.lost


@dataclass
class ScanStats:
    """What a scan has read so far."""

    lines: int = 0
    records: int = 0
    malformed: int = 0  # announced itself as SECCOMP but did not parse
    other: int = 0  # not a SECCOMP record: other audit types, noise, binary
    suppressed: int = 0  # kauditd_printk_skb "callbacks suppressed" totals
    filtered: int = 0  # records of processes a block scan was told to leave out
    serials: SerialTracker = field(default_factory=SerialTracker)

    def absorb(self, later: ScanStats) -> None:
        """Add what a scan of the input that follows ours read."""
        self.lines += later.lines
        self.records += later.records
        self.malformed += later.malformed
        self.other += later.other
        self.suppressed += later.suppressed
        self.filtered += later.filtered
        self.serials.absorb(later.serials)

    @property
    def skipped(self) -> int:
        return self.malformed + self.other

    @property
    def lost(self) -> int:
        """Records lost according to serial gaps."""
        return self.serials.lost


class AuditScanner:
    """Reads lines of any supported form and keeps :class:`ScanStats`."""

    def __init__(self) -> None:
        self.stats = ScanStats()

    def feed_line(self, line: Union[bytes, str]) -> Optional[SeccompRecord]:
        """Parse one line; return its SECCOMP record, or None (counted) if it has none."""
        match = self.feed_line_match(line)
        if match is None:
            return None
        time_raw, serial_raw = match.group(1, 2)
        key: RecordKey = match.group(3, 4, 5, 6, 7, 8)  # type: ignore[assignment]
        return record_from_key(key, int(serial_raw) if serial_raw else None, float(time_raw) if time_raw else None)

    def feed_line_key(self, line: Union[bytes, str]) -> Optional[RecordKey]:
        """Like :meth:`feed_line`, but return only the record's identifying groups.

        For readers that see the same few records over and over (the node
        agent): they build the :class:`SeccompRecord` once per distinct key
        with :func:`record_from_key` instead of once per line.
        """
        match = self.feed_line_match(line)
        if match is None:
            return None
        return match.group(3, 4, 5, 6, 7, 8)  # type: ignore[return-value]

    def feed_line_match(self, line: Union[bytes, str]) -> Optional[re.Match[bytes]]:
        """Count one line; return the RECORD_RE match of its SECCOMP record, or None."""
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        stats = self.stats
        stats.lines += 1
        match = RECORD_RE.search(line)
        serial_match = _LINE_SERIAL_RE.match(b"\n" + line) if b"audit(" in line else None
        if serial_match is not None:
            stats.serials.see(int(serial_match.group(1)))
        if match is None:
            self._count_unparsed(line)
            return None
        stats.records += 1
        return match

    def feed_block(
        self, block: bytes, pids: frozenset[int] = frozenset(), census: Optional[Census] = None
    ) -> Counter[RecordKey]:
        """Count the distinct records of a block of whole lines.

        The same as :meth:`feed_line` on each line, without a Python object
        per line: this is what makes ``generate`` fast on big logs. With
        ``pids``, only those processes' records are counted; the others are
        counted in ``stats.filtered`` (and a malformed record among them is
        not told apart from them). ``census`` may stand in for
        :func:`census_block` (the compiled one does); where it returns None,
        :func:`census_block` answers.
        """
        stats = self.stats
        found = census(block, pids) if census is not None else None
        if found is None:
            found = census_block(block)
        record_text = found.record_text if pids and found.record_text is not None else block
        counts: Counter[RecordKey] = Counter(_block_record_re(pids).findall(record_text))
        records = sum(counts.values())
        if not pids and records != found.marks:
            # A malformed record, or record-like text outside a record line:
            # let the exact line-by-line parser decide (rare, so cheap overall).
            return self._feed_lines(block)
        stats.lines += found.lines
        serials = found.serials
        if isinstance(serials, tuple) and not stats.serials.see_run(*serials):
            serials = block_serials(block)  # rare: serials seen before arrived out of order
        if isinstance(serials, list) and not stats.serials.see_sorted_run(serials):
            for serial in serials:
                stats.serials.see(serial)
        stats.records += records
        stats.filtered += found.marks - records
        stats.other += found.lines - found.marks
        stats.suppressed += found.suppressed
        return counts

    def _feed_lines(self, block: bytes) -> Counter[RecordKey]:
        counts: Counter[RecordKey] = Counter()
        lines = block.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for line in lines:
            key = self.feed_line_key(line)
            if key is not None:
                counts[key] += 1
        return counts

    def _count_unparsed(self, line: bytes) -> None:
        stats = self.stats
        if _SECCOMP_MARK_RE.search(line):
            stats.malformed += 1
            return
        stats.other += 1
        suppressed = _SUPPRESSED_RE.search(line)
        if suppressed:
            stats.suppressed += int(suppressed.group(1))

    def finish(self) -> ScanStats:
        self.stats.serials.finish()
        return self.stats
