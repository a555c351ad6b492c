"""Property-based tests: no input makes the parser raise, and the two drivers agree."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_seccomp.audit import AuditScanner

_MARK = re.compile(rb"type=(?:SECCOMP|1326)|SECCOMP ")

REAL = (
    b"[  361.400134] audit: type=1326 audit(1795887962.749:7): auid=4294967295 uid=0 gid=0 ses=4294967295 "
    b'pid=5203 comm="python3" exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall=110 compat=0 '
    b"ip=0x7f801df3f4f7 code=0x7ffc0000"
)

fragments = st.sampled_from(
    [
        b"type=SECCOMP ",
        b"type=1326 ",
        b"msg=",
        b"audit(",
        b"1.2:3",
        b"): ",
        b"pid=",
        b"comm=",
        b'"x"',
        b"exe=",
        b"arch=",
        b"c000003e",
        b"syscall=",
        b"code=0x",
        b"7ffc0000",
        b"\x1d",
        b" ",
        b"\n",
        b"\x00",
        b"\xff",
        b"99",
        b"audit[1]: SECCOMP ",
        b"kauditd_printk_skb: 5 callbacks suppressed",
        b"(null)",
        b"DAEMON_START",
    ]
)
garbage = st.one_of(
    st.binary(max_size=300),
    st.lists(fragments, max_size=30).map(b"".join),
    st.tuples(st.integers(0, len(REAL)), st.binary(max_size=20)).map(lambda t: REAL[: t[0]] + t[1]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(garbage, max_size=20))
def test_no_line_makes_the_parser_raise(lines: list[bytes]) -> None:
    scanner = AuditScanner()
    for line in lines:
        scanner.feed_line(line)
        scanner.feed_line(line.decode("latin-1"))
    stats = scanner.finish()
    assert stats.lines == 2 * len(lines)
    assert stats.records + stats.malformed + stats.other == stats.lines
    assert stats.lost >= 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(garbage, st.integers(1, 50).map(lambda n: REAL.replace(b":7)", f":{n})".encode()))),
        max_size=30,
    )
)
def test_block_driver_agrees_with_line_driver(lines: list[bytes]) -> None:
    # A line carrying two records (garbage only) is where the drivers may differ.
    one_line = [line.replace(b"\n", b" ") for line in lines]
    one_line = [line for line in one_line if len(_MARK.findall(line)) <= 1]
    by_line = AuditScanner()
    records = [by_line.feed_line(line) for line in one_line]
    line_stats = by_line.finish()
    by_block = AuditScanner()
    counts = by_block.feed_block(b"".join(line + b"\n" for line in one_line))
    block_stats = by_block.finish()
    assert sum(counts.values()) == sum(r is not None for r in records)
    assert (
        block_stats.lines,
        block_stats.records,
        block_stats.malformed,
        block_stats.other,
        block_stats.lost,
    ) == (line_stats.lines, line_stats.records, line_stats.malformed, line_stats.other, line_stats.lost)
