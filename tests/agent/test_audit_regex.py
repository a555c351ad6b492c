"""The faster RECORD_RE (whole-field gaps) reads every real line as the old one did."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubectl_seccomp.audit import _VALUE, RECORD_RE, AuditScanner

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "records"

# The regular expression audit.py had before the node agent needed it faster.
OLD_RECORD_RE = re.compile(
    rb"(?:type=(?:SECCOMP|1326) (?:msg=)?audit\((\d+\.\d+):(\d+)\):|audit\[\d+\]: SECCOMP)"
    rb"[^\n\x1d]*? pid=(\d+) comm="
    + _VALUE
    + rb" exe="
    + _VALUE
    + rb"[^\n\x1d]*? arch=([0-9a-fA-F]+) syscall=(\d+)[^\n\x1d]*? code=0x([0-9a-fA-F]+)"
)

EXTRA_LINES = [
    # journald form
    b"Nov 28 18:00:00 vm audit[5203]: SECCOMP auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined"
    b' pid=5203 comm="python3" exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall=110 compat=0'
    b" ip=0x7f801df3f4f7 code=0x7ffc0000",
    # hex-encoded comm (it had a space), netlink payload form
    b"type=1326 msg=audit(1795888369.305:7): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=1"
    b' comm=6D7920617070 exe="/usr/bin/my app" sig=0 arch=40000003 syscall=20 compat=1 ip=0x1 code=0x50001',
    # truncated before code=
    b"type=1326 msg=audit(1795888369.305:8): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=1"
    b' comm="x" exe="/x" sig=0 arch=c000003e syscall=20 compat=0 ip=0x1 co',
    b"\x00\xff\xfe binary \x1d junk type=1326",
]


def _lines() -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(FIXTURES.iterdir()):
        lines.extend(path.read_bytes().splitlines())
    return lines + EXTRA_LINES


def test_fixtures_are_there() -> None:
    assert sum(1 for line in _lines() if OLD_RECORD_RE.search(line)) > 50


@pytest.mark.parametrize("line", _lines())
def test_new_regex_reads_what_the_old_one_read(line: bytes) -> None:
    old = OLD_RECORD_RE.search(line)
    new = RECORD_RE.search(line)
    assert (old.groups() if old else None) == (new.groups() if new else None)


def test_feed_line_key_matches_feed_line() -> None:
    slow, fast = AuditScanner(), AuditScanner()
    for line in _lines():
        record = slow.feed_line(line)
        key = fast.feed_line_key(line)
        assert (record is None) == (key is None)
    a, b = slow.finish(), fast.finish()
    assert (a.lines, a.records, a.malformed, a.other, a.suppressed, a.lost) == (
        b.lines,
        b.records,
        b.malformed,
        b.other,
        b.suppressed,
        b.lost,
    )
    assert a.records > 50 and a.malformed >= 1
