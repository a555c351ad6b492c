"""The block scan of ``generate``: the parallel scan of a big file gives exactly what
the sequential one does, losses across range boundaries included, with the compiled
census and with the pure-Python one."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_seccomp import generate as generate_module
from kubectl_seccomp.census import PURE_PYTHON_ENV
from kubectl_seccomp.generate import scan_logs

LINE = (
    "type=SECCOMP msg=audit(1795888199.929:{serial}): auid=4294967295 uid=0 gid=0 ses=4294967295 pid={pid} "
    'comm="python3" exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall={nr} compat=0 ip=0x7fab50da526f '
    "code=0x7ffc0000"
)
OTHER = 'type=SYSCALL msg=audit(1795888199.929:{serial}): arch=c000003e syscall=59 success=yes pid=1 comm="sh"'


def write_log(path: Path, lines: int, lost: set[int]) -> None:
    with path.open("w") as out:
        for serial in range(1, lines + 1):
            if serial in lost:
                continue
            if serial % 5 == 0:
                out.write(OTHER.format(serial=serial) + "\n")
            else:
                out.write(LINE.format(serial=serial, pid=100 + serial % 3, nr=serial % 40) + "\n")


@pytest.mark.parametrize("census", ["compiled", "pure Python"])
@pytest.mark.parametrize("pids", [frozenset(), frozenset({101})])
def test_parallel_equals_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pids: frozenset[int], census: str
) -> None:
    if census == "pure Python":
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    log = tmp_path / "audit.log"
    lost = {7, 10_000, 10_001, 19_999}
    write_log(log, 20_000, lost)
    monkeypatch.setattr(generate_module, "PARALLEL_MIN_BYTES", 1 << 19)
    monkeypatch.setattr(generate_module, "BLOCK_SIZE", 64 << 10)
    monkeypatch.setattr(generate_module.os, "cpu_count", lambda: 4)
    assert len(generate_module._parallel_ranges(str(log))) == 4
    parallel_counts, parallel = scan_logs((str(log),), pids)
    monkeypatch.setattr(generate_module, "PARALLEL_MIN_BYTES", 1 << 40)
    assert generate_module._parallel_ranges(str(log)) == []
    sequential_counts, sequential = scan_logs((str(log),), pids)
    assert parallel_counts == sequential_counts
    for field in ("lines", "records", "malformed", "other", "filtered", "lost"):
        assert getattr(parallel, field) == getattr(sequential, field), field
    assert sequential.lost == len(lost)
    assert sequential.lines == 20_000 - len(lost)


def test_both_censuses_give_the_same_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "audit.log"
    write_log(log, 30_000, {3, 4, 29_000})
    with log.open("a") as out:  # auditd's own records: the compiled census leaves this block to Python
        out.write("type=DAEMON_ROTATE msg=audit(1795888199.929:77): op=rotate-logs\n")
    monkeypatch.setattr(generate_module, "BLOCK_SIZE", 64 << 10)
    results = []
    for value in ("0", "1"):
        monkeypatch.setenv(PURE_PYTHON_ENV, value)
        for pids in (frozenset(), frozenset({102})):
            counts, stats = scan_logs((str(log),), pids)
            results.append((value, pids, counts, stats.lines, stats.records, stats.filtered, stats.other, stats.lost))
    compiled, pure = results[:2], results[2:]
    assert [r[1:] for r in compiled] == [r[1:] for r in pure]
    assert compiled[0][-1] == 3 and compiled[0][3] == 30_000 - 3 + 1
