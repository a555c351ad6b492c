"""Sources against real files and pipes; the follow command end to end on a pipe."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubectl_seccomp.agent.sources import (
    MAX_LINES,
    AuditLogSource,
    KmsgSource,
    NetlinkSource,
    set_receive_buffer,
    split_netlink,
)
from kubectl_seccomp.audit import AuditScanner

NETLINK_USERSOCK = 2
RECORDS = Path(__file__).resolve().parent.parent / "fixtures" / "records"


def test_auditlog_starts_at_end_and_follows_rotation(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"old line 1\nold line 2\n")
    source = AuditLogSource(str(log))
    assert source.read_lines() == []
    with log.open("ab") as handle:
        handle.write(b"new 1\nnew 2 half")
    assert source.read_lines() == [b"new 1"]
    with log.open("ab") as handle:
        handle.write(b"\nlast before rotation\n")
    os.rename(log, tmp_path / "audit.log.1")  # auditd rotates: rename, then a new file
    assert source.read_lines() == [b"new 2 half", b"last before rotation"]  # the name is gone for now
    with (tmp_path / "audit.log.1").open("ab") as handle:
        handle.write(b"written to the old file after the rename\n")
    log.write_bytes(b"first of new file\n")
    assert source.read_lines() == [b"written to the old file after the rename", b"first of new file"]
    with log.open("ab") as handle:
        handle.write(b"second of new file\n")
    assert source.read_lines() == [b"second of new file"]
    source.close()


def test_auditlog_truncated_in_place(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"x" * 100 + b"\n")
    source = AuditLogSource(str(log))
    log.write_bytes(b"after truncate\n")
    source.read_lines()
    assert source.read_lines() == [b"after truncate"]


def test_fifo_stream_and_kmsg_from_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    source = KmsgSource(str(fifo))
    os.write(writer, b"5,1,2,-;audit: one\n SUBSYSTEM=continuation\n5,2,3,-;audit: two\n")
    assert source.read_lines() == [b"5,1,2,-;audit: one", b"5,2,3,-;audit: two"]
    os.close(writer)
    os.close(reader)
    source.close()


def test_split_netlink_messages() -> None:
    def message(kind: int, payload: bytes) -> bytes:
        body = struct.pack("=IHHII", 16 + len(payload), kind, 0, 0, 0) + payload
        return body + b"\0" * (-len(body) % 4)

    data = message(1326, b"audit(1.0:5): pid=1 ...\0") + message(2, b"error") + message(1300, b"audit(1.0:6): x")
    assert split_netlink(data) == [b"type=1326 msg=audit(1.0:5): pid=1 ...", b"type=1300 msg=audit(1.0:6): x"]
    assert split_netlink(b"\x01\x00") == []


def follow_audit_log(path: str, *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """The agent's ``follow`` on the audit log ``path`` (``-``: ``input``), run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp.agent", "follow", "--source", "auditlog", "--audit-log", path, *args],
        input=input,
        capture_output=True,
        timeout=60,
    )


