"""The compiled block census gives what the pure-Python one (the reference) gives.

``kubectl_seccomp._census`` is built by ``pip install`` where a C compiler is
present (the test set-up installs one); ``generate`` falls back to
``kubectl_seccomp.audit.census_block`` without it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_seccomp import census as census_module
from kubectl_seccomp.audit import AuditScanner, BlockCensus, Census, _block_record_re, block_serials, census_block
from kubectl_seccomp.census import PURE_PYTHON_ENV, active_census, compiled_census, describe
from tests.unit.test_audit_properties import REAL, garbage

RECORDS = Path(__file__).resolve().parent.parent / "fixtures" / "records"
SECCOMP = (
    b"type=SECCOMP msg=audit(1795888199.929:%d): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=%d "
    b'comm="python3" exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall=%d compat=0 ip=0x7fab50da526f '
    b"code=0x7ffc0000"
)
OTHER = b'type=SYSCALL msg=audit(1795888199.929:%d): arch=c000003e syscall=59 success=yes pid=1 comm="sh"'


def seccomp(serial: int, pid: int = 101, nr: int = 1) -> bytes:
    return SECCOMP % (serial, pid, nr)


def assert_same(block: bytes, pids: frozenset[int]) -> Optional[BlockCensus]:
    """The compiled census of ``block`` says what census_block says (None: it left the block to Python)."""
    compiled = compiled_census(block, pids)
    reference = census_block(block)
    if compiled is None:
        return None
    assert (compiled.lines, compiled.marks, compiled.suppressed) == (reference.lines, reference.marks, 0)
    serials = block_serials(block)
    is_run = bool(serials) and all(0 <= later - earlier <= 1 for earlier, later in zip(serials, serials[1:]))
    if is_run:
        assert compiled.serials == (serials[0], serials[-1])
    else:
        assert compiled.serials == serials
    # The Python census finds runs too, when their serials have the same number of digits.
    if isinstance(reference.serials, tuple):
        assert reference.serials == compiled.serials
    else:
        assert reference.serials == serials
    pattern = _block_record_re(pids)
    if pids:
        assert compiled.record_text is not None
        assert Counter(pattern.findall(compiled.record_text)) == Counter(pattern.findall(block))
    else:
        assert compiled.record_text is None
    return compiled


def test_the_compiled_census_is_built_and_used() -> None:
    assert census_module._compiled is not None, "kubectl_seccomp._census was not built: no C compiler at install?"
    assert active_census() is compiled_census
    assert describe() == "census: compiled"


def test_the_environment_switches_to_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    assert active_census() is None
    assert describe().startswith("census: pure Python")


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDS.iterdir()))
@pytest.mark.parametrize("pids", [frozenset(), frozenset({5203})])
def test_real_fixture_files(name: str, pids: frozenset[int]) -> None:
    data = (RECORDS / name).read_bytes()
    pid_values = {int(p) for p in re.findall(rb" pid=(\d+) comm=", data)}
    selected = frozenset(sorted(pid_values)[:1]) if pids else pids
    if b"type=DAEMON_" in data or b"callbacks suppressed" in data:
        assert compiled_census(data, selected) is None
    else:
        assert assert_same(data, selected) is not None


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (b"", (0, 0, [])),
        (b"no records at all\n", (1, 0, [])),
        (seccomp(5) + b"\n" + OTHER % 6 + b"\n" + seccomp(6) + b"\n" + seccomp(7), (4, 3, (5, 7))),
        (seccomp(9) + b"\n" + seccomp(7) + b"\n", (2, 2, [9, 7])),  # out of order: every serial
        (seccomp(1) + b"\n" + seccomp(3) + b"\n", (2, 2, [1, 3])),  # a hole: every serial
        # A line's serial is its header's (the first "(" of the line); later audit(T:S) are text.
        (b"audit(1.2:3) audit(x.2:4) audit(1.:5) audit(1.2:) audit(1.2:6 audit(1.2:7)", (1, 0, (3, 3))),
        (b"audit(x.2:4) audit(1.2:3)\naudit(1.:5)\naudit(1.2:)\naudit(1.2:6\naudit(1.2:7)", (5, 0, (7, 7))),
        (b"type=1107 msg=audit(1.2:10): msg='audit(1.2:99)'\n" + seccomp(11) + b"\n", (2, 1, (10, 11))),
        (b"x(y) audit(1.2:12)\n" + seccomp(13) + b' comm="audit(1.2:2)"\n', (2, 1, (13, 13))),
        (b"[1.2] audit: type=1326 audit(1.2:8): x\naudit[5]: SECCOMP x\n", (2, 2, (8, 8))),
        (b"audit(1.2:007)\n", (1, 0, (7, 7))),
    ],
)
def test_table(block: bytes, expected: tuple[int, int, object]) -> None:
    found = assert_same(block, frozenset())
    assert found is not None
    assert (found.lines, found.marks, found.serials) == expected


@pytest.mark.parametrize(
    "block",
    [
        b"type=DAEMON_START msg=audit(1.2:3): op=start\n" + seccomp(4),
        b"[  1.0] kauditd_printk_skb: 5 callbacks suppressed\n" + seccomp(4),
        b"audit(1.2:1234567890123456789)\n",  # 19 digits: Python's ints answer
    ],
)
def test_blocks_left_to_python(block: bytes) -> None:
    assert compiled_census(block, frozenset()) is None
    assert_scanners_agree(block, frozenset())


def test_record_text_holds_each_selected_line_once() -> None:
    two_in_one_line = seccomp(3, pid=7) + b' pid=8 comm="x" exe="/y" arch=c000003e syscall=2 code=0x7ffc0000'
    block = b"\n".join([seccomp(1, pid=7), seccomp(2, pid=8), two_in_one_line, seccomp(4, pid=77), seccomp(5, pid=8)])
    found = assert_same(block, frozenset({7, 8}))
    assert found is not None and found.record_text is not None
    assert found.record_text.count(b"\n") == 4  # the pid=77 line is not one of them
    assert found.record_text.endswith(b"code=0x7ffc0000\n")


def assert_scanners_agree(block: bytes, pids: frozenset[int]) -> None:
    """feed_block with the compiled census counts exactly what it counts with the Python one."""
    results = []
    for census in (compiled_census, None):
        scanner = AuditScanner()
        counts = scanner.feed_block(block, pids, census)
        stats = scanner.finish()
        results.append((counts, stats.lines, stats.records, stats.malformed, stats.other, stats.filtered, stats.lost))
        results[-1] += (stats.suppressed,)
    assert results[0] == results[1]


@pytest.mark.parametrize("census", [compiled_census, None], ids=["compiled", "python"])
def test_a_run_after_out_of_order_serials_is_fed_one_by_one(census: Optional[Census]) -> None:
    scanner = AuditScanner()
    scanner.feed_block(b"\n".join(seccomp(s) for s in (1, 2, 5)) + b"\n", frozenset(), census)
    assert scanner.stats.serials._ahead  # 5 waits in the window for 3 and 4
    later = b"\n".join(seccomp(s) for s in (3, 4)) + b"\n"
    assert census_block(later).serials == (3, 4)  # a run, which the tracker cannot take whole
    scanner.feed_block(later, frozenset(), census)
    assert not scanner.stats.serials._ahead
    scanner.feed_block(seccomp(6) + b"\n", frozenset(), census)
    assert scanner.finish().lost == 0


blocks = st.lists(
    st.one_of(garbage, st.integers(1, 60).map(lambda n: REAL.replace(b":7)", f":{n})".encode())), st.just(REAL)),
    max_size=40,
).map(lambda lines: b"\n".join(line.replace(b"\n", b" ") for line in lines))


@settings(max_examples=400, deadline=None)
@given(blocks, st.sampled_from([frozenset(), frozenset({5203}), frozenset({5203, 1, 99})]))
def test_compiled_census_agrees_with_python(block: bytes, pids: frozenset[int]) -> None:
    assert_same(block, pids)
    assert_scanners_agree(block, pids)
