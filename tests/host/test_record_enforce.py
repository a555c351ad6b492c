"""Record a real server in a real container, enforce the generated profile, compare.

busybox httpd (static files, a 404, HEAD and a CGI shell script, i.e. fork+exec
inside the container), and ``python3 -m http.server`` from a rootfs made of the
host's Python, are recorded under a log profile with
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


SERVERS = {
    # server: (expected statuses, a command needing a syscall the server never makes, those syscalls)
    "busybox": ([200, 200, 200, 404, 200, 200], ["/bin/mkdir", "/tmp/new"], {"mkdir", "mkdirat"}),
    "python": (
        [200, 200, 200, 404, 404, 404],  # (no CGI) ; python writes __pycache__: it does mkdir
        ["/usr/bin/python3", "-c", "import os; os.symlink('/www', '/tmp/link')"],
        {"symlink", "symlinkat"},
    ),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_record_server_then_enforce(
    runtime: str, server: str, rootfs: Path, python_rootfs: Path, tmp_path: Path
) -> None:
    root = rootfs if server == "busybox" else python_rootfs
    statuses, unrecorded_command, unrecorded_syscalls = SERVERS[server]
    port = str(free_port())
    recorded_answers = tmp_path / "recorded.json"
    recording = record_local(
        LocalOptions(
            command=(sys.executable, SESSION, runtime, "{log_profile}", str(root), port, str(recorded_answers), server),
            output_dir=tmp_path / "profiles",
            source="netlink",
            settle=1.5,
            log_denials=runtime != "runc",  # runc 1.1: "seccomp flags are not yet supported by runc"
        )
    )
    assert recording.exit_code == 0
    assert recording.counters["lost"] == 0
    # Other containers on this host (a test cluster) may log too: take ours.
    container = json.loads(recorded_answers.read_text())["container"]
    profile_path = recording.profiles[container]
    names = {name for _arch, name in recording.syscalls[container]}
    # The server's own work and the runtime's set-up after the filter was loaded.
    assert {"accept", "accept4"} & names and {"execve", "bind", "listen"} <= names, names
    if server == "busybox":  # its CGI child: fork + exec + exit inside the container
        assert {"clone", "fork", "vfork", "clone3"} & names and "exit_group" in names, names
    assert not unrecorded_syscalls & names
    profile = json.loads(profile_path.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"

    enforced_answers = tmp_path / "enforced.json"
    result = subprocess.run(
        [sys.executable, SESSION, runtime, str(profile_path), str(root), port, str(enforced_answers), server],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    recorded = json.loads(recorded_answers.read_text())["answers"]
    assert "hello from busybox" in recorded[0]["body"]
    assert [a["status"] for a in recorded] == statuses
    assert json.loads(enforced_answers.read_text())["answers"] == recorded

    # Same profile, a command that needs a syscall the server never called.
    denied = podman(runtime, *run_args(profile_path, root, "--rm"), *unrecorded_command, check=False)
    assert denied.returncode != 0
    assert "Operation not permitted" in denied.stderr + denied.stdout, (denied.stdout, denied.stderr)
