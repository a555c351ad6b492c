"""The record parser on real lines from this machine's kernel (tests/fixtures/records,
made by tests/fixtures/capture.sh) and on the edge cases each form has."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_seccomp.audit import Action, AuditScanner, SerialTracker

RECORDS = Path(__file__).parent.parent / "fixtures" / "records"

ENRICHED = (
    "type=SECCOMP msg=audit(1795888199.929:48019): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=9891 "
    'comm="python3" exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall=7 compat=0 ip=0x7fab50da526f '
    'code=0x7ffc0000\x1dAUID="unset" UID="root" GID="root" ARCH=x86_64 SYSCALL=unknown-syscall(-1)'
)
DMESG = (
    "[  361.400134] audit: type=1326 audit(1795887962.749:7): auid=4294967295 uid=0 gid=0 ses=4294967295 "
    'pid=5203 comm="python3" exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall=110 compat=0 '
    "ip=0x7f801df3f4f7 code=0x7ffc0000"
)
KMSG = (
    "5,93721,767956398,-;audit: type=1326 audit(1795888369.305:140503): auid=4294967295 uid=0 gid=0 "
    'ses=4294967295 pid=13920 comm="sh" exe="/bin/busybox" sig=0 arch=c000003e syscall=39 compat=0 '
    "ip=0x7f74117f94e7 code=0x7ffc0000"
)
JOURNAL = "Nov 28 18:00:01 node1 kernel: " + DMESG.split("] ", 1)[1]
JOURNALD_NATIVE = (
    "Nov 28 18:00:01 node1 audit[5203]: SECCOMP auid=4294967295 uid=0 gid=0 ses=4294967295 pid=5203 "
    'comm="python3" exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall=110 compat=0 ip=0x7f801df3f4f7 '
    "code=0x50000"
)
NETLINK = (
    "type=1326 msg=audit(1795888369.305:9): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined "
    "pid=77 comm=2F62696E2F7368 exe=(null) sig=0 arch=c00000b7 syscall=56 compat=0 ip=0x4 code=0x80000000"
)
I386 = DMESG.replace("arch=c000003e syscall=110", "arch=40000003 syscall=20")
UNKNOWN_ARCH = DMESG.replace("arch=c000003e", "arch=c0000102")
UNKNOWN_NUMBER = DMESG.replace("syscall=110", "syscall=9999")


@pytest.mark.parametrize(
    ("line", "pid", "comm", "exe", "arch", "name", "action", "serial"),
    [
        (ENRICHED, 9891, "python3", "/usr/bin/python3.11", "x86_64", "poll", Action.LOG, 48019),
        (
            ENRICHED.split("\x1d")[0],
            9891,
            "python3",
            "/usr/bin/python3.11",
            "x86_64",
            "poll",
            Action.LOG,
            48019,
        ),
        (DMESG, 5203, "python3", "/usr/bin/python3.11", "x86_64", "getppid", Action.LOG, 7),
        (DMESG.split("] ", 1)[1], 5203, "python3", "/usr/bin/python3.11", "x86_64", "getppid", Action.LOG, 7),
        (KMSG, 13920, "sh", "/bin/busybox", "x86_64", "getpid", Action.LOG, 140503),
        (JOURNAL, 5203, "python3", "/usr/bin/python3.11", "x86_64", "getppid", Action.LOG, 7),
        (JOURNALD_NATIVE, 5203, "python3", "/usr/bin/python3.11", "x86_64", "getppid", Action.ERRNO, None),
        (NETLINK, 77, "/bin/sh", "", "aarch64", "openat", Action.KILL_PROCESS, 9),
        (I386, 5203, "python3", "/usr/bin/python3.11", "i386", "getpid", Action.LOG, 7),
        ("node=n1 " + ENRICHED, 9891, "python3", "/usr/bin/python3.11", "x86_64", "poll", Action.LOG, 48019),
    ],
    ids=[
        "enriched",
        "raw",
        "dmesg",
        "dmesg-no-timestamp",
        "kmsg",
        "journal",
        "journald-native",
        "netlink-hex-comm",
        "i386",
        "node-prefix",
    ],
)
def test_formats(
    line: str, pid: int, comm: str, exe: str, arch: str, name: str, action: Action, serial: int | None
) -> None:
    record = AuditScanner().feed_line(line)
    assert record is not None
    assert (record.pid, record.comm, record.exe) == (pid, comm, exe)
    assert record.arch is not None and record.arch.name == arch
    assert record.syscall_name == name
    assert record.action is action
    assert record.serial == serial


def test_enriched_interpretation_is_ignored() -> None:
    # auditd says SYSCALL=unknown-syscall(-1); the number says poll (x86_64 7).
    record = AuditScanner().feed_line(ENRICHED.replace("syscall=7 ", "syscall=7 ").encode())
    assert record is not None and record.syscall == 7 and record.syscall_name == "poll"


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("0x7ffc0000", Action.LOG),
        ("0x50001", Action.ERRNO),  # data bits (the errno) are masked away
        ("0x50026", Action.ERRNO),
        ("0x80000000", Action.KILL_PROCESS),
        ("0x0", Action.KILL_THREAD),
        ("0x30000", Action.TRAP),
        ("0x7ff00000", Action.TRACE),
        ("0x7fc00000", Action.USER_NOTIF),
        ("0x12340000", Action.UNKNOWN),
    ],
)
def test_actions(code: str, action: Action) -> None:
    record = AuditScanner().feed_line(DMESG.replace("code=0x7ffc0000", f"code={code}"))
    assert record is not None and record.action is action
    assert record.action.is_denial == (action in {Action.ERRNO, Action.KILL_PROCESS, Action.KILL_THREAD, Action.TRAP})


def test_unknown_arch_and_number_are_not_named() -> None:
    scanner = AuditScanner()
    unknown_arch = scanner.feed_line(UNKNOWN_ARCH)
    unknown_number = scanner.feed_line(UNKNOWN_NUMBER)
    assert unknown_arch is not None and unknown_arch.arch is None and unknown_arch.syscall_name is None
    assert unknown_number is not None and unknown_number.syscall == 9999 and unknown_number.syscall_name is None


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (DMESG[: DMESG.index(" code=")], "malformed"),  # truncated before code=
        (DMESG[: DMESG.index("syscall=") + 5], "malformed"),
        ("type=SECCOMP msg=audit(1.2:3): garbage", "malformed"),
        (
            'type=SYSCALL msg=audit(1795889920.722:22): arch=c000003e syscall=44 success=yes pid=1 comm="x"',
            "other",
        ),
        ("", "other"),
        ("\x00\xff\xfe binary \x01", "other"),
        ("kauditd_printk_skb: 12 callbacks suppressed", "other"),
        ("hello world", "other"),
    ],
)
def test_lines_without_a_record_are_counted(line: str, kind: str) -> None:
    scanner = AuditScanner()
    assert scanner.feed_line(line.encode("latin-1")) is None
    stats = scanner.finish()
    assert (stats.malformed, stats.other) == ((1, 0) if kind == "malformed" else (0, 1))


def test_suppressed_callbacks_are_summed() -> None:
    scanner = AuditScanner()
    for line in [
        "[ 1.0] kauditd_printk_skb: 12 callbacks suppressed",
        "kernel: kauditd_printk_skb: 3 callbacks suppressed",
    ]:
        scanner.feed_line(line)
    assert scanner.finish().suppressed == 15


def _with_serial(serial: int) -> str:
    return DMESG.replace("audit(1795887962.749:7)", f"audit(1795887962.749:{serial})")


@pytest.mark.parametrize(
    ("serials", "lost"),
    [
        ([1, 2, 3, 4], 0),
        ([1, 2, 2, 3], 0),  # one event, several records with one serial
        ([1, 3, 2, 4], 0),  # slightly out of order
        ([1, 2, 5, 6], 2),
        ([10, 20, 30], 18),
        ([1, 2, 100000, 100001], 99997),
        ([50000, 50001, 1, 2, 4], 1),  # serials restart (a new boot): no loss counted across it
    ],
)
def test_serial_gaps(serials: list[int], lost: int) -> None:
    scanner = AuditScanner()
    for serial in serials:
        scanner.feed_line(_with_serial(serial))
    assert scanner.finish().lost == lost
    block = AuditScanner()
    block.feed_block("".join(_with_serial(s) + "\n" for s in serials).encode())
    assert block.finish().lost == lost


def test_serial_window_memory_is_bounded() -> None:
    tracker = SerialTracker()
    for serial in range(0, 200_000, 2):  # every other serial lost
        tracker.see(serial)
    assert len(tracker._ahead) <= SerialTracker.WINDOW
    tracker.finish()
    assert tracker.lost == 99_999


def test_daemon_records_do_not_make_gaps() -> None:
    scanner = AuditScanner()
    scanner.feed_line(_with_serial(21))
    scanner.feed_line("type=DAEMON_START msg=audit(1795889920.722:6739): op=start ver=3.0.9 format=raw res=success")
    scanner.feed_line(_with_serial(22))
    assert scanner.finish().lost == 0


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDS.iterdir()))
def test_real_fixture_files(name: str) -> None:
    """Every SECCOMP line of the real captures parses, and both drivers agree."""
    data = (RECORDS / name).read_bytes()
    lines = data.splitlines()
    scanner = AuditScanner()
    records = [scanner.feed_line(line) for line in lines]
    stats = scanner.finish()
    seccomp_lines = [line for line in lines if b"type=SECCOMP" in line or b"type=1326" in line]
    assert seccomp_lines, "fixture has no SECCOMP lines"
    assert stats.records == len(seccomp_lines) and stats.malformed == 0
    assert all(r is not None and r.syscall_name for r in records if r is not None)
    assert {r.action for r in records if r is not None} >= {Action.LOG, Action.ERRNO}
    block = AuditScanner()
    counts = block.feed_block(data)
    block_stats = block.finish()
    assert sum(counts.values()) == stats.records
    assert (block_stats.lines, block_stats.other, block_stats.malformed, block_stats.lost) == (
        stats.lines,
        stats.other,
        stats.malformed,
        stats.lost,
    )


def test_a_serial_later_than_the_window_is_taken_back() -> None:
    # A record that arrives after 5,000 later ones (its process was preempted
    # between taking the serial and queueing the record) was counted lost for good.
    tracker = SerialTracker()
    for serial in [*range(1, 100), *range(101, 5200), 100, *range(5200, 5300)]:
        tracker.see(serial)
    tracker.finish()
    assert tracker.lost == 0


def test_late_serial_memory_is_bounded_and_big_holes_stay_lost() -> None:
    tracker = SerialTracker()
    for serial in range(0, 200_000, 2):  # every other serial lost, each hole small
        tracker.see(serial)
    assert len(tracker._late) <= SerialTracker.LATE_MEMORY
    assert 1 not in tracker._late and 191_001 in tracker._late  # the oldest forgotten, recent ones kept
    tracker.see(191_001)  # late, but remembered: taken back
    tracker.finish()
    assert tracker.lost == 99_998
    tracker = SerialTracker()
    for serial in [1, 2, 10_000, *range(10_001, 15_000), 5]:  # a hole of 9,997: a real loss
        tracker.see(serial)
    tracker.finish()
    assert tracker.lost == 9_997
