"""The block scan of ``generate``: the parallel scan of a big file gives exactly what
the sequential one does, losses across range boundaries included."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_seccomp import generate as generate_module
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


@pytest.mark.parametrize("pids", [frozenset(), frozenset({101})])
def test_parallel_equals_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pids: frozenset[int]) -> None:
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
