"""The node agent on the real kernel, with real podman containers (crun and runc).

Each test starts ``python3 -m kubectl_seccomp.agent follow`` as a process and
reads its JSON lines, as the record workflow does through a pod log.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from kubectl_seccomp.agent.bundle import build_agent_zipapp
from kubectl_seccomp.agent.sources import KmsgSource, NetlinkSource, auditd_running
from kubectl_seccomp.audit import AuditScanner
from tests.host.conftest import (
    REPO,
    RUNTIMES,
    Agent,
    create_container,
    final_counters,
    podman,
    podman_command,
    run_args,
    start_attached,
    syscalls_of,
    unique,
)

pytestmark = pytest.mark.host
# At least 20,000 syscalls: each `: >/dev/null` of busybox sh opens, duplicates and closes.
BURST = "i=0; while [ $i -lt 5000 ]; do : > /dev/null; i=$((i+1)); done"
PY39 = "/root/.pyenv/versions/3.9.18/bin/python3.9"
NETLINK_AUDIT, AUDIT_USER, NLMSG_ERROR, NLM_F_REQUEST, NLM_F_ACK = 9, 1107, 2, 1, 4


def own_records(events: list[dict[str, object]]) -> int:
    counters = final_counters(events)
    return int(str(counters["attributed"])) - int(str(counters["filtered"]))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_short_lived_children_are_attributed(
    runtime: str, rootfs: Path, log_profile: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    """A shell script running /bin/true 50 times: every child gone before its records are read."""
    container = create_container(
        runtime,
        log_profile,
        rootfs,
        "/bin/sh",
        "-c",
        "sleep 2; i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i+1)); done; /bin/sync; :",  # not exec-optimized
    )
    tracked = Agent(tmp_path, "--source", "netlink", "--container", container)
    untracked = Agent(tmp_path, "--source", "netlink", "--container", container, "--no-proc-connector")
    agents += [tracked, untracked]
    process = subprocess.Popen(
        podman_command(runtime, "start", "--attach", container),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Let both agents see the shell start, then stop them while the children live and die.
    tracked.wait_for(lambda e: e["event"] == "syscall" and e["comm"] == "sleep", "the shell's first child")
    untracked.wait_for(lambda e: e["event"] == "syscall" and e["comm"] == "sleep", "the shell's first child")
    tracked.pause()
    untracked.pause()
    try:
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    finally:
        tracked.resume()
        untracked.resume()
        podman(runtime, "rm", "--force", container, check=False)
    with_events, without_events = tracked.stop(), untracked.stop()

    counters, blind = final_counters(with_events), final_counters(without_events)
    assert counters["lost"] == 0 and blind["lost"] == 0
    assert "sync" in syscalls_of(with_events, container)  # the last child, seen only after it exited
    assert [e["comm"] for e in with_events if e["event"] == "syscall" and e["name"] == "sync"] == ["sync"]
    # Each /bin/true makes at least execve ... exit_group: 50 children, 5+ records each, attributed
    # only thanks to the process events; without them they count as unattributed. (Both agents
    # also count host processes of other users of this machine, the same for both.)
    children = own_records(with_events) - own_records(without_events)
    assert children >= 50 * 5, (counters, blind)
    assert blind["unattributed"] - counters["unattributed"] >= children - 10, (counters, blind)
    assert "sync" not in syscalls_of(without_events, container)


def test_two_containers_at_once_are_separated(
    rootfs: Path, log_profile: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    agent = Agent(tmp_path, "--source", "netlink")
    agents.append(agent)
    first = create_container("crun", log_profile, rootfs, "/bin/sh", "-c", "sleep 1; sync; sleep 1")
    second = create_container("runc", log_profile, rootfs, "/bin/sh", "-c", "sleep 1; mkdir /tmp/x; sleep 1")
    runs = [
        subprocess.Popen(
            podman_command(runtime, "start", "--attach", container),
            stdout=subprocess.DEVNULL,
        )
        for runtime, container in (("crun", first), ("runc", second))
    ]
    try:
        assert [run.wait(timeout=120) for run in runs] == [0, 0]
    finally:
        for runtime, container in (("crun", first), ("runc", second)):
            podman(runtime, "rm", "--force", container, check=False)
    events = agent.stop()
    one, two = syscalls_of(events, first), syscalls_of(events, second)
    assert "sync" in one and "sync" not in two
    assert {"mkdir", "mkdirat"} & two and not {"mkdir", "mkdirat"} & one
    # The runtimes' own work after the filter was loaded, each in its container.
    assert {e["comm"] for e in events if e["event"] == "syscall" and e["container"] == first} >= {"crun"}
    assert "runc:[2:INIT]" in {e["comm"] for e in events if e["event"] == "syscall" and e["container"] == second}


def test_agent_in_another_network_namespace_still_reads_the_records(
    rootfs: Path, log_profile: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    """A node that is a network namespace on a shared kernel (the test cluster's second node, kind):
    the kernel multicasts audit records and process events in the initial namespace only, where
    the agent moves itself; bound elsewhere, it would read nothing without an error."""
    netns = subprocess.run(["unshare", "--net", "readlink", "/proc/self/ns/net"], capture_output=True, text=True)
    assert netns.stdout.strip() != os.readlink("/proc/self/ns/net"), netns  # unshare does make a new one
    agent = Agent(tmp_path, python="unshare", entry=["--net", sys.executable, "-m", "kubectl_seccomp.agent"])
    agents.append(agent)
    assert agent.source == "netlink"
    container = create_container("runc", log_profile, rootfs, "/bin/sh", "-c", "sleep 1; sync; :")
    result = start_attached("runc", container)
    assert result.returncode == 0, result.stderr
    events = agent.stop()
    assert "proc connector" not in agent.err.read_text()  # it listens: short-lived children are attributed
    assert {"sync", "execve"} <= syscalls_of(events, container)
    comms = {e["comm"] for e in events if e["event"] == "syscall" and e["container"] == container}
    assert {"sh", "sleep", "sync"} <= comms


AUDITD_CONF = """\
local_events = yes
write_logs = yes
log_file = {log}
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 1
num_logs = 20
max_log_file_action = ROTATE
space_left = 10
space_left_action = IGNORE
admin_space_left = 5
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
q_depth = 2000
overflow_action = SYSLOG
plugin_dir = /etc/audit/plugins.d
end_of_event_timeout = 2
"""


def test_unknown_syscall_number_is_reported_by_number(
    python_rootfs: Path, log_profile: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    """A container calls syscall 999, which no table names: an ``unknown`` event, once."""
    agent = Agent(tmp_path, "--source", "netlink")
    agents.append(agent)
    code = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
        "for _ in range(3): print(libc.syscall(999), ctypes.get_errno())"
    )
    name = unique("unknown")
    result = podman(
        "crun", *run_args(log_profile, python_rootfs, "--rm", name=name), "/usr/bin/python3", "-c", code, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-1", "38"] * 3  # ENOSYS: the filter logged it, the kernel has none
    events = agent.stop()
    unknown = [e for e in events if e["event"] == "unknown" and e["number"] == 999]
    assert len(unknown) == 1, unknown
    assert unknown[0]["arch"] == "x86_64" and unknown[0]["action"] == "LOG"
    assert len(unknown[0]["container"]) == 64
    # The interpreter's own calls are named as usual, in the same container.
    assert "openat" in syscalls_of(events, unknown[0]["container"])


@pytest.fixture
def auditd(tmp_path: Path) -> object:
    """auditd for one test, writing to a 1 MB-rotated log under tmp_path (the host's stays alone).

    Started by PID and stopped again; skipped if another auditd runs (the kernel
    talks to one auditd only).
    """
    if auditd_running():
        pytest.skip("an auditd this test did not start is running")
    conf = tmp_path / "auditd-conf"
    conf.mkdir(mode=0o700)
    log = tmp_path / "audit-log" / "audit.log"
    log.parent.mkdir(mode=0o700)
    (conf / "auditd.conf").write_text(AUDITD_CONF.format(log=log))
    (conf / "auditd.conf").chmod(0o640)
    started = subprocess.run(["/sbin/auditd", "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr
    subprocess.run(["auditctl", "-b", "8192"], capture_output=True, check=True, timeout=30)
    deadline = time.monotonic() + 10
    pid: Optional[int] = None
    while (pid is None or not log.exists()) and time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if Path(f"/proc/{entry}/comm").read_text().strip() == "auditd":
                        pid = int(entry)
                except OSError:
                    pass
        time.sleep(0.1)
    assert pid is not None and log.exists()
    yield log
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)


def test_burst_nothing_lost_with_netlink_and_with_auditd(
    auditd: Path, rootfs: Path, log_profile: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    """20,000+ records: none lost by either source, the same count by both, across log rotations."""
    container = create_container("crun", log_profile, rootfs, "/bin/sh", "-c", BURST)
    netlink = Agent(tmp_path, "--source", "netlink", "--container", container)
    auditlog = Agent(tmp_path, "--source", "auditlog", "--audit-log", str(auditd), "--container", container)
    agents += [netlink, auditlog]
    result = start_attached("crun", container)
    assert result.returncode == 0, result.stderr
    by_netlink, by_auditd = netlink.stop(settle=3), auditlog.stop(settle=3)
    for events in (by_netlink, by_auditd):
        counters = final_counters(events)
        assert (counters["lost"], counters["overruns"], counters["malformed"]) == (0, 0, 0), (
            final_counters(by_netlink),
            final_counters(by_auditd),
        )
    assert own_records(by_netlink) >= 20_000
    assert own_records(by_auditd) == own_records(by_netlink)
    assert syscalls_of(by_auditd, container) == syscalls_of(by_netlink, container)
    # auditd rotated its 1 MB log several times while the agent followed it by name.
    assert len(list(auditd.parent.glob("audit.log.*"))) >= 3


@pytest.fixture(params=["ratelimit-default", "ratelimit-0"])
def printk_ratelimit(request: pytest.FixtureRequest) -> object:
    """The kernel's printk rate limit as configured, or off (then only the ring's size limits)."""
    path = Path("/proc/sys/kernel/printk_ratelimit")
    before = path.read_text()
    if request.param == "ratelimit-0":
        path.write_text("0\n")
    yield request.param
    path.write_text(before)


def test_kmsg_loss_count_matches_serial_gaps(
    printk_ratelimit: str, rootfs: Path, log_profile: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    """Under a burst the printk path loses records; the lost count is exactly the missing serials.

    Ground truth is the netlink multicast, read in this process at the same
    time: every audit serial the kernel emitted.
    """
    if auditd_running():
        pytest.skip("auditd is running: the kernel then sends nothing to /dev/kmsg")
    container = create_container("crun", log_profile, rootfs, "/bin/sh", "-c", BURST)
    agent = Agent(tmp_path, "--source", "kmsg", "--container", container)
    agents.append(agent)
    truth, kmsg = NetlinkSource(), KmsgSource()
    truth_serials: set[int] = set()
    kmsg_scanner = AuditScanner()
    kmsg_serials: set[int] = set()

    def drain() -> None:
        for line in truth.read_lines():
            serial = _serial(line)
            if serial is not None:
                truth_serials.add(serial)
        for line in kmsg.read_lines():
            kmsg_scanner.feed_line(line)
            serial = _serial(line)
            if serial is not None:
                kmsg_serials.add(serial)

    run = subprocess.Popen(
        podman_command("crun", "start", "--attach", container),
        stdout=subprocess.DEVNULL,
    )
    try:
        while run.poll() is None:
            select.select([fd for fd in (truth.fileno(), kmsg.fileno()) if fd is not None], [], [], 0.1)
            drain()
        # The kernel prints "N callbacks suppressed" with the first message it lets
        # through after the rate limit's interval (5 s): make one, and read it.
        deadline = time.monotonic() + 5.5
        while time.monotonic() < deadline:
            time.sleep(0.1)
            drain()
        subprocess.run(
            ["/usr/bin/python3", str(REPO / "tests" / "fixtures" / "exercise.py"), "log"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            time.sleep(0.1)
            drain()
    finally:
        truth.close()
        kmsg.close()
        podman("crun", "rm", "--force", container, check=False)
    assert run.returncode == 0
    events = agent.stop(settle=0.5)

    stats = kmsg_scanner.finish()
    counters = final_counters(events)
    print(printk_ratelimit, "kmsg saw", len(kmsg_serials), "serials of", len(truth_serials), stats, counters)
    if len(kmsg_serials) >= 2:
        low, high = min(kmsg_serials), max(kmsg_serials)
        window = {s for s in truth_serials if low <= s <= high}
        assert window == set(range(low, high + 1)), "netlink itself lost records"
        assert stats.lost == len(window) - len(kmsg_serials)
    assert len(kmsg_serials) < len(truth_serials), "the printk path lost nothing: the burst was too small"
    # The agent process, reading the same ring at the same time, reports the loss as numbers.
    assert counters["lost"] + counters["suppressed"] + counters["overruns"] > 0, counters
    if printk_ratelimit == "ratelimit-default":
        assert counters["suppressed"] > 0 and stats.suppressed > 0


def _serial(line: bytes) -> Optional[int]:
    start = line.find(b"audit(")
    if start < 0 or line.find(b"type=") < 0 or b"DAEMON_" in line:
        return None
    colon, close = line.find(b":", start), line.find(b")", start)
    try:
        return int(line[colon + 1 : close])
    except ValueError:
        return None


def test_vanished_pid_and_bad_lines_are_counted_not_fatal(tmp_path: Path, agents: list[Agent]) -> None:
    """A host process under a log filter exits before the agent reads its records; then the
    same real records again, through a pipe, with a truncated copy and binary junk among them."""
    agent = Agent(tmp_path, "--source", "netlink", "--no-proc-connector")
    agents.append(agent)
    capture = NetlinkSource()
    agent.pause()
    exercise = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "tests" / "fixtures" / "exercise.py"), "log"], stdout=subprocess.DEVNULL
    )
    assert exercise.wait(timeout=60) == 0
    agent.resume()
    time.sleep(0.5)
    # Its records only: containers of other users of this machine may be logging too.
    mine = b" pid=%d " % exercise.pid
    real = [line for line in capture.read_lines() if line.startswith(b"type=1326 ") and mine in line]
    capture.close()
    counters = final_counters(agent.stop())
    assert counters["unattributed"] >= 5  # exercise.py logs a handful of calls, then exits
    assert counters["malformed"] == 0
    assert len(real) >= 5

    stream = [real[0], real[1][: len(real[1]) // 2], b"\x00\xff\xfe\x1d binary \x80", *real[2:]]
    piped = subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp.agent", "follow", "--source", "auditlog", "--audit-log", "-"],
        input=b"\n".join(stream) + b"\n",
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert piped.returncode == 0, piped.stderr
    counters = json.loads(piped.stdout.splitlines()[-1])
    assert counters["malformed"] == 1
    assert counters["records"] == counters["unattributed"] == len(real) - 1
    assert counters["lost"] == 0  # the truncated line still carries its serial: malformed, not lost


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bundle_follows_a_container_with_python39(
    runtime: str, rootfs: Path, log_profile: Path, tmp_path: Path, agents: list[Agent]
) -> None:
    python = PY39 if Path(PY39).exists() else sys.executable
    pyz = tmp_path / "agent.pyz"
    pyz.write_bytes(build_agent_zipapp())
    agent = Agent(tmp_path, "--source", "auto", python=python, entry=["-I", str(pyz)])
    agents.append(agent)
    assert agent.source == "netlink"
    container = create_container(runtime, log_profile, rootfs, "/bin/sync")
    result = start_attached(runtime, container)
    assert result.returncode == 0, result.stderr
    events = agent.stop()
    assert "sync" in syscalls_of(events, container)
    assert {e["comm"] for e in events if e["event"] == "syscall" and e["container"] == container} >= {"sync"}
    refused = subprocess.run(
        [python, "-I", str(pyz), "install", "--root", str(tmp_path / "root"), "../x.json"],
        input=b"{}",
        capture_output=True,
        timeout=60,
    )
    assert refused.returncode == 1 and refused.stderr.startswith(b"error: ")
    assert not (tmp_path / "x.json").exists()


def send_user_message(text: str) -> None:
    """An AUDIT_USER message through the kernel (what ``auditctl -m TEXT`` sends), acknowledged."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT) as sock:
        payload = text.encode() + b"\0"
        sock.sendto(
            struct.pack("=IHHII", 16 + len(payload), AUDIT_USER, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + payload, (0, 0)
        )
        _length, msg_type, _flags, _seq, _pid, error = struct.unpack_from("=IHHIIi", sock.recv(4096))
        assert (msg_type, error) == (NLMSG_ERROR, 0), f"the kernel refused the AUDIT_USER message: {error}"


def test_serials_quoted_in_user_messages_are_not_losses(tmp_path: Path, agents: list[Agent]) -> None:
    """Userspace audit messages quoting audit(T:S) far ahead and far behind: 0 lost (the netlink flake)."""
    agent = Agent(tmp_path, "--source", "netlink", "--container", "0" * 64)
    agents.append(agent)
    # What a message's text quotes is not its serial: the kernel numbers this
    # one, but the text says 1 (a "new boot") and then 2**40 (a huge gap).
    send_user_message("ksc-test first")
    send_user_message("ksc-test quotes audit(1.000:1) as text")
    send_user_message(f"ksc-test quotes audit(1.000:{2**40}) as text")
    send_user_message("ksc-test last")
    counters = final_counters(agent.stop(settle=1.0))
    assert (counters["lost"], counters["overruns"]) == (0, 0), counters
