"""``kubectl seccomp record-local`` through its typer command, on a real container."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kubectl_seccomp.commands import record_local
from tests.host.conftest import unique

pytestmark = pytest.mark.host


def test_record_local_command_writes_one_profile_per_container(rootfs: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("record-local")(record_local.command)
    app.command("version")(lambda: None)  # a second command: typer then expects the subcommand name
    name = unique("cli")
    podman = ["podman", "--runtime", "crun", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    result = CliRunner().invoke(app, [
        "record-local", "--profile-dir", str(tmp_path / "out"), "--source", "netlink", "--",
        *podman, "run", "--rm", "--name", name, "--network", "none",
        "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
        "--security-opt", "seccomp={log_profile}", "--rootfs", str(rootfs), "/bin/sync",
    ])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "command exit code 0" in result.output
    profiles = [json.loads(path.read_text()) for path in (tmp_path / "out").glob("*.json")]
    mine = [p for p in profiles if "sync" in p["syscalls"][0]["names"]]
    assert len(mine) == 1, result.output
    names = mine[0]["syscalls"][0]["names"]
    assert {"execve", "exit_group", "rt_sigreturn"} <= set(names)
    assert "flags" not in mine[0]  # runc 1.1 refuses them; --log-denials adds them
