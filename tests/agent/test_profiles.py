"""Profile files under a root: atomic writes, and names that would escape refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_seccomp.agent.profiles import install_profile, remove_profile
from kubectl_seccomp.errors import AgentError

PROFILE = b'{"defaultAction": "SCMP_ACT_LOG"}\n'


def test_install_creates_directories_and_replaces_atomically(tmp_path: Path) -> None:
    root = tmp_path / "seccomp"
    path = install_profile(str(root), "kubectl-seccomp/ns/app.json", PROFILE)
    assert Path(path).read_bytes() == PROFILE
    install_profile(str(root), "kubectl-seccomp/ns/app.json", b'{"defaultAction": "SCMP_ACT_ERRNO"}')
    assert b"ERRNO" in Path(path).read_bytes()
    assert sorted(os.listdir(root / "kubectl-seccomp" / "ns")) == ["app.json"]  # no temporary left
    assert remove_profile(str(root), "kubectl-seccomp/ns/app.json")
    assert not remove_profile(str(root), "kubectl-seccomp/ns/app.json")
    assert not remove_profile(str(root), "nowhere/app.json")


@pytest.mark.parametrize(
    "name", ["../evil.json", "a/../../evil.json", "/etc/evil.json", "a//b.json", "./a.json", "", "a/..", "x\0y"]
)
def test_names_leaving_the_root_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(AgentError):
        install_profile(str(tmp_path / "root"), name, PROFILE)
    with pytest.raises(AgentError):
        remove_profile(str(tmp_path / "root"), name)
    assert not (tmp_path / "evil.json").exists()


def test_symlinked_directory_below_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(AgentError, match="symlink"):
        install_profile(str(root), "link/p.json", PROFILE)
    (outside / "p.json").write_bytes(PROFILE)
    with pytest.raises(AgentError, match="symlink"):
        remove_profile(str(root), "link/p.json")
    assert (outside / "p.json").exists() and os.listdir(outside) == ["p.json"]


def test_symlinked_target_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "p.json").symlink_to(tmp_path / "target")
    with pytest.raises(AgentError):
        install_profile(str(tmp_path / "root"), "p.json", PROFILE)
    assert not (tmp_path / "target").exists()


def test_the_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "root").symlink_to(tmp_path / "real")
    install_profile(str(tmp_path / "root"), "p.json", PROFILE)
    assert (tmp_path / "real" / "p.json").read_bytes() == PROFILE


def test_not_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="not JSON"):
        install_profile(str(tmp_path), "p.json", b"{truncated")
    with pytest.raises(AgentError, match="object"):
        install_profile(str(tmp_path), "p.json", b"[]")


def agent(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp.agent", *args], input=stdin, capture_output=True, timeout=60
    )


def test_cli_install_remove_and_refusal(tmp_path: Path) -> None:
    ok = agent("install", "--root", str(tmp_path), "ns/app.json", stdin=PROFILE)
    assert ok.returncode == 0 and (tmp_path / "ns" / "app.json").read_bytes() == PROFILE
    bad = agent("install", "--root", str(tmp_path), "../escape.json", stdin=PROFILE)
    assert bad.returncode == 1
    assert bad.stderr.decode().count("\n") == 1 and bad.stderr.startswith(b"error: ")
    assert agent("remove", "--root", str(tmp_path), "ns/app.json").returncode == 0
    assert not (tmp_path / "ns" / "app.json").exists()