def test_follow_on_stdin_counts_bad_lines_and_never_crashes() -> None:
    good = (RECORDS / "audit-raw.log").read_bytes()
    bad = (
        b'type=SECCOMP msg=audit(1795889920.9:99999): auid=1 pid=1 comm="x" exe="/x" sig=0 arch=c000\n'
        b"\x00\x01\xff\xfe binary junk \x1d\x1d\n" + b"A" * 100_000 + b"\n"
    )
    stream = good[: len(good) // 2] + bad + good[len(good) // 2 :]
    result = follow_audit_log("-", "--no-proc-connector", input=stream)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "start" and events[0]["source"] == "auditlog"
    counters = events[-1]
    assert counters["event"] == "counters"
    assert counters["malformed"] == 1
    assert counters["records"] > 0
    # The pids of these real lines are long gone: counted, not dropped, not attributed.
    assert counters["unattributed"] == counters["records"]


def test_follow_reports_a_fatal_error_as_an_event(tmp_path: Path) -> None:
    result = follow_audit_log(str(tmp_path / "missing.log"))
    assert result.returncode == 1
    (event,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert event["event"] == "error" and "missing.log" in event["message"]


def test_auditlog_several_rotations_between_two_polls(tmp_path: Path) -> None:
    """Under a burst auditd may rotate twice before we look: no file is skipped or read twice."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    source = AuditLogSource(str(log))
    log.write_bytes(b"a1\na2\n")
    assert source.read_lines() == [b"a1", b"a2"]
    with log.open("ab") as handle:
        handle.write(b"a3\n")
    for generation in (b"b", b"c"):  # rotate, write a whole file, rotate again...
        for n in range(5, 0, -1):
            older = tmp_path / f"audit.log.{n}"
            if older.exists():
                older.rename(tmp_path / f"audit.log.{n + 1}")
        log.rename(tmp_path / "audit.log.1")
        log.write_bytes(generation + b"1\n" + generation + b"2\n")
    with log.open("ab") as handle:
        handle.write(b"c3\n")
    assert source.read_lines() == [b"a3", b"b1", b"b2", b"c1", b"c2", b"c3"]
    with log.open("ab") as handle:
        handle.write(b"c4\n")
    assert source.read_lines() == [b"c4"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_follow_exits_cleanly_on_a_signal_with_final_counters(tmp_path: Path, signum: int) -> None:
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubectl_seccomp.agent",
            "follow",
            "--source",
            "auditlog",
            "--audit-log",
            str(fifo),
            "--no-proc-connector",
            "--interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    writer = os.open(fifo, os.O_WRONLY)  # blocks until the agent has opened it
    try:
        os.write(writer, (RECORDS / "kmsg.txt").read_bytes())
        time.sleep(1.0)
        agent.send_signal(signum)
        out, err = agent.communicate(timeout=30)
    finally:
        os.close(writer)
    assert agent.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "start"
    assert events[-1]["event"] == "counters" and events[-1]["records"] > 0
    assert sum(1 for e in events if e["event"] == "counters") >= 3  # periodic, then the final one


def _datagram(msg_type: int, text: bytes) -> bytes:
    """One audit message as the kernel multicasts it: nlmsghdr, text, a NUL, padding."""
    payload = text + b"\0"
    header = struct.pack("=IHHII", 16 + len(payload), msg_type, 0, 0, 0)
    return (header + payload).ljust((16 + len(payload) + 3) & ~3, b"\0")


@pytest.mark.parametrize(
    "quoted",
    [
        b"audit(1796053150.686:20013)",  # two serials ahead of the stream's end: one "lost" record
        b"audit(1796053150.686:1)",  # far behind: taken for a new boot
        b"audit(1796053150.686:99999999)",  # far ahead: a huge "gap"
    ],
)
def test_a_serial_quoted_in_message_text_is_not_a_serial(quoted: bytes) -> None:
    # An AUDIT_USER message (auditctl -m, sudo, systemd) whose text quotes
    # audit(T:S), between SECCOMP records with consecutive serials: the block
    # census once took the quoted serial too and counted records as lost that
    # the kernel had delivered (lost == 1 on a clean run).
    body = b' pid=7 comm="sh" exe="/bin/sh" sig=0 arch=c000003e syscall=%d compat=0 ip=0x1 code=0x7ffc0000'
    datagrams = [
        _datagram(1326, b"audit(1796053150.686:%d): auid=0 uid=0" % serial + body % serial)
        for serial in range(20001, 20010)
    ]
    user = b"audit(1796053150.686:20010): pid=1 uid=0 auid=0 ses=1 msg='op=note " + quoted + b" res=success'"
    datagrams.append(_datagram(1107, user))
    datagrams.append(_datagram(1326, b"audit(1796053150.686:20011): auid=0 uid=0" + body % 11))
    lines = [line for datagram in datagrams for line in split_netlink(datagram)]
    assert lines[9].startswith(b"type=1107 msg=audit(1796053150.686:20010): ")
    block_scanner, line_scanner = AuditScanner(), AuditScanner()
    counts = block_scanner.feed_block(b"\n".join(lines) + b"\n")
    for line in lines:
        line_scanner.feed_line(line)
    for scanner in (block_scanner, line_scanner):
        stats = scanner.finish()
        assert (stats.records, stats.lost, stats.serials.first) == (10, 0, 20001)
    assert sum(counts.values()) == 10


def test_netlink_reads_are_bounded_when_the_agent_falls_behind() -> None:
    # A backlog of datagrams (the agent was busy): each read_lines returns at
    # most MAX_LINES, the rest stays in the socket's buffer, nothing is lost.
    reader = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_USERSOCK)
    writer = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_USERSOCK)
    set_receive_buffer(reader, 64 << 20)
    reader.bind((0, 0))
    writer.bind((0, 0))
    source = NetlinkSource.adopt(reader)  # the audit socket needs root: the same reads on this one
    total = MAX_LINES + 100
    text = b'audit(1.2:%d): pid=1 comm="x"'
    try:
        for serial in range(total):
            writer.sendto(_datagram(1326, text % serial), (reader.getsockname()[0], 0))
    except OSError as error:  # a small buffer without CAP_NET_ADMIN
        pytest.skip(f"cannot queue {total} datagrams: {error}")
    first, second, third = source.read_lines(), source.read_lines(), source.read_lines()
    assert (len(first), len(second), third) == (MAX_LINES, 100, [])
    assert first[0] == b"type=1326 msg=" + text % 0 and second[-1] == b"type=1326 msg=" + text % (total - 1)
    source.close()
    writer.close()


def test_a_record_delivered_after_the_next_read_is_not_lost() -> None:
    # Serials are taken when a record starts and queued when it ends: on two
    # CPUs, record 101 can reach the socket after 102-200. When a read ends
    # between them, the next batch holds 101 late. The batch's fast path once
    # counted the hole at once and never took it back: lost == 1 on a clean
    # run, with the kernel's own lost counter at 0.
    body = b' pid=7 comm="sh" exe="/bin/sh" sig=0 arch=c000003e syscall=1 compat=0 ip=0x1 code=0x7ffc0000'

    def read(serials: list[int]) -> bytes:
        datagrams = [_datagram(1326, b"audit(1796053150.686:%d): auid=0" % serial + body) for serial in serials]
        lines = [line for datagram in datagrams for line in split_netlink(datagram)]
        return b"\n".join(lines) + b"\n"

    scanner = AuditScanner()
    for serials in (list(range(1, 101)), list(range(102, 201)), [101, *range(201, 301)]):
        scanner.feed_block(read(serials))
    stats = scanner.finish()
    assert (stats.records, stats.lost) == (300, 0)
