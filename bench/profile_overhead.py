#!/usr/bin/env python3
"""What a seccomp profile costs a real server under load: nginx, driven by wrk.

Debian's nginx (``apt-get download nginx nginx-common``, unpacked with
``dpkg-deb -x``, plus the libraries ``ldd`` names) runs as a podman container
on the host network, one worker, serving a small static file; ``wrk`` drives
it. In one run, interleaved round by round (the machine is shared: rounds
spread the load of others over every variant), under:

* ``none``: ``--security-opt seccomp=unconfined``;
* ``RuntimeDefault``: podman's default profile;
* ``log-everything``: the profile ``record`` installs (``SCMP_ACT_LOG``, no
  rules): every call is audited;
* ``complain``: the recorded allow list with ``SCMP_ACT_LOG`` as default;
* ``enforce``: the recorded allow list, everything else EPERM.

The allow list is recorded first by ``kubectl seccomp record-local`` while
``wrk`` loads the server (so it holds what serving needs). Prints a Markdown
table of requests/s and, per variant, the median over ``--rounds`` of its ratio
to ``none`` in the same round.
Goal: complain and enforce >= 0.95. Needs root, podman, wrk, dpkg-deb and
apt-get (or ``--nginx-debs DIR`` holding the two .deb files).

    python3 bench/profile_overhead.py [--rounds 5] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kubectl_seccomp.profile import Profile  # noqa: E402

PORT = 18089
PODMAN = ["podman", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
VARIANTS = ("none", "RuntimeDefault", "log-everything", "complain", "enforce")
CONF = f"""daemon off;
master_process off;
worker_processes 1;
error_log /dev/stderr warn;
pid /tmp/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path /tmp/body; proxy_temp_path /tmp/proxy; fastcgi_temp_path /tmp/fcgi;
    uwsgi_temp_path /tmp/uwsgi; scgi_temp_path /tmp/scgi;
    server {{ listen 127.0.0.1:{PORT}; root /srv; }}
}}
"""


def sh(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return result  # type: ignore[no-any-return]


def rootfs(work: Path, debs: Path | None) -> Path:
    """Debian's nginx and the libraries it links, as a directory podman runs with --rootfs."""
    if debs is None:
        debs = work / "debs"
        debs.mkdir()
        sh(["apt-get", "download", "nginx", "nginx-common"], cwd=debs)
    root = work / "rootfs"
    for deb in sorted(debs.glob("nginx*.deb")):
        sh(["dpkg-deb", "-x", str(deb), str(root)])
    binary = root / "usr/sbin/nginx"
    for line in sh(["ldd", str(binary)]).stdout.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            target = root / match.group(1).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(match.group(1), target)
    for directory in ("tmp", "srv", "etc/nginx", "var/log/nginx", "proc", "dev", "sys", "run"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "etc/nginx/bench.conf").write_text(CONF)
    (root / "srv/index.html").write_text("<html><body>" + "x" * 600 + "</body></html>\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return root


def run_args(root: Path, seccomp: str | None, name: str) -> list[str]:
    opts = ["--security-opt", f"seccomp={seccomp}"] if seccomp else []
    return [*PODMAN, "run", "-d", "--name", name, "--network", "host", *ULIMITS, *opts, "--rootfs", str(root),
            "/usr/sbin/nginx", "-c", "/etc/nginx/bench.conf"]  # fmt: skip


def wait_up(name: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (
            subprocess.run(["wrk", "-t1", "-c1", "-d1s", f"http://127.0.0.1:{PORT}/"], capture_output=True).returncode
            == 0
        ):
            return
        time.sleep(0.2)
    logs = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True)
    state = subprocess.run([*PODMAN, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name],
                           capture_output=True, text=True)  # fmt: skip
    sys.exit(f"nginx ({name}) did not answer: {state.stdout.strip()} {logs.stdout}{logs.stderr}")


def wrk(seconds: float) -> float:
    out = sh(["wrk", "-t2", "-c32", f"-d{seconds:g}s", f"http://127.0.0.1:{PORT}/"]).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not match or "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"wrk: unexpected output:\n{out}")
    return float(match.group(1))


def record(root: Path, work: Path, seconds: float) -> Profile:
    """The allow list of nginx serving wrk's load, recorded by record-local."""
    out = work / "recorded"
    script = (
        f"set -e; id=$({' '.join(run_args(root, '{log_profile}', 'ksc-bench-rec'))}) && "
        f"for i in $(seq 100); do wrk -t1 -c1 -d1s http://127.0.0.1:{PORT}/ >/dev/null 2>&1 && break; sleep 0.2; done; "
        f"wrk -t2 -c32 -d{seconds:g}s http://127.0.0.1:{PORT}/ >/dev/null; "
        f"{' '.join(PODMAN)} rm -f -t 2 ksc-bench-rec >/dev/null"
    )
    sh([sys.executable, "-m", "kubectl_seccomp", "record-local", "-o", str(out), "--", "sh", "-c", script], cwd=REPO)
    files = sorted(out.glob("*.json"))
    if not files:
        sys.exit("record-local wrote no profile")
    return Profile.load(files[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--nginx-debs", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ksc-bench-") as tmp:
        work = Path(tmp)
        root = rootfs(work, args.nginx_debs)
        recorded = record(root, work, args.seconds)
        files = {
            "none": "unconfined",
            "RuntimeDefault": None,
            "log-everything": Profile.log_profile(["x86_64", "i386"]),
            "complain": recorded.in_mode("complain"),
            "enforce": recorded.in_mode("enforce"),
        }
        paths: dict[str, str | None] = {}
        for variant, value in files.items():
            if isinstance(value, Profile):
                path = work / f"{variant}.json"
                path.write_text(value.to_json())
                paths[variant] = str(path)
            else:
                paths[variant] = value
        results: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for round_index in range(args.rounds):
            order = VARIANTS if round_index % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                name = f"ksc-bench-{variant.lower()}-{round_index}"
                subprocess.run([*PODMAN, "rm", "-f", name], capture_output=True)
                sh(run_args(root, paths[variant], name))
                try:
                    wait_up(name)
                    wrk(1.0)  # warm up
                    results[variant].append(wrk(args.seconds))
                finally:
                    subprocess.run([*PODMAN, "rm", "-f", "-t", "2", name], capture_output=True)
    medians = {v: statistics.median(values) for v, values in results.items()}
    # Each round's ratio to that round's run without a profile, then their median: a paired
    # comparison, so that the load of others during one round does not count against one variant.
    paired = {v: statistics.median(x / n for x, n in zip(values, results["none"])) for v, values in results.items()}
    if args.json:
        print(json.dumps({"requests_per_second": results, "ratio": paired,
                          "allowed_syscalls": len(recorded.allowed_syscalls)}, indent=2))  # fmt: skip
        return 0
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"nginx (1 worker), wrk -t2 -c32 {args.seconds:g}s x {args.rounds} rounds; "
          f"recorded allow list: {len(recorded.allowed_syscalls)} calls; load average {' '.join(load)}\n")  # fmt: skip
    print("| profile | requests/s (median) | ratio to no profile (median of rounds) | requests/s per round |")
    print("| --- | ---: | ---: | --- |")
    for variant in VARIANTS:
        rounds = ", ".join(f"{value:.0f}" for value in results[variant])
        print(f"| {variant} | {medians[variant]:.0f} | {paired[variant]:.3f} | {rounds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
