"""Benchmark: ``kubectl seccomp generate`` against the grep pipeline a person runs.

    python3 bench/generate_vs_grep.py [--lines 2000000] [--sizes 500000,1000000,2000000]

Makes synthetic audit.log files (80% SECCOMP records from several pids with
real-looking fields and consecutive serials, 20% other record types), then in
one run times, side by side on the same file:

    grep type=SECCOMP FILE | grep 'pid=N ' | grep -o 'syscall=[0-9]*' | sort -u
    kubectl seccomp generate --audit-log FILE --pid N

and prints the ratio (ours / pipeline; goal below 1.0) and the peak memory of
``generate`` for each size (goal: flat as the log grows). ``generate`` runs twice:
as installed (the compiled census, when pip built it) and with
``KUBECTL_SECCOMP_PURE_PYTHON=1`` (the pure-Python census, what the Krew zipapp runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubectl_seccomp.syscalls import arch_by_name, syscall_name  # noqa: E402

PIDS = [4101, 4102, 4103, 4277, 5120, 6001, 6002, 7333]
SYSCALLS = [
    0,
    1,
    3,
    5,
    7,
    9,
    10,
    11,
    12,
    13,
    14,
    16,
    17,
    20,
    21,
    23,
    39,
    41,
    42,
    44,
    45,
    47,
    56,
    59,
    60,
    61,
    63,
    72,
    78,
    79,
    89,
    96,
    102,
    104,
    107,
    108,
    110,
    157,
    158,
    202,
    217,
    218,
    228,
    230,
    231,
    232,
    233,
    257,
    262,
    273,
    281,
    288,
    290,
    293,
    302,
    318,
    334,
    435,
    439,
]
OTHER = [
    "type=SYSCALL msg=audit({t}:{s}): arch=c000003e syscall=59 success=yes exit=0 a0=55d a1=55e a2=55f a3=0 "
    "items=2 ppid=1 pid={p} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) "
    'ses=4294967295 comm="sh" exe="/bin/busybox" key=(null)\x1dARCH=x86_64 SYSCALL=execve AUID="unset" UID="root"',
    "type=PROCTITLE msg=audit({t}:{s}): proctitle=2F62696E2F7368002D63",
    'type=CWD msg=audit({t}:{s}): cwd="/"',
]
SECCOMP = (
    'type=SECCOMP msg=audit({t}:{s}): auid=4294967295 uid=0 gid=0 ses=4294967295 pid={p} comm="python3" '
    'exe="/usr/bin/python3.11" sig=0 arch=c000003e syscall={n} compat=0 ip=0x7f{ip:010x} code=0x7ffc0000'
    '\x1dAUID="unset" UID="root" GID="root" ARCH=x86_64 SYSCALL=unknown-syscall(-1)'
)


def make_log(path: Path, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w") as out:
        batch = []
        for serial in range(1, lines + 1):
            stamp = f"{1795888000 + serial // 5000}.{serial % 1000:03d}"
            pid = PIDS[serial % len(PIDS)]
            if rng.random() < 0.8:
                line = SECCOMP.format(t=stamp, s=serial, p=pid, n=rng.choice(SYSCALLS), ip=rng.getrandbits(40))
            else:
                line = rng.choice(OTHER).format(t=stamp, s=serial, p=pid)
            batch.append(line)
            if len(batch) == 10000:
                out.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            out.write("\n".join(batch) + "\n")


PURE = {"KUBECTL_SECCOMP_PURE_PYTHON": "1"}


def timed(command: list[str] | str, shell: bool = False, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, every process of the command), and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        command,
        shell=shell,
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "LC_ALL": os.environ.get("LC_ALL", "C.UTF-8"), **(env or {})},
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return elapsed, cpu, result.stdout


def stdout_of(command: list[str], env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        command, check=True, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})}
    ).stdout


def peak_rss(command: list[str], env: dict[str, str] | None = None) -> int:
    """Peak RSS of one command, measured in a fresh child so earlier runs don't mask it."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    return int(stdout_of([sys.executable, "-c", probe, *command], env))


def census_in_use(env: dict[str, str] | None = None) -> str:
    shown = stdout_of([sys.executable, "-m", "kubectl_seccomp", "version"], env)
    return shown[shown.index("census: ") :].rstrip().removesuffix(")")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500000,1000000,2000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    pid = PIDS[3]
    ours_cmd = [sys.executable, "-m", "kubectl_seccomp", "generate", "--pid", str(pid), "--audit-log"]
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"generate: {census_in_use()}; pure: {census_in_use(PURE)}")
    print(
        f"{'lines':>9} {'pipeline s':>11} {'generate s':>11} {'ratio':>6} {'pure s':>7} {'ratio':>6}"
        f" {'pipeline CPU s':>15} {'generate CPU s':>15} {'CPU ratio':>9} {'peak MiB':>9} {'pure MiB':>9}"
        "  same syscalls"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            log = Path(scratch) / f"audit-{size}.log"
            make_log(log, size)
            pipeline = f"grep type=SECCOMP {log} | grep 'pid={pid} ' | grep -o 'syscall=[0-9]*' | sort -u"
            times: dict[str, list[float]] = {"pipe": [], "ours": [], "pure": []}
            cpu: dict[str, list[float]] = {"pipe": [], "ours": [], "pure": []}
            outputs: dict[str, str] = {}
            for _ in range(args.repeat):  # interleaved, so all three see the same machine
                for name, command, shell, env in (
                    ("pipe", pipeline, True, None),
                    ("ours", [*ours_cmd, str(log)], False, None),
                    ("pure", [*ours_cmd, str(log)], False, PURE),
                ):
                    seconds, used, outputs[name] = timed(command, shell=shell, env=env)
                    times[name].append(seconds)
                    cpu[name].append(used)
            numbers = {int(line.split("=")[1]) for line in outputs["pipe"].split()}
            x86 = arch_by_name("x86_64")
            assert x86 is not None
            expected = {syscall_name(x86, n) for n in numbers}
            same = all(
                expected == {name for rule in json.loads(outputs[ours])["syscalls"] for name in rule["names"]}
                for ours in ("ours", "pure")
            )
            rss_kib = peak_rss([*ours_cmd, str(log)])
            pure_rss_kib = peak_rss([*ours_cmd, str(log)], PURE)
            best = {name: min(values) for name, values in times.items()}
            best_cpu = {name: min(values) for name, values in cpu.items()}
            print(
                f"{size:>9} {best['pipe']:>11.3f} {best['ours']:>11.3f} {best['ours'] / best['pipe']:>6.2f}"
                f" {best['pure']:>7.3f} {best['pure'] / best['pipe']:>6.2f}"
                f" {best_cpu['pipe']:>15.3f} {best_cpu['ours']:>15.3f} {best_cpu['ours'] / best_cpu['pipe']:>9.2f}"
                f" {rss_kib / 1024:>9.1f} {pure_rss_kib / 1024:>9.1f}  {same}"
            )
            log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
