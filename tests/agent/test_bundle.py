"""The agent zip application: reproducible, small, self-contained, runs on Python 3.9."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kubectl_seccomp.agent.bundle import build_agent_zipapp

PY39 = "/root/.pyenv/versions/3.9.18/bin/python3.9"  # pyenv shims refuse versions not selected


def test_reproducible_and_small() -> None:
    first, second = build_agent_zipapp(), build_agent_zipapp()
    assert first == second
    assert len(first) < 600 * 1024
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == sorted(names)
    assert "__main__.py" in names and "kubectl_seccomp/agent/main.py" in names
    assert "kubectl_seccomp/profile.py" not in names and "kubectl_seccomp/cli.py" not in names


@pytest.mark.parametrize("python", [sys.executable, PY39])
def test_runs_with_nothing_installed(tmp_path: Path, python: str) -> None:
    if not Path(python).exists():
        pytest.skip(f"{python} not present")
    pyz = tmp_path / "agent.pyz"
    pyz.write_bytes(build_agent_zipapp())
    profile = b'{"defaultAction": "SCMP_ACT_LOG"}'
    result = subprocess.run(
        [python, "-I", str(pyz), "install", "--root", str(tmp_path / "root"), "a/b.json"],
        input=profile,
        capture_output=True,
        cwd=str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "root" / "a" / "b.json").read_bytes() == profile
    lines = (Path(__file__).resolve().parent.parent / "fixtures" / "records" / "kmsg.txt").read_bytes()
    result = subprocess.run(
        [python, "-I", str(pyz), "follow", "--source", "auditlog", "--audit-log", "-", "--no-proc-connector"],
        input=lines,
        capture_output=True,
        cwd=str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert b'"records":' in result.stdout.splitlines()[-1]
