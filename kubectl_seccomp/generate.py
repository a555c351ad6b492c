"""Build a profile from audit logs: the manual method (grep the node's audit
log for a process's SECCOMP records, turn numbers into names) automated.

Reads files in big blocks through :meth:`AuditScanner.feed_block`, so memory
depends on the number of distinct records, not on the size of the log.
"""

from __future__ import annotations

import gzip
import io
import multiprocessing
import multiprocessing.pool
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Optional, Protocol

from kubectl_seccomp.audit import Action, AuditScanner, Census, RecordKey, ScanStats, SeccompRecord, record_from_key
from kubectl_seccomp.census import active_census
from kubectl_seccomp.errors import AuditLogError
from kubectl_seccomp.files import STDIN, display_name
from kubectl_seccomp.observed import is_allowed
from kubectl_seccomp.profile import Profile

BLOCK_SIZE = 4 << 20
PARALLEL_MIN_BYTES = 32 << 20
MAX_WORKERS = 8


@dataclass(frozen=True)
class GenerateOptions:
    audit_logs: tuple[str, ...]
    pids: frozenset[int] = frozenset()
    comm: Optional[str] = None
    include_denied: bool = False
    log_denials: bool = False


@dataclass(frozen=True)
class SyscallSighting:
    """A distinct (arch, syscall, action) seen, with how often and by whom."""

    arch: str  # our arch name, or the hex audit arch when we have no table
    syscall: str  # the name, or the number when unknown
    action: Action
    count: int
    pids: tuple[int, ...]


@dataclass
class GenerateResult:
    options: GenerateOptions
    profile: Optional[Profile]
    stats: ScanStats
    records_used: int = 0
    records_filtered: int = 0  # SECCOMP records of processes not selected
    syscalls_per_arch: dict[str, int] = field(default_factory=dict)
    denials: list[SyscallSighting] = field(default_factory=list)
    unknown: list[SyscallSighting] = field(default_factory=list)
    other_actions: int = 0  # TRACE, USER_NOTIF, ALLOW, unknown codes
    pids_seen: tuple[int, ...] = ()


def _open(path: str) -> BinaryIO:
    if path == STDIN:
        raw: BinaryIO = sys.stdin.buffer
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
        except FileNotFoundError as error:
            raise AuditLogError(f"{path}: no such file") from error
        except IsADirectoryError as error:
            raise AuditLogError(f"{path}: is a directory, not an audit log") from error
        except PermissionError as error:
            raise AuditLogError(f"{path}: permission denied", hint="read it as a user who may (sudo)") from error
        except OSError as error:
            raise AuditLogError(f"{path}: cannot read: {error.strerror}") from error
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    try:
        magic = buffered.peek(2)[:2]
    except OSError as error:  # /proc/self/mem, a device that refuses reads
        buffered.close()
        raise AuditLogError(f"{display_name(path)}: cannot read: {error.strerror or error}") from error
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


def _blocks(stream: _Readable, name: str) -> Iterator[bytes]:
    """Blocks of whole lines (a line never straddles two blocks)."""
    try:
        while True:
            block = stream.read(BLOCK_SIZE)
            if not block:
                return
            if not block.endswith(b"\n"):
                block += stream.readline(BLOCK_SIZE)  # the rest of the last line (bounded: binary junk)
            yield block
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise AuditLogError(f"{name}: cannot read: {error}") from error


def scan_logs(paths: tuple[str, ...], pids: frozenset[int] = frozenset()) -> tuple[Counter[RecordKey], ScanStats]:
    """Count every distinct SECCOMP record in the logs (of ``pids`` only, if given)."""
    counts: Counter[RecordKey] = Counter()
    stats = AuditScanner().stats
    census = active_census()
    for path in paths:
        ranges = _parallel_ranges(path)
        if ranges:
            with _fork_pool(len(ranges)) as pool:
                parts = pool.starmap(_scan_range, [(path, start, end, pids, census) for start, end in ranges])
        else:
            parts = [_scan_stream(path, pids, census)]
        lines_before = stats.lines
        for part_counts, part_stats in parts:
            counts.update(part_counts)
            stats.absorb(part_stats)
        if stats.lines == lines_before:
            raise AuditLogError(f"{display_name(path)}: empty")
    return counts, stats


def _scan_stream(path: str, pids: frozenset[int], census: Optional[Census]) -> tuple[Counter[RecordKey], ScanStats]:
    scanner = AuditScanner()
    counts: Counter[RecordKey] = Counter()
    stream = _open(path)
    try:
        for block in _blocks(stream, path):
            counts.update(scanner.feed_block(block, pids, census))
    finally:
        if path != STDIN:
            stream.close()
    return counts, scanner.finish()


def _scan_range(
    path: str, start: int, end: int, pids: frozenset[int], census: Optional[Census]
) -> tuple[Counter[RecordKey], ScanStats]:
    """Scan the lines of bytes [start, end) of a plain file (start and end follow a newline)."""
    scanner = AuditScanner()
    counts: Counter[RecordKey] = Counter()
    with open(path, "rb") as stream:
        stream.seek(start)
        remaining = end - start
        for block in _blocks(_Limited(stream, remaining), path):
            counts.update(scanner.feed_block(block, pids, census))
    return counts, scanner.finish()


