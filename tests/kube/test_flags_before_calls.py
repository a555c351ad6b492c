"""Every flag value is checked before the first API call.

The real CLI runs against a server on 127.0.0.1 that counts connections and
never answers (``tests/kube/servers.py``): a refused flag must give its one
line and exit 2 (a profile: 1) with no connection made. Before, the node
pods refused these values, after the workload was locked and pods created.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube.servers import SilentServer, kubeconfig, run_cli

BAD_FLAGS = [
    (("record", "deploy/web", "--source", "foo"), "error: Invalid value for '--source': 'foo' is not one of"),
    (("record", "deploy/web", "--agent-namespace", "BAD_NS"), "--agent-namespace 'BAD_NS' is not a namespace name"),
    (("record", "deploy/web", "--agent-namespace", "x" * 64), "is not a namespace name"),
    (("record", "deploy/web", "--seccomp-root", "rel/dir"), "error: --seccomp-root 'rel/dir' is not an absolute path"),
    (("record", "deploy/web", "--image", ""), "error: --image '' is not an image reference"),
    (("record", "deploy/web", "--image", "python 3"), "error: --image 'python 3' is not an image reference"),
    (("watch", "deploy/web", "--source", "foo"), "error: Invalid value for '--source': 'foo' is not one of"),
    (("status", "--seccomp-root", "rel/dir"), "error: --seccomp-root 'rel/dir' is not an absolute path"),
    (("cleanup", "--agent-namespace", "BAD_NS"), "error: --agent-namespace 'BAD_NS' is not a namespace name"),
    (("apply", "deploy/web", "-f", "{profile}", "--image", ""), "error: --image '' is not an image reference"),
]

UNKNOWN_NAMES = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["read", "not_a_syscall", "opne"], "action": "SCMP_ACT_ALLOW"}],
}


@pytest.fixture
def server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.mark.parametrize(("args", "message"), BAD_FLAGS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_a_bad_flag_is_refused_before_any_connection(
    args: tuple[str, ...], message: str, server: SilentServer, tmp_path: Path
) -> None:
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({**UNKNOWN_NAMES, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}))
    argv = [a.format(profile=profile) for a in args]
    result = run_cli(*argv, "--kubeconfig", str(kubeconfig(tmp_path / "c", server.port)), "--request-timeout", "5s")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.splitlines()[0], result.stderr
    assert len(result.stderr.splitlines()) <= 2 and "Traceback" not in result.stderr
    assert server.connections == 0


def test_apply_strict_refuses_unknown_names_before_any_connection(server: SilentServer, tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps(UNKNOWN_NAMES))
    config = str(kubeconfig(tmp_path / "c", server.port))
    result = run_cli("apply", "deploy/web", "-f", str(profile), "--dry-run", "--strict", "--kubeconfig", config)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"error: {profile}: 2 syscall name(s) no architecture has (typos?): not_a_syscall, opne"
    )
    assert server.connections == 0


def test_apply_without_strict_warns_naming_them(server: SilentServer, tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps(UNKNOWN_NAMES))
    config = str(kubeconfig(tmp_path / "c", server.port))
    result = run_cli("apply", "deploy/web", "-f", str(profile), "--dry-run", "--kubeconfig", config,
                     "--request-timeout", "1s")  # fmt: skip
    # the warning, then on to the (silent) server
    assert f"{profile}: 2 syscall name(s) no architecture has (typos?): not_a_syscall, opne" in result.stderr
    assert result.returncode == 6 and server.connections == 1, result.stderr


def test_the_agent_namespace_from_the_environment_is_checked_like_the_flag(
    server: SilentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECTL_SECCOMP_AGENT_NAMESPACE", "BAD_NS")
    config = str(kubeconfig(tmp_path / "c", server.port))
    for args in (("record", "deploy/web"), ("cleanup",)):
        result = run_cli(*args, "--kubeconfig", config, "--request-timeout", "5s")
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines()[0] == "error: --agent-namespace 'BAD_NS' is not a namespace name"
    # the flag wins over the environment
    result = run_cli("cleanup", "--agent-namespace", "ok-ns", "--kubeconfig", config, "--request-timeout", "1s")
    assert "is not a namespace name" not in result.stderr and server.connections >= 1, result.stderr
