"""Benchmark: ``kubectl seccomp generate`` against the grep pipeline a person runs.

    python3 bench/generate_vs_grep.py [--lines 2000000] [--sizes 500000,1000000,2000000]

Makes synthetic audit.log files (80% SECCOMP records from several pids with
real-looking fields and consecutive serials, 20% other record types), then in
one run times, side by side on the same file:

    grep type=SECCOMP FILE | grep 'pid=N ' | grep -o 'syscall=[0-9]*' | sort -u
    kubectl seccomp generate --audit-log FILE --pid N

    kubectl seccomp generate ...   (installed by the real Krew from this tree's archive)

and prints the ratio (ours / pipeline; goal below 1.0) and the peak memory of
``generate`` for each size (goal: flat as the log grows). ``generate`` runs three
times: as installed here (the compiled census, when pip built it), with
``KUBECTL_SECCOMP_PURE_PYTHON=1`` (the pure-Python census), and through kubectl
from a Krew install (``kubectl krew install --manifest --archive`` of the archive
scripts/build_dist.py builds for this platform, in a scratch KREW_ROOT, run by
/usr/bin/python3 with nothing else on PATH: what a Krew user runs; linux/amd64 and
linux/arm64 archives carry the compiled census). ``--no-krew`` leaves that out.
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
KUBECTL = "/usr/bin/kubectl"


def krew_install(scratch: Path) -> dict[str, str]:
    """Install this tree's archive for this platform with the real Krew; the environment to run it."""
    import importlib.util
    import platform

    from tests.dist.krew_binary import krew_binary

    spec = importlib.util.spec_from_file_location("build_dist", REPO / "scripts" / "build_dist.py")
    assert spec is not None and spec.loader is not None
    build_dist = importlib.util.module_from_spec(spec)
    sys.modules["build_dist"] = build_dist
    spec.loader.exec_module(build_dist)
    built = build_dist.build(scratch / "dist", manifest=None)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    archive = built.platforms.get(f"linux_{arch}", built).archive
    (scratch / "plugin.yaml").write_text(built.manifest)
    tools = scratch / "tools"
    tools.mkdir()
    (tools / "kubectl-krew").symlink_to(krew_binary())
    (scratch / "home").mkdir()
    env = {
        "HOME": str(scratch / "home"),
        "KREW_ROOT": str(scratch / "krew"),
        "KREW_NO_UPGRADE_CHECK": "1",
        "LANG": "C.UTF-8",
        "PATH": f"{scratch / 'krew' / 'bin'}:{tools}:/usr/bin:/bin",
    }
    subprocess.run(
        [KUBECTL, "krew", "install", f"--manifest={scratch / 'plugin.yaml'}", f"--archive={archive}"],
        check=True, capture_output=True, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return env


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
        env={**os.environ, "LC_ALL": os.environ.get("LC_ALL", "C.UTF-8"), **(env or {})}
        if env is None or "KREW_ROOT" not in env
        else env,
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
    parser.add_argument("--no-krew", action="store_true", help="leave out the Krew-installed run")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    pid = PIDS[3]
    ours_cmd = [sys.executable, "-m", "kubectl_seccomp", "generate", "--pid", str(pid), "--audit-log"]
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"generate: {census_in_use()}; pure: {census_in_use(PURE)}")
    krew_scratch = tempfile.TemporaryDirectory()
    krew_env = None if args.no_krew else krew_install(Path(krew_scratch.name))
    krew_cmd = [KUBECTL, "seccomp", "generate", "--pid", str(pid), "--audit-log"]
    if krew_env is not None:
        shown = stdout_of([KUBECTL, "seccomp", "version"], krew_env)  # also unpacks it into its cache once
        print(f"krew: {shown.strip()}")
    print(
        f"{'lines':>9} {'pipeline s':>11} {'generate s':>11} {'ratio':>6} {'pure s':>7} {'ratio':>6}"
        f" {'krew s':>7} {'ratio':>6}"
        f" {'pipeline CPU s':>15} {'generate CPU s':>15} {'CPU ratio':>9} {'peak MiB':>9} {'pure MiB':>9}"
        "  same syscalls"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            log = Path(scratch) / f"audit-{size}.log"
            make_log(log, size)
            pipeline = f"grep type=SECCOMP {log} | grep 'pid={pid} ' | grep -o 'syscall=[0-9]*' | sort -u"
            runs: list[tuple[str, list[str] | str, bool, dict[str, str] | None]] = [
                ("pipe", pipeline, True, None),
                ("ours", [*ours_cmd, str(log)], False, None),
                ("pure", [*ours_cmd, str(log)], False, PURE),
            ]
            if krew_env is not None:
                runs.append(("krew", [*krew_cmd, str(log)], False, krew_env))
            times: dict[str, list[float]] = {name: [] for name, *_ in runs}
            cpu: dict[str, list[float]] = {name: [] for name, *_ in runs}
            outputs: dict[str, str] = {}
            for _ in range(args.repeat):  # interleaved, so all of them see the same machine
                for name, command, shell, env in runs:
                    seconds, used, outputs[name] = timed(command, shell=shell, env=env)
                    times[name].append(seconds)
                    cpu[name].append(used)
            numbers = {int(line.split("=")[1]) for line in outputs["pipe"].split()}
            x86 = arch_by_name("x86_64")
            assert x86 is not None
            expected = {syscall_name(x86, n) for n in numbers}
            same = all(
                expected == {name for rule in json.loads(outputs[ours])["syscalls"] for name in rule["names"]}
                for ours in outputs
                if ours != "pipe"
            )
            rss_kib = peak_rss([*ours_cmd, str(log)])
            pure_rss_kib = peak_rss([*ours_cmd, str(log)], PURE)
            best = {name: min(values) for name, values in times.items()}
            best_cpu = {name: min(values) for name, values in cpu.items()}
            krew = f" {'-':>7} {'-':>6}"
            if "krew" in best:
                krew = f" {best['krew']:>7.3f} {best['krew'] / best['pipe']:>6.2f}"
            print(
                f"{size:>9} {best['pipe']:>11.3f} {best['ours']:>11.3f} {best['ours'] / best['pipe']:>6.2f}"
                f" {best['pure']:>7.3f} {best['pure'] / best['pipe']:>6.2f}{krew}"
                f" {best_cpu['pipe']:>15.3f} {best_cpu['ours']:>15.3f} {best_cpu['ours'] / best_cpu['pipe']:>9.2f}"
                f" {rss_kib / 1024:>9.1f} {pure_rss_kib / 1024:>9.1f}  {same}"
            )
            log.unlink()
    krew_scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
