"""``kubectl seccomp record-local`` through its typer command, on a real container."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kubectl_seccomp.commands import record_local
from tests.host.conftest import podman_command, unique

pytestmark = pytest.mark.host


def test_record_local_command_writes_one_profile_per_container(rootfs: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("record-local")(record_local.command)
    app.command("version")(lambda: None)  # a second command: typer then expects the subcommand name
    name = unique("cli")
    podman = podman_command("crun")
    result = CliRunner().invoke(
        app,
        [
            "record-local",
            "--profile-dir",
            str(tmp_path / "out"),
            "--source",
            "netlink",
            "--",
            *podman,
            "run",
            "--rm",
            "--name",
            name,
            "--network",
            "none",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
            "--security-opt",
            "seccomp={log_profile}",
            "--rootfs",
            str(rootfs),
            "/bin/sync",
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert "command exit code 0" in result.output
    profiles = [json.loads(path.read_text()) for path in (tmp_path / "out").glob("*.json")]
    mine = [p for p in profiles if "sync" in p["syscalls"][0]["names"]]
    assert len(mine) == 1, result.output
    names = mine[0]["syscalls"][0]["names"]
    assert {"execve", "exit_group", "rt_sigreturn"} <= set(names)
    assert "flags" not in mine[0]  # runc 1.1 refuses them; --log-denials adds them


def test_o_json_prints_the_recording_and_the_old_o_dir_still_works(rootfs: Path, tmp_path: Path) -> None:
    """``-o json`` is the output format (the recording as data on stdout); ``-o DIR``, the previous
    release's spelling of ``--profile-dir DIR``, still writes there, with one deprecation line."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    podman = podman_command("crun")

    def record(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kubectl_seccomp", "record-local", *flags, "--source", "netlink", "--",
             *podman, "run", "--rm", "--name", unique("cli-o"), "--network", "none",
             "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
             "--security-opt", "seccomp={log_profile}", "--rootfs", str(rootfs), "/bin/sync"],
            capture_output=True, text=True, cwd=repo, timeout=300, check=False,
        )  # fmt: skip

    as_data = record("--profile-dir", str(tmp_path / "new"), "-o", "json")
    assert as_data.returncode == 0, as_data.stderr
    data = json.loads(as_data.stdout)
    assert data["exitCode"] == 0 and data["source"] == "netlink"
    written = {str(path) for path in (tmp_path / "new").glob("*.json")}
    assert {entry["path"] for entry in data["profiles"].values()} == written and written
    assert "deprecated" not in as_data.stderr

    old = record("-o", str(tmp_path / "old"))
    assert old.returncode == 0, old.stderr
    assert old.stdout == "" and list((tmp_path / "old").glob("*.json"))
    notes = [line for line in old.stderr.splitlines() if "deprecated" in line]
    assert notes == [
        "warning: `record-local -o DIR` is deprecated and goes in the next release: use --profile-dir DIR "
        "(-o is the output format: json, table, yaml)"
    ]
