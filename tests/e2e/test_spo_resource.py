"""The SeccompProfile that ``--format spo`` writes, checked by a real API server against the operator's CRD.

The CRD is made from tests/fixtures/spo/seccompprofile-v1.json (the OpenAPI schema of the Security
Profiles Operator's SeccompProfile v1, see its ``$comment``), created for this test and deleted after
it (left alone if the cluster already has it). ``kubectl apply --dry-run=server --validate=strict``
then has the API server validate the resource, reject unknown fields instead of pruning them, and
answer the object it would store, which must hold every rule we wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

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
