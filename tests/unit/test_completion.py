"""kubectl_complete-seccomp's answers, computed from the real command tree.

The cluster's answer (Deployment names) is replaced here at the client boundary,
``kubectl_seccomp.kube.names``; tests/e2e/test_completion.py asks the real cluster through kubectl.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest

from kubectl_seccomp import completion
from kubectl_seccomp.completion import FILE_EXT, NO_FILE, NO_SPACE, complete
from kubectl_seccomp.kube import names
from kubectl_seccomp.kube.config import ConnectionOptions


def test_subcommands() -> None:
    assert complete(["rec"]) == (["record", "record-local"], NO_FILE)
    everything, _ = complete([""])
    assert {"generate", "merge", "diff", "record", "apply", "rollback", "status", "version"} <= set(everything)


def test_flags_of_a_command_come_from_its_definition() -> None:
    flags, directive = complete(["generate", "--"])
    assert directive == NO_FILE
    assert {"--audit-log", "--pid", "--include-denied", "--log-denials", "--no-log-denials", "--help"} <= set(flags)
    assert all(flag.startswith("--") for flag in flags)
    assert complete(["generate", "--inc"]) == (["--include-denied"], NO_FILE)


def test_flag_values() -> None:
    assert complete(["record", "--source", ""]) == (["auto", "netlink", "auditlog", "kmsg"], NO_FILE)
    assert complete(["record", "--source", "a"]) == (["auto", "auditlog"], NO_FILE)
    assert complete(["status", "-o", "j"]) == (["json"], NO_FILE)
    assert complete(["status", "--output=y"]) == (["--output=yaml"], NO_FILE)


def test_files() -> None:
    assert complete(["apply", "deploy/web", "-f", ""]) == (["json"], FILE_EXT)  # profile files
    assert complete(["merge", "a.json", ""]) == (["json"], FILE_EXT)
    assert complete(["generate", "-f", ""]) == ([], 0)  # any file: audit logs have no fixed name


def test_kinds_then_workload_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete(["record", "dep"]) == (
        ["deploy/", "deployment/", "deployments/"],
        NO_SPACE | NO_FILE,
    )
    asked: list[ConnectionOptions] = []

    def fake(options: ConnectionOptions, kind: str, timeout: float = names.DEFAULT_TIMEOUT) -> list[str]:
        asked.append(options)
        return {"Deployment": ["api", "web", "worker"], "CronJob": ["backup"]}.get(kind, [])

    monkeypatch.setattr(names, "workload_names", fake)
    assert complete(["record", "deploy/w"]) == (["deploy/web", "deploy/worker"], NO_FILE)
    assert complete(["apply", "-n", "shop", "--context", "prod", "deployment/"]) == (
        ["deployment/api", "deployment/web", "deployment/worker"],
        NO_FILE,
    )
    assert asked[-1] == ConnectionOptions(kubeconfig=None, context="prod", namespace="shop")
    assert complete(["record", "cj/"]) == (["cj/backup"], NO_FILE)
    assert complete(["record", "CronJobs.batch/b"]) == (["CronJobs.batch/backup"], NO_FILE)
    assert complete(["record", "pod/"]) == ([], NO_FILE)
    assert complete(["record", "rs/"]) == ([], NO_FILE)  # a ReplicaSet is never a target
    assert complete(["record", "deploy/web", ""]) == ([], NO_FILE)  # one target only


def test_no_cluster_means_no_names(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    assert names.workload_names(ConnectionOptions(), "Deployment") == []
    assert complete(["record", "deploy/"]) == ([], NO_FILE)


def test_main_prints_lines_and_the_directive() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        completion.main(["rec"])
    assert out.getvalue() == "record\nrecord-local\n:4\n"
    out = io.StringIO()
    with redirect_stdout(out):
        completion.main(["nosuchcommand", ""])
    assert out.getvalue() == ":4\n"
