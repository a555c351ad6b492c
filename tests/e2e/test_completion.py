"""Completion through the real kubectl on the real cluster: ``kubectl seccomp record deploy/<TAB>``.

kubectl runs ``kubectl_complete-seccomp`` from PATH (here a two-line script that runs
``python3 -m kubectl_seccomp.completion`` from this tree) and prints its answer. kubectl keeps its
own ``-n`` for itself when completing a plugin, so the namespace comes from the kubeconfig's context,
as for a user: a copy of the cluster's kubeconfig whose context names the test namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Cluster, Kubectl

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def completer_env(tmp_path: Path, kubeconfig: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, module in (
        ("kubectl-seccomp", "kubectl_seccomp"),
        ("kubectl_complete-seccomp", "kubectl_seccomp.completion"),
    ):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m {module} "$@"\n')
        script.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}


def test_kubectl_completes_deployment_names_from_the_cluster(
    cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    for name in ("web", "worker", "api"):  # no replicas: nothing to schedule, the names are what counts
        kubectl.run("create", "deployment", name, "-n", namespace, "--image=registry.invalid/none", "--replicas=0")
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    kubectl.run("config", "set-context", "--current", f"--namespace={namespace}", f"--kubeconfig={kubeconfig}")
    env = completer_env(tmp_path, kubeconfig)

    def complete(*words: str) -> list[str]:
        result = subprocess.run(["kubectl", "__complete", "seccomp", *words], capture_output=True, text=True,
                                env=env, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    assert complete("rec") == ["record", "record-local", ":4"]
    assert complete("record", "deploy/") == ["deploy/api", "deploy/web", "deploy/worker", ":4"]
    assert complete("apply", "deployment/w") == ["deployment/web", "deployment/worker", ":4"]
    assert complete("record", "--source", "a") == ["auto", "auditlog", ":4"]
    # Another namespace of the context: no Deployments there, so no names.
    kubectl.run("config", "set-context", "--current", "--namespace=default", f"--kubeconfig={kubeconfig}")
    assert "deploy/web" not in complete("record", "deploy/")
