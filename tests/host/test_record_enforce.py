"""Record a real server in a real container, enforce the generated profile, compare.

busybox httpd (static files, a 404, HEAD and a CGI shell script, i.e. fork+exec
inside the container) is recorded under a log profile with
``record_local`` (what ``kubectl seccomp record-local`` runs), then started again
under the profile it produced: the same requests must give the same answers,
and a command needing a syscall that was never recorded must fail with EPERM.
With crun and with runc: profiles are runtime-specific (DESIGN.md section 4).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_seccomp.local_record import LocalOptions, record_local
from tests.host.conftest import RUNTIMES, podman, run_args

pytestmark = pytest.mark.host
SESSION = str(Path(__file__).with_name("httpd_session.py"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_record_httpd_then_enforce(runtime: str, rootfs: Path, tmp_path: Path) -> None:
    port = str(free_port())
    recorded_answers = tmp_path / "recorded.json"
    recording = record_local(LocalOptions(
        command=(sys.executable, SESSION, runtime, "{log_profile}", str(rootfs), port, str(recorded_answers)),
        output_dir=tmp_path / "profiles",
        source="netlink",
        settle=1.5,
        log_denials=runtime != "runc",  # runc 1.1: "seccomp flags are not yet supported by runc"
    ))
    assert recording.exit_code == 0
    assert recording.counters["lost"] == 0
    # Other containers on this host (a test cluster) may log too: take ours.
    container = json.loads(recorded_answers.read_text())["container"]
    profile_path = recording.profiles[container]
    names = {name for _arch, name in recording.syscalls[container]}
    # The server's own work, its CGI child's exec, and the runtime's set-up after the filter.
    assert {"accept", "execve", "exit_group"} <= names or {"accept4", "execve", "exit_group"} <= names, names
    assert any(name in names for name in ("clone", "fork", "vfork", "clone3")), names
    assert "mkdir" not in names and "mkdirat" not in names
    profile = json.loads(profile_path.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"

    enforced_answers = tmp_path / "enforced.json"

    result = subprocess.run(
        [sys.executable, SESSION, runtime, str(profile_path), str(rootfs), port, str(enforced_answers)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    recorded = json.loads(recorded_answers.read_text())["answers"]
    assert recorded[0]["status"] == 200 and "hello from busybox" in recorded[0]["body"]
    assert [a["status"] for a in recorded] == [200, 200, 200, 404, 200, 200]
    assert json.loads(enforced_answers.read_text())["answers"] == recorded

    # Same profile, a command that needs mkdir, which the server never called.
    denied = podman(runtime, *run_args(profile_path, rootfs, "--rm"), "/bin/mkdir", "/tmp/new", check=False)
    assert denied.returncode != 0
    assert "Operation not permitted" in denied.stderr + denied.stdout, (denied.stdout, denied.stderr)
