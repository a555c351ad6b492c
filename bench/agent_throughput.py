"""How fast the node agent turns audit records into events, on one core.

    python3 bench/agent_throughput.py [--records 1000000] [--form netlink|auditlog|kmsg] [--mix spread|server]
    python3 bench/agent_throughput.py --sustained 100000 [--seconds 10] [--producers 2]   (root, real kernel)
    python3 bench/agent_throughput.py --sustained 100000 --via usersock --producers 1

Builds a synthetic stream of SECCOMP records (realistic lines: 8 containers,
4 pids each, up to 120 distinct syscalls, serials consecutive; see
``make_stream`` for the two mixes) and measures:

* the hot path (parse -> attribute -> dedupe, ``Follower.feed``, batches of
  2048 lines as a source drain returns them) in records per CPU second (the
  process is pinned to one CPU; CPU time, so other load on the machine does
  not count against us; wall-clock rates are printed too);
* end to end from a file through ``AuditLogSource`` (read + split + the same);
* end to end from datagrams through ``NetlinkSource.read_lines`` (the kernel
  sends each record as its own datagram), read with ``recvmmsg`` batches and,
  side by side, with one ``recv`` per datagram;
* output bytes per 1,000,000 records (first sightings + a counters line every
  2 s at the measured rate), i.e. what goes through the pod log stream.

The process is pinned to one CPU. Attribution reads a fake /proc (one cgroup
file per pid) once per pid, as on a node.

``--sustained RATE`` measures the real thing instead: the agent
(``python3 -m kubectl_seccomp.agent follow --source netlink``) runs as its own
process while ``bench/seccomp_log_load.c`` (compiled here with ``cc``) makes
the kernel emit RATE SECCOMP records a second (getppid() under a
SECCOMP_RET_LOG filter, split over ``--producers`` processes) for
``--seconds``. Printed: the records made, the records the agent counted, its
lost and overrun counters, the kernel's own lost counter, the agent's CPU time
and its resident memory sampled every 0.2 s. Nothing is pinned: the agent
competes for the CPUs with the producers and whatever else the machine runs
(the load average is printed). ``--via usersock`` replaces the audit kernel by
a sender process writing kernel-shaped SECCOMP datagrams (consecutive serials)
to a NETLINK_USERSOCK socket read by the agent's own follow loop
(``Follower.run`` on ``NetlinkSource.adopt``): the same reads and parsing, at a
rate this machine's audit subsystem cannot reach while busy.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubectl_seccomp.agent.attribution import Attributor
from kubectl_seccomp.agent.events import EventWriter
from kubectl_seccomp.agent.follow import Follower
from kubectl_seccomp.agent.sources import AuditLogSource, NetlinkSource

FORMS = {
    "netlink": b"type=1326 msg=audit(1795888369.%03d:%d): ",
    "auditlog": b"type=SECCOMP msg=audit(1795888369.%03d:%d): ",
    "kmsg": b"5,1,1,-;audit: type=1326 audit(1795888369.%03d:%d): ",
}
NETLINK_USERSOCK = 2
BATCH = 2048  # lines per read: what one netlink/kmsg drain typically returns under load
BODY = (
    b'auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=%d comm="%s" exe="/usr/bin/%s" '
    b"sig=0 arch=c000003e syscall=%d compat=0 ip=0x7f74117f94e7 code=0x7ffc0000"
)


def make_stream(count: int, form: str, proc: Path, mix: str = "spread") -> list[bytes]:
    """``count`` record lines; ``mix`` says how many distinct records a batch holds.

    spread: 8 containers x 4 pids, each record from a random pid, syscalls
      skewed over 120 numbers (~900 distinct records per 2048 lines: the
      agent's per-record work is high, the pessimistic case);
    server: the same node, but 4 hot worker pids make 90% of the records with
      the ~20 syscalls of a request loop (~150 distinct per 2048 lines), as a
      node at 100,000 syscalls/s mostly is.
    """
    rng = random.Random(1)
    pids = []
    for container in range(8):
        cid = f"{container:064x}"
        for n in range(4):
            pid = 10_000 + container * 10 + n
            (proc / str(pid)).mkdir()
            (proc / str(pid) / "cgroup").write_text(f"0::/kubepods/besteffort/pod{container}/{cid}\n")
            pids.append(pid)
    hot = pids[:4]
    comms = [b"nginx", b"python3", b"sh", b"java"]
    head = FORMS[form]
    lines = []
    for serial in range(1, count + 1):
        if mix == "server" and rng.random() < 0.9:
            pid = hot[rng.randrange(4)]
            syscall = min(int(rng.expovariate(0.25)), 19)
        else:
            pid = pids[rng.randrange(len(pids))]
            # Real workloads are skewed: a few syscalls make most of the records.
            syscall = min(int(rng.expovariate(0.08)), 119)
        comm = comms[pid % 4]
        lines.append(head % (serial % 1000, serial) + BODY % (pid, comm, comm, syscall))
    return lines


def run(lines: list[bytes], proc: Path, tmp: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    # Hot path.
    out = io.BytesIO()
    follower = Follower(_NullSource(), Attributor(str(proc)), EventWriter(out), interval=2.0)
    start, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(lines), BATCH):
        follower.feed(lines[offset : offset + BATCH])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rate = len(lines) / cpu
    results["hot_wall_rate"] = len(lines) / elapsed
    counters_line = 170  # bytes of one counters event
    output = len(out.getvalue()) + counters_line * (len(lines) / rate / 2.0 + 1)
    results.update(
        hot_rate=rate,
        first_sightings=len(out.getvalue().splitlines()),
        output_bytes_per_million=output * 1_000_000 / len(lines),
    )
    assert follower.writer.counters.attributed == len(lines)
    # End to end from a file.
    log = tmp / "audit.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    source = AuditLogSource(str(log), from_start=True)
    follower = Follower(source, Attributor(str(proc)), EventWriter(io.BytesIO()), interval=2.0)
    start, cpu = time.perf_counter(), time.process_time()
    while follower.scanner.stats.lines < len(lines):
        follower.feed(source.read_lines())
    results["file_wall_rate"] = len(lines) / (time.perf_counter() - start)
    results["file_rate"] = len(lines) / (time.process_time() - cpu)
    source.close()
    results["datagram_rate"] = datagram_rate(lines, proc, batched=True)
    results["datagram_recv_rate"] = datagram_rate(lines, proc, batched=False)
    return results


def datagram_rate(lines: list[bytes], proc: Path, batched: bool) -> float:
    """Records per CPU second through ``NetlinkSource.read_lines``: recvmmsg batches, or one recv per record.

    The kernel sends each audit record as its own netlink message. Here a
    NETLINK_USERSOCK socket of this process sends them to another one (the
    same recv path as the audit socket, 64 MiB buffer); only reading is timed.
    """
    reader = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_USERSOCK)
    reader.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
    reader.bind((0, 0))
    port = reader.getsockname()[0]
    reader.setblocking(False)
    writer = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_USERSOCK)
    writer.bind((0, 0))
    source = NetlinkSource.adopt(reader)
    if not batched:
        source._batch = None  # the recv-per-datagram path (where libc has no recvmmsg)
    follower = Follower(source, Attributor(str(proc)), EventWriter(io.BytesIO()), interval=2.0)
    header = struct.Struct("=IHHII")
    cpu = 0.0
    chunk = 20_000  # well inside the 64 MiB buffer
    for offset in range(0, len(lines), chunk):
        for line in lines[offset : offset + chunk]:
            payload = line[line.index(b"audit(") :]
            writer.sendto(header.pack(16 + len(payload), 1326, 0, 0, 0) + payload, (port, 0))
        start = time.process_time()
        while follower.scanner.stats.lines < min(offset + chunk, len(lines)):
            follower.feed(source.read_lines())
        cpu += time.process_time() - start
    assert follower.scanner.stats.records == len(lines) and source.overruns == 0
    reader.close()
    writer.close()
    return len(lines) / cpu


class _NullSource(AuditLogSource):
    def __init__(self) -> None:  # no file: the hot path is fed directly
        self.overruns = 0
        self._fd = -1

    def read_lines(self) -> list[bytes]:
        return []


def kernel_lost() -> int:
    """The kernel's audit lost counter (``auditctl -s``); -1 without auditctl."""
    auditctl = shutil.which("auditctl") or "/usr/sbin/auditctl"
    if not Path(auditctl).exists():
        return -1
    status = subprocess.run([auditctl, "-s"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^lost (\d+)", status, re.M)
    return int(match.group(1)) if match else -1


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else 0


def sustained(rate: int, seconds: float, producers: int, tmp: Path, via: str) -> None:
    """The agent while producers make ``rate`` records a second (``via``: the audit kernel, or usersock)."""
    out = tmp / "agent.jsonl"
    repo = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": repo}
    if via == "audit":
        load = tmp / "seccomp_log_load"
        subprocess.run(["cc", "-O2", "-o", str(load), str(Path(__file__).with_name("seccomp_log_load.c"))], check=True)
        agent_command = [
            sys.executable,
            "-m",
            "kubectl_seccomp.agent",
            "follow",
            "--source",
            "netlink",
            "--interval",
            "1",
            "--container",
            "0" * 64,
        ]
    else:
        port_file = tmp / "port"
        agent_command = [sys.executable, __file__, "--usersock-follower", str(port_file)]
    with out.open("wb") as handle:
        agent = subprocess.Popen(agent_command, stdout=handle, env=env)
    if via == "usersock":
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        producer = [sys.executable, __file__, "--usersock-sender", port_file.read_text()]
    else:
        producer = [str(load)]

    def counters() -> dict[str, int]:
        events = [json.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
        return [e for e in events if e["event"] == "counters"][-1]

    deadline = time.monotonic() + 20
    while b'"counters"' not in out.read_bytes():
        if time.monotonic() > deadline or agent.poll() is not None:
            raise SystemExit(f"the agent did not start: {out.read_text()}")
        time.sleep(0.1)
    before, lost_before, rss_start = counters(), kernel_lost(), rss_kib(agent.pid)
    cpu_before, load_before = _cpu_seconds(agent.pid), os.getloadavg()[0]
    started = time.monotonic()
    runs = [
        subprocess.Popen([*producer, str(rate / producers), str(seconds)], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(producers)
    ]
    rss = []
    while any(run.poll() is None for run in runs):
        rss.append(rss_kib(agent.pid))
        time.sleep(0.2)
    reports = [re.search(r"calls=(\d+) seconds=([\d.]+)", run.communicate()[0]) for run in runs]
    made = sum(int(report.group(1)) for report in reports if report)
    elapsed = max(float(report.group(2)) for report in reports if report)  # the producers' own time
    wall = time.monotonic() - started
    # Let the agent drain what is queued, then stop it: its last counters are final.
    time.sleep(2)
    cpu = _cpu_seconds(agent.pid) - cpu_before
    rss.append(rss_kib(agent.pid))
    agent.terminate()
    agent.wait(timeout=30)
    after, lost_after = counters(), kernel_lost()
    what = (
        "SECCOMP records of the real kernel, the agent's netlink source"
        if via == "audit"
        else "kernel-shaped SECCOMP datagrams over NETLINK_USERSOCK, the agent's follow loop and reads"
    )
    print(f"python {sys.version.split()[0]}; sustained run: {what}; {producers} producer process(es)")
    print(f"load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"records made:        {made:,} in {elapsed:.1f} s = {made / elapsed:,.0f}/s (asked {rate:,}/s)")
    print(
        f"records the agent counted: {after['records'] - before['records']:,}"
        + (" (every SECCOMP record on the machine, ours included)" if via == "audit" else "")
    )
    print(
        f"agent lost (serial gaps): {after['lost'] - before['lost']}, overruns: "
        f"{after['overruns'] - before['overruns']}, kernel lost: {lost_after - lost_before}"
    )
    print(f"agent CPU:           {cpu:.2f} s over {wall + 2:.1f} s wall ({cpu / (wall + 2):.0%} of one CPU)")
    print(
        f"agent RSS:           {rss_start / 1024:.1f} MiB before, max {max(rss) / 1024:.1f} MiB, "
        f"{rss[-1] / 1024:.1f} MiB after"
    )


def usersock_follower(port_file: str) -> None:
    """Child process: the agent's follow loop (``Follower.run``) on a NETLINK_USERSOCK socket."""
    tmp = Path(port_file).parent
    proc = tmp / "proc"
    proc.mkdir(exist_ok=True)
    make_stream(1, "netlink", proc)  # the fake /proc of make_stream's pids
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_USERSOCK)
    sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE, as the agent's audit socket
    sock.bind((0, 0))
    follower = Follower(NetlinkSource.adopt(sock), Attributor(str(proc)), EventWriter(sys.stdout.buffer), 1.0)
    follower.install_signal_handlers()
    Path(port_file).write_text(str(sock.getsockname()[0]))
    follower.run()


def usersock_sender(port: int, rate: float, seconds: float) -> None:
    """Child process: kernel-shaped SECCOMP datagrams to ``port``, paced to ``rate`` a second."""
    proc = Path(tempfile.mkdtemp())
    bodies = [line[line.index(b"): ") :] for line in make_stream(20_000, "netlink", proc, "server")]
    pack = struct.Struct("=IHHII").pack
    sender = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_USERSOCK)
    sender.bind((0, 0))
    sendto, address, count = sender.sendto, (port, 0), len(bodies)
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) < start + seconds:
        due = min(int((now - start + 0.001) * rate), sent + 1000)
        while sent < due:
            sent += 1  # serials go on past the bodies: every datagram is a new record
            payload = b"audit(1795888369.123:%d%s" % (sent, bodies[sent % count])
            sendto(pack(16 + len(payload), 1326, 0, 0, 0) + payload, address)
        time.sleep(0.0005)
    print(f"calls={sent} seconds={time.monotonic() - start:.3f}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sustained", type=int, metavar="RATE", help="real kernel: RATE records/s (root)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument(
        "--via",
        choices=["audit", "usersock"],
        default="audit",
        help="--sustained: records from the audit kernel, or datagrams from a sender process",
    )
    parser.add_argument("--usersock-follower", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--usersock-sender", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--form", choices=sorted(FORMS), default="netlink")
    parser.add_argument("--mix", choices=["spread", "server"], default="spread")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last one)")
    args = parser.parse_args()
    if args.usersock_follower:
        usersock_follower(args.usersock_follower)
        return
    if args.usersock_sender:
        usersock_sender(args.usersock_sender, float(args.rest[0]), float(args.rest[1]))
        return
    if args.sustained:
        if args.via == "usersock" and args.producers != 1:
            parser.error("--via usersock numbers the records in one sender: use --producers 1")
        with tempfile.TemporaryDirectory() as tmp_name:
            sustained(args.sustained, args.seconds, args.producers, Path(tmp_name), args.via)
        return
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc = tmp / "proc"
        proc.mkdir()
        lines = make_stream(args.records, args.form, proc, args.mix)
        results = run(lines, proc, tmp)
    print(f"python {sys.version.split()[0]}, 1 CPU (#{cpu}), {args.records} records, {args.form} form, {args.mix} mix")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; rates per CPU second (wall in brackets)")
    print(f"hot path (parse+attribute+dedupe): {results['hot_rate']:,.0f} records/s [{results['hot_wall_rate']:,.0f}]")
    print(
        f"end to end from a file:            {results['file_rate']:,.0f} records/s [{results['file_wall_rate']:,.0f}]"
    )
    print(
        f"end to end from datagrams:         {results['datagram_rate']:,.0f} records/s"
        " (netlink source: recvmmsg, 256 datagrams a call)"
    )
    print(
        f"  the same, one recv per datagram: {results['datagram_recv_rate']:,.0f} records/s"
        f" (recvmmsg: x{results['datagram_rate'] / results['datagram_recv_rate']:.2f})"
    )
    print(f"first-sighting events:             {results['first_sightings']:.0f}")
    print(f"output per 1,000,000 records:      {results['output_bytes_per_million']:,.0f} bytes")


if __name__ == "__main__":
    main()
