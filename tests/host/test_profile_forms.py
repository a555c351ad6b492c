"""The profile file as podman takes it: ``--security-opt seccomp=FILE`` with the file we write.

A real container (busybox, crun) is recorded with ``record-local``; ``merge --format json`` writes
the file; podman runs the container under it. Then the same file without ``mkdir``/``mkdirat``:
``mkdir`` fails with EPERM, which shows podman enforces what the file says, not merely accepts it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.host.conftest import REPO, podman, podman_command, run_args, unique

pytestmark = pytest.mark.host


def mkdir() -> list[str]:
    """A command that needs mkdir(at) and fails visibly without it (a new name: the rootfs persists)."""
    return ["/bin/mkdir", f"/tmp/{unique('made')}"]


PODMAN = podman_command("crun")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_podman_runs_a_container_under_the_written_profile(rootfs: Path, tmp_path: Path) -> None:
    recorded = cli(
        "record-local", "--profile-dir", str(tmp_path / "recorded"), "--source", "netlink", "--",
        *PODMAN, "run", "--rm", "--name", unique("forms"), *run_args(Path("{log_profile}"), rootfs)[1:], *mkdir(),
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    (profile,) = [p for p in (tmp_path / "recorded").glob("*.json") if "mkdir" in p.read_text()]
    written = tmp_path / "podman-profile.json"
    merged = cli("merge", str(profile), str(profile), "--format", "json", "--to", str(written))
    assert merged.returncode == 0, merged.stderr
    names = json.loads(written.read_text())["syscalls"][0]["names"]
    assert {"mkdir", "mkdirat"} & set(names)

    ran = podman("crun", *run_args(written, rootfs, "--rm"), *mkdir(), check=False)
    assert ran.returncode == 0, ran.stderr

    data = json.loads(written.read_text())
    data["syscalls"][0]["names"] = [n for n in names if n not in ("mkdir", "mkdirat")]
    without = tmp_path / "without-mkdir.json"
    without.write_text(json.dumps(data))
    rewritten = tmp_path / "podman-without-mkdir.json"
    assert cli("merge", str(without), str(without), "--to", str(rewritten)).returncode == 0
    denied = podman("crun", *run_args(rewritten, rootfs, "--rm"), *mkdir(), check=False)
    assert denied.returncode != 0, "mkdir ran although the profile does not allow it"
    assert "Operation not permitted" in denied.stderr + denied.stdout
