"""The SeccompProfile that ``--format spo`` writes, checked by a real API server against the operator's CRD.

The CRD is made from tests/fixtures/spo/seccompprofile-v1.json (the OpenAPI schema of the Security
Profiles Operator's SeccompProfile v1, see its ``$comment``), created for this test and deleted after
it (left alone if the cluster already has it). ``kubectl apply --dry-run=server --validate=strict``
then has the API server validate the resource, reject unknown fields instead of pruning them, and
answer the object it would store, which must hold every rule we wrote: what ``generate`` writes,
and what ``record --format spo`` writes for a recorded Deployment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from seccomp_helpers import EXEC_REQUESTS, cli_ok, deploy, http_deployment, seccomp_settings

from tests.e2e.conftest import Kubectl

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((REPO / "tests" / "fixtures" / "spo" / "seccompprofile-v1.json").read_text())
FIXTURE_LOG = REPO / "tests" / "fixtures" / "records" / "audit-enriched.log"
CRD_NAME = f"seccompprofiles.{FIXTURE['group']}"


def crd() -> dict[str, object]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": FIXTURE["group"],
            "names": {
                "kind": "SeccompProfile",
                "listKind": "SeccompProfileList",
                "plural": "seccompprofiles",
                "singular": "seccompprofile",
            },
            "scope": FIXTURE["scope"],
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": FIXTURE["schema"]},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


@pytest.fixture
def seccompprofile_crd(kubectl: Kubectl) -> object:
    existing = kubectl.run("get", "crd", CRD_NAME, check=False)
    created = existing.returncode != 0
    if created:
        kubectl.run("apply", "-f", "-", input=json.dumps(crd()))
    try:
        kubectl.run("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
        deadline = time.monotonic() + 60
        while kubectl.run("get", "seccompprofiles", check=False).returncode != 0:  # discovery catches up
            assert time.monotonic() < deadline, "the SeccompProfile API did not appear"
            time.sleep(1)
        yield None
    finally:
        if created:
            kubectl.run("delete", "crd", CRD_NAME, "--wait=false", check=False)


def test_the_api_server_accepts_what_generate_writes(seccompprofile_crd: object, kubectl: Kubectl) -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", "generate", "-f", str(FIXTURE_LOG), "--log-denials",
         "--format", "spo", "--name", "e2e-kubectl-seccomp-check"],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout  # fmt: skip
    written = yaml.safe_load(generated)
    stored = json.loads(
        kubectl.run("apply", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-", input=generated).stdout
    )
    assert stored["kind"] == "SeccompProfile"
    assert {k: v for k, v in stored["spec"].items() if k != "state"} == written["spec"]  # nothing pruned
    assert stored["spec"].get("state") == "Enabled"  # the CRD's default, applied by the server

    bad = generated.replace("  defaultAction:", "  defaultErrnoRet: 1\n  defaultAction:")
    refused = kubectl.run("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=bad, check=False)
    assert refused.returncode != 0 and "defaultErrnoRet" in refused.stderr  # what we leave out, it refuses


def test_record_format_spo_writes_what_the_api_server_accepts(
    seccompprofile_crd: object, cluster: Any, namespace: str, tmp_path: Path
) -> None:
    """``record --format spo`` writes each container's profile as a SeccompProfile the API server
    validates strictly against the operator's schema, holding what was recorded."""
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("spo", replicas=1))
    profiles = tmp_path / "recorded"
    result = cli_ok(
        cluster.kubeconfig, "record", "deploy/spo", "-n", namespace, "--exec", EXEC_REQUESTS, "--no-apply",
        "--format", "spo", "--profile-dir", str(profiles), "--timeout", "120s", "-o", "json", cwd=tmp_path,
    )  # fmt: skip
    assert "deprecated" not in result.stderr
    summary = json.loads(result.stdout)
    written = profiles / namespace / "spo-web.yaml"
    assert [c["file"] for c in summary["containers"]] == [str(written)]
    assert sorted(p.name for p in (profiles / namespace).iterdir()) == ["spo-web.yaml"]
    resource = yaml.safe_load(written.read_text())
    assert resource["metadata"]["name"] == "spo-web"
    names = {name for rule in resource["spec"]["syscalls"] for name in rule["names"]}
    assert len(names) == summary["containers"][0]["syscalls"] > 10 and {"accept4", "recvfrom"} & names

    stored = json.loads(
        kubectl.run("apply", "--dry-run=server", "--validate=strict", "-o", "json", "-f", str(written)).stdout
    )
    assert stored["kind"] == "SeccompProfile"
    assert {k: v for k, v in stored["spec"].items() if k != "state"} == resource["spec"]  # nothing pruned
    after = kubectl.json("get", "deploy", "spo", "-n", namespace)
    assert seccomp_settings(after) == seccomp_settings(before)  # --no-apply: back as it was
