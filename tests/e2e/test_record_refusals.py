"""record on the real cluster: privileged containers, and a container that traced nothing.

Kubernetes runs a privileged container without seccomp: recording it used to
roll the Deployment twice, trace nothing and exit 0. Now it is refused before
anything changes (the Deployment keeps its resourceVersion), and left out
when other containers of the pod can be recorded. A container that traced
nothing (here: the main container of a Job whose init container fails) makes
record exit 11, after writing the other profiles.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import (
    BUSYBOX_IMAGE,
    PYTHON_IMAGE,
    RECORDING,
    cli,
    deploy,
    http_deployment,
    our_pods,
    profile_names,
    seccomp_settings,
    wait_settled,
)

pytestmark = pytest.mark.cluster

SIDECAR = {
    "name": "side",
    "image": BUSYBOX_IMAGE,
    "imagePullPolicy": "IfNotPresent",
    "command": ["sh", "-c", "while true; do sleep 1; done"],
    "securityContext": {"privileged": True},
}


def with_privileged_sidecar(manifest: dict[str, Any], web_too: bool) -> dict[str, Any]:
    spec = manifest["spec"]["template"]["spec"]
    spec["containers"].append(copy.deepcopy(SIDECAR))
    if web_too:
        spec["containers"][0]["securityContext"] = {"privileged": True}
    return manifest


def test_a_privileged_workload_is_refused_and_left_unchanged(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, with_privileged_sidecar(http_deployment("priv", replicas=1), web_too=True))
    result = cli(cluster.kubeconfig, "record", "deploy/priv", "-n", namespace, "--duration", "5s", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0] == (
        "error: deployment priv: every container selected (web, side) is privileged, and Kubernetes runs "
        "privileged containers without seccomp: nothing could be recorded"
    )
    assert "Traceback" not in result.stderr
    after = kubectl.json("get", "deploy", "priv", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # not even locked
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert our_pods(kubectl) == []
    assert not (tmp_path / "profiles").exists()


def test_a_privileged_sidecar_is_left_out_and_web_is_recorded(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, with_privileged_sidecar(http_deployment("mixed", replicas=1), web_too=False))
    result = cli(cluster.kubeconfig, "record", "deploy/mixed", "-n", namespace, "--duration", "5s", "--no-apply",
                 "--timeout", "180s", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: container side runs privileged, without seccomp: not recorded" in result.stderr
    assert {"accept4", "read"} & profile_names(tmp_path / "profiles" / namespace / "mixed-web.json")
    assert not (tmp_path / "profiles" / namespace / "mixed-side.json").exists()
    after = wait_settled(kubectl, namespace, "mixed")
    assert seccomp_settings(after) == seccomp_settings(before)
    assert RECORDING not in (after["metadata"].get("annotations") or {})


def test_a_container_that_traced_nothing_exits_11(cluster: Any, namespace: str, tmp_path: Path) -> None:
    """The Job's init container fails, so its main container never runs while we trace."""
    kubectl = cluster.kubectl
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "never"},
        "spec": {
            "backoffLimit": 0,
            "suspend": True,  # ours runs a copy of the template; this one never starts
            "template": {
                "metadata": {"labels": {"app": "never"}},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "initContainers": [
                        {"name": "setup", "image": PYTHON_IMAGE, "imagePullPolicy": "IfNotPresent",
                         "command": ["python3", "-c", "import sys; open('/etc/hostname').read(); sys.exit(1)"]}
                    ],
                    "containers": [
                        {"name": "work", "image": PYTHON_IMAGE, "imagePullPolicy": "IfNotPresent",
                         "command": ["python3", "-c", "print('never')"]}
                    ],
                },
            },
        },
    }  # fmt: skip
    kubectl.apply(job, namespace)
    result = cli(cluster.kubeconfig, "record", "job/never", "-n", namespace, "--no-apply", "--timeout", "180s",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 11, result.stderr
    lines = result.stderr.splitlines()
    assert "error: no syscall was traced for 1 container(s) (never/work): no profile for them" in lines, lines
    assert lines[-1].startswith("hint: ")
    assert "openat" in profile_names(tmp_path / "profiles" / namespace / "never-setup.json")
    assert not (tmp_path / "profiles" / namespace / "never-work.json").exists()
    assert [j["metadata"]["name"] for j in kubectl.json("get", "jobs", "-n", namespace)["items"]] == ["never"]