class _Limited:
    """A reader that stops after ``remaining`` bytes."""

    def __init__(self, stream: BinaryIO, remaining: int) -> None:
        self._stream = stream
        self._remaining = remaining

    def read(self, size: int) -> bytes:
        data = self._stream.read(min(size, self._remaining))
        self._remaining -= len(data)
        return data

    def readline(self, size: int) -> bytes:
        # Ranges end after a newline, so a line never runs past the range.
        line = self._stream.readline(min(size, self._remaining)) if self._remaining > 0 else b""
        self._remaining -= len(line)
        return line


def _parallel_ranges(path: str) -> list[tuple[int, int]]:
    """Byte ranges, cut after newlines, to scan a big plain file on every CPU; [] to scan it in one go.

    The regular expressions hold the GIL, so threads would not help; forked
    processes do. Only where fork exists (Linux, macOS), for plain
    uncompressed files big enough to repay starting the workers.
    """
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if path == STDIN or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return []
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as stream:
            if stream.read(2) == b"\x1f\x8b" or size < PARALLEL_MIN_BYTES:
                return []
            cuts = [0]
            for index in range(1, workers):
                stream.seek(size * index // workers)
                stream.readline()
                cuts.append(max(stream.tell(), cuts[-1]))
    except OSError:
        return []  # the sequential path reports the error properly
    cuts.append(size)
    return [(start, end) for start, end in zip(cuts, cuts[1:]) if end > start]


def _fork_pool(processes: int) -> multiprocessing.pool.Pool:
    return multiprocessing.get_context("fork").Pool(processes)


def generate(options: GenerateOptions) -> GenerateResult:
    """Scan the logs and build the allow-list of the selected processes' LOG records."""
    counts, stats = scan_logs(options.audit_logs, options.pids)
    if stats.records + stats.filtered == 0:
        raise AuditLogError(
            f"no SECCOMP records in {', '.join(options.audit_logs)} ({stats.lines} lines, {stats.malformed} malformed)",
            hint='run the workload under a profile {"defaultAction": "SCMP_ACT_LOG"} and read the log '
            "where the node's records go (audit.log with auditd, dmesg without)",
        )
    result = GenerateResult(options=options, profile=None, stats=stats, records_filtered=stats.filtered)
    allowed: set[tuple[str, str]] = set()
    # (arch, syscall, action, known name?) -> records, and -> pids
    sighting_counts: Counter[tuple[str, str, Action, bool]] = Counter()
    sighting_pids: dict[tuple[str, str, Action, bool], set[int]] = {}
    pids_seen: set[int] = set()
    for key, count in counts.items():
        record = record_from_key(key)
        pids_seen.add(record.pid)
        if not _selected(record, options):
            result.records_filtered += count
            continue
        action = record.action
        arch = record.arch
        arch_name = arch.name if arch else f"{record.audit_arch:x}"
        name = record.syscall_name
        sighting = (arch_name, name if name is not None else str(record.syscall), action, name is not None)
        sighting_counts[sighting] += count
        sighting_pids.setdefault(sighting, set()).add(record.pid)
        if is_allowed(action.name, options.include_denied):  # the policy record and record-local use
            if name is not None:  # an unknown number is reported below, never guessed
                result.records_used += count
                allowed.add((arch_name, name))
        elif not action.is_denial:
            result.other_actions += count
    for sighting, count in sorted(sighting_counts.items(), key=lambda item: (item[0][0], item[0][1], item[0][2].name)):
        arch_name, syscall, action, known = sighting
        seen = SyscallSighting(arch_name, syscall, action, count, tuple(sorted(sighting_pids[sighting])))
        if not known:
            result.unknown.append(seen)
        elif action.is_denial:
            result.denials.append(seen)
    result.pids_seen = tuple(sorted(pids_seen))
    if not allowed:
        if result.pids_seen:
            hint = f"processes with records: pids {', '.join(map(str, result.pids_seen[:10]))}" + (
                " ..." if len(result.pids_seen) > 10 else ""
            )
        else:  # the census skipped other pids' records without reading them
            hint = f"{result.records_filtered} records are of other processes; leave out --pid to list them"
        raise AuditLogError(_nothing_selected(options, result), hint=hint)
    per_arch: Counter[str] = Counter(arch for arch, _ in allowed)
    result.syscalls_per_arch = dict(sorted(per_arch.items()))
    result.profile = Profile.from_observations(allowed, log_denials=options.log_denials)
    return result


def _selected(record: SeccompRecord, options: GenerateOptions) -> bool:
    if options.pids and record.pid not in options.pids:
        return False
    return options.comm is None or record.comm == options.comm


def _nothing_selected(options: GenerateOptions, result: GenerateResult) -> str:
    wanted = []
    if options.pids:
        wanted.append("pid " + ", ".join(map(str, sorted(options.pids))))
    if options.comm is not None:
        wanted.append(f"comm {options.comm!r}")
    who = " and ".join(wanted) if wanted else "any process"
    if not result.pids_seen and options.pids:
        return f"no records of {who} in {', '.join(map(display_name, options.audit_logs))}"
    if result.denials and not options.include_denied:
        return f"no LOG records for {who}, only denials (add --include-denied to allow them)"
    return f"no LOG records with known syscall numbers for {who}"
