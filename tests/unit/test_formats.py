"""``--format spo``: the profile as a Security Profiles Operator SeccompProfile, checked against the CRD.

tests/fixtures/spo/seccompprofile-v1.json holds the OpenAPI schema of the operator's SeccompProfile
CRD, version v1 (the one it serves and stores; its ``$comment`` names the commit it was taken from).
The API server prunes fields a structural schema does not know, silently, so besides validating we
check that every field we write is one the schema declares.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.formats import DEFAULT_NAME, ProfileFormat, render_profile, resource_name
from kubectl_seccomp.profile import Profile, Rule

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_LOG = ROOT / "tests" / "fixtures" / "records" / "audit-enriched.log"
CRD = json.loads((ROOT / "tests" / "fixtures" / "spo" / "seccompprofile-v1.json").read_text())
jsonschema = pytest.importorskip("jsonschema")


def closed(schema: Any) -> Any:
    """The schema with unknown fields forbidden wherever it lists properties (metadata stays open)."""
    if isinstance(schema, dict):
        result = {key: closed(value) for key, value in schema.items()}
        if schema.get("properties"):
            result.setdefault("additionalProperties", False)
        return result
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


def check_resource(text: str) -> dict[str, Any]:
    resource = yaml.safe_load(text)
    jsonschema.validate(resource, closed(CRD["schema"]), cls=jsonschema.Draft7Validator)
    assert resource["apiVersion"] == f"{CRD['group']}/{CRD['version']}"
    assert resource["kind"] == CRD["kind"] == "SeccompProfile"
    assert CRD["scope"] == "Cluster" and "namespace" not in resource["metadata"]
    for rule in resource["spec"].get("syscalls", []):  # x-kubernetes-list-type: set
        assert len(rule["names"]) == len(set(rule["names"]))
    return dict(resource)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubectl_seccomp", *args], capture_output=True, text=True, cwd=ROOT)


def test_generate_writes_a_seccompprofile_the_crd_accepts(tmp_path: Path) -> None:
    as_json = cli("generate", "-f", str(FIXTURE_LOG), "--log-denials")
    assert as_json.returncode == 0, as_json.stderr
    out = tmp_path / "web-frontend.yaml"
    result = cli("generate", "-f", str(FIXTURE_LOG), "--log-denials", "--format", "spo", "--to", str(out))
    assert result.returncode == 0, result.stderr
    resource = check_resource(out.read_text())
    assert resource["metadata"]["name"] == "web-frontend"  # from the file name
    profile = json.loads(as_json.stdout)
    assert profile.pop("defaultErrnoRet") == 1  # EPERM: what SCMP_ACT_ERRNO gives without it
    assert resource["spec"] == profile
    # The check itself: a field the CRD lacks (the API server would drop it) is caught.
    with pytest.raises(jsonschema.ValidationError, match="defaultErrnoRet"):
        check_resource(yaml.safe_dump({**resource, "spec": {**resource["spec"], "defaultErrnoRet": 1}}))


def test_merge_writes_a_seccompprofile_too(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(Profile.from_observations([("x86_64", "read"), ("x86_64", "write")]).to_json())
    second.write_text(Profile.from_observations([("aarch64", "openat")]).to_json())
    result = cli("merge", str(first), str(second), "--format", "spo", "--name", "shop.web")
    assert result.returncode == 0, result.stderr
    resource = check_resource(result.stdout)
    assert resource["metadata"]["name"] == "shop.web"
    assert resource["spec"]["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]
    assert resource["spec"]["syscalls"] == [{"action": "SCMP_ACT_ALLOW", "names": ["openat", "read", "write"]}]


def test_rules_with_arguments_and_errno_fit_the_schema() -> None:
    profile = Profile(
        default_action="SCMP_ACT_ERRNO",
        architectures=("SCMP_ARCH_X86_64",),
        rules=(
            Rule(("personality",), "SCMP_ACT_ALLOW", args=({"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},)),
            Rule(("ptrace",), "SCMP_ACT_ERRNO", errno_ret=38),
        ),
    )
    resource = check_resource(render_profile(profile, ProfileFormat.spo, "odd"))
    assert resource["spec"]["syscalls"][0]["args"] == [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
    assert resource["spec"]["syscalls"][1]["errnoRet"] == 38


def test_strings_are_quoted_whatever_they_hold() -> None:
    profile = Profile(default_action="SCMP_ACT_ERRNO", architectures=("SCMP_ARCH_X86_64",),
                      rules=(Rule(("read", "yes: no #x"), "SCMP_ACT_ALLOW"),))  # fmt: skip
    resource = yaml.safe_load(render_profile(profile, ProfileFormat.spo, "x"))
    assert resource["spec"]["syscalls"][0]["names"] == ["read", "yes: no #x"]


def test_a_default_errno_the_crd_cannot_hold_is_refused() -> None:
    profile = Profile(default_action="SCMP_ACT_ERRNO", architectures=("SCMP_ARCH_X86_64",), default_errno_ret=38)
    with pytest.raises(UsageError, match="defaultErrnoRet 38"):
        render_profile(profile, ProfileFormat.spo, "x")


def test_names() -> None:
    assert resource_name(None, "Web_Frontend.json") == "web-frontend"
    assert resource_name(None, None) == DEFAULT_NAME
    assert resource_name(None, "___.json") == DEFAULT_NAME
    with pytest.raises(UsageError, match="not a valid Kubernetes object name"):
        resource_name("Web", None)
    bad = cli("generate", "-f", str(FIXTURE_LOG), "--format", "spo", "--name", "Not_Valid")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --name 'Not_Valid' is not a valid Kubernetes object name")
    assert "Traceback" not in bad.stderr


def test_json_is_the_default_and_unchanged() -> None:
    default = cli("generate", "-f", str(FIXTURE_LOG))
    explicit = cli("generate", "-f", str(FIXTURE_LOG), "--format", "json")
    assert default.returncode == explicit.returncode == 0
    assert default.stdout == explicit.stdout
    assert json.loads(default.stdout)["defaultAction"] == "SCMP_ACT_ERRNO"
