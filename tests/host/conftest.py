"""Helpers for the node agent's tests on the real kernel with real podman containers.

Run as root after ``tests/host/install-deps.sh``. Containers run from a busybox
rootfs (``--rootfs``: no image registry), with the cgroupfs manager, the file
events backend and host or no networking, so podman leaves the test cluster's
cgroups and CNI configuration alone. Every test marked ``host``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIMES = ("crun", "runc")
LOG_PROFILE = {
    "defaultAction": "SCMP_ACT_LOG",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [],
}


def _why_not() -> Optional[str]:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("podman", "crun", "runc", "busybox"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (run tests/host/install-deps.sh)"
    if not Path("/proc/self/loginuid").exists():
        return "kernel built without CONFIG_AUDIT"
    return None


@pytest.fixture(scope="session", autouse=True)
def host_ready() -> None:
    reason = _why_not()
    if reason:
        pytest.skip(reason)


def podman_command(runtime: str, *args: str) -> list[str]:
    """A podman command line with the flags that keep it off the cluster's cgroups and CNI."""
    return ["podman", "--runtime", runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args]


def podman(runtime: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run :func:`podman_command`; fail the test on an error unless ``check`` is false."""
    command = podman_command(runtime, *args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
    return result


def run_args(profile: Path, rootfs: Path, *extra: str, network: str = "none", name: Optional[str] = None) -> list[str]:
    """``podman run`` options, then ``--rootfs DIR`` (it takes no value: options go first)."""
    args = [
        "run",
        "--network",
        network,
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        "--security-opt",
        f"seccomp={profile}",
        *extra,
    ]
    if name:
        args += ["--name", name]
    return [*args, "--rootfs", str(rootfs)]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox root filesystem with a small web site and a CGI script."""
    root = tmp_path_factory.mktemp("busybox-rootfs")
    for directory in ("bin", "proc", "sys", "dev", "etc", "tmp", "www/cgi-bin"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "www" / "index.html").write_text("<h1>hello from busybox httpd</h1>\n")
    (root / "www" / "big.txt").write_text("".join(f"line {i}\n" for i in range(20000)))
    cgi = root / "www" / "cgi-bin" / "hello"
    cgi.write_text('#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "cgi says hi to $QUERY_STRING"\n')
    cgi.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def python_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root filesystem with the host's /usr/bin/python3 (Debian's), its libraries and stdlib."""
    root = tmp_path_factory.mktemp("python-rootfs")
    python = Path(os.path.realpath("/usr/bin/python3"))
    version = python.name  # python3.11
    stdlib = Path("/usr/lib") / version
    skip = shutil.ignore_patterns(
        "test",
        "idlelib",
        "tkinter",
        "ensurepip",
        "__pycache__",
        "site-packages",
        "dist-packages",
        "lib2to3",
        "turtledemo",
    )
    shutil.copytree(stdlib, root / stdlib.relative_to("/"), ignore=skip, symlinks=True)
    binaries = [python, *sorted((stdlib / "lib-dynload").glob("_ctypes*.so"))]
    libraries: set[str] = set()
    for binary in binaries:
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
        libraries.update(word for word in ldd.split() if word.startswith("/"))
    for path in [python, *map(Path, sorted(libraries))]:
        target = root / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(path), target)
    (root / "usr" / "bin" / "python3").symlink_to(version)
    for directory in ("proc", "sys", "dev", "tmp", "etc"):
        (root / directory).mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "www").mkdir()
    (root / "www" / "index.html").write_text("<h1>hello from busybox httpd</h1>\n")  # the same site
    (root / "www" / "big.txt").write_text("".join(f"line {i}\n" for i in range(20000)))
    return root


@pytest.fixture(scope="session")
def log_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "log.json"
    path.write_text(json.dumps(LOG_PROFILE))
    return path


class Agent:
    """``python3 -m kubectl_seccomp.agent follow`` as a real process, events in a file."""

    def __init__(self, tmp: Path, *args: str, python: str = sys.executable, entry: Optional[list[str]] = None):
        self.out = tmp / f"agent-{uuid.uuid4().hex[:8]}.jsonl"
        self.err = self.out.with_suffix(".err")
        command = [python, *(entry or ["-m", "kubectl_seccomp.agent"]), "follow", "--interval", "0.5", *args]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=str(tmp))
        self.wait_for(lambda e: e["event"] in ("start", "error"), "start")
        start = self.events()[0]
        assert start["event"] == "start", f"agent did not start: {start} {self.err.read_text()}"
        self.source = start["source"]

    def events(self) -> list[dict[str, Any]]:
        lines = self.out.read_bytes().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def wait_for(self, predicate: Any, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if any(predicate(event) for event in self.events()):
                    return
            except json.JSONDecodeError:
                pass  # a line being written
            if self.process.poll() is not None and not any(predicate(e) for e in self.events()):
                raise AssertionError(f"agent exited ({self.process.returncode}) before {what}: {self.err.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"agent: no {what} within {timeout}s")

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self, settle: float = 1.5) -> list[dict[str, Any]]:
        """Let records in flight arrive, SIGTERM, check the clean exit; return the events."""
        time.sleep(settle)
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.err.read_text()
        events = self.events()
        assert events[-1]["event"] == "counters", events[-3:]
        return events

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[Agent]]:
    """Start agents with ``agents.append(Agent(tmp_path, ...))``; killed if a test fails."""
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.kill()


def final_counters(events: list[dict[str, Any]]) -> dict[str, Any]:
    return [e for e in events if e["event"] == "counters"][-1]


def syscalls_of(events: list[dict[str, Any]], container: str) -> set[str]:
    return {e["name"] for e in events if e["event"] == "syscall" and e["container"] == container}


def create_container(runtime: str, profile: Path, rootfs: Path, *command: str, network: str = "none") -> str:
    """``podman create`` (so the id is known before the agent starts); returns the full id."""
    name = unique("agent-test")
    args = run_args(profile, rootfs, network=network, name=name)
    args[0] = "create"
    return podman(runtime, *args, *command).stdout.strip().splitlines()[-1]


def start_attached(runtime: str, container: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    try:
        return podman(runtime, "start", "--attach", container, check=False, timeout=timeout)
    finally:
        podman(runtime, "rm", "--force", container, check=False)
