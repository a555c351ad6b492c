"""Verified payloads on the real cluster: a ConfigMap edited after the CLI
created it (and before its node pods start) is refused by every node pod, the
CLI exits non-zero with one line naming the ConfigMap, and nothing changed.

The edit is made by a real second client: a ``sitecustomize`` hook in the
CLI's process runs ``kubectl patch configmap`` right after each ConfigMap of
ours is created, the way another user of the agent namespace could.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import (
    AGENT_NAMESPACE,
    ORIGINAL,
    assert_left_nothing,
    deploy,
    env,
    http_deployment,
    node_files,
    our_pods,
    seccomp_settings,
)

pytestmark = pytest.mark.cluster

HOOK = """
import base64, json, os, subprocess
from kubectl_seccomp.kube import api

_create = api.ClientApi.create_configmap


def create_configmap(self, namespace, body):
    created = _create(self, namespace, body)
    key = os.environ["KSC_TAMPER_KEY"]
    if key in (body.get("binaryData") or {}):
        patch = {"binaryData": {key: base64.b64encode(b"import os; os.system('id')").decode()}}
    elif key in (body.get("data") or {}):
        patch = {"data": {key: '{"defaultAction": "SCMP_ACT_ALLOW"}'}}
    else:
        return created
    subprocess.run(
        ["kubectl", "patch", "configmap", body["metadata"]["name"], "-n", namespace,
         "--type", "merge", "-p", json.dumps(patch)],
        check=True, capture_output=True,
    )
    return created


api.ClientApi.create_configmap = create_configmap
"""


def tampering_cli(kubeconfig: Path, key: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``kubectl seccomp ARGS`` while another client rewrites ``key`` in each ConfigMap we create."""
    hook = cwd / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    environment = env(kubeconfig)
    environment["PYTHONPATH"] = f"{hook}:{environment['PYTHONPATH']}"
    environment["KSC_TAMPER_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=400,
        stdin=subprocess.DEVNULL,
    )


def assert_refused(result: subprocess.CompletedProcess[str], key: str) -> None:
    assert result.returncode == 9, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "tampered payload" in errors[0]
    assert f"key {key} of ConfigMap {AGENT_NAMESPACE}/kubectl-seccomp-" in errors[0]


def no_node_pods_left(kubectl: Any) -> None:
    deadline = time.monotonic() + 30
    while our_pods(kubectl) and time.monotonic() < deadline:
        time.sleep(1)
    assert our_pods(kubectl) == []


@pytest.mark.parametrize("key", ["agent.pyz", "f0.json"])
def test_apply_refuses_an_edited_configmap_and_changes_nothing(
    cluster: Any, namespace: str, tmp_path: Path, key: str
) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("guarded", replicas=1))
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}))
    result = tampering_cli(
        cluster.kubeconfig, key, "apply", "deploy/guarded", "-n", namespace, "--profile", str(profile), cwd=tmp_path
    )
    assert_refused(result, key)
    after = kubectl.json("get", "deploy", "guarded", "-n", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert seccomp_settings(after) == seccomp_settings(before)
    assert ORIGINAL not in (after["metadata"].get("annotations") or {})
    for node, files in node_files(cluster).items():
        assert not [f for f in files if f"/{namespace}/" in f], (node, files)
    no_node_pods_left(kubectl)


def test_record_refuses_an_edited_agent_and_leaves_the_deployment(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("traced", replicas=1))
    result = tampering_cli(
        cluster.kubeconfig, "agent.pyz", "record", "deploy/traced", "-n", namespace, "--duration", "20s", cwd=tmp_path
    )
    assert_refused(result, "agent.pyz")
    assert_left_nothing(cluster, namespace, "traced", seccomp_settings(before))
    after = kubectl.json("get", "deploy", "traced", "-n", namespace)
    assert after["spec"]["template"] == before["spec"]["template"]
