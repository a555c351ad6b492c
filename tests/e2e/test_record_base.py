"""``record --base``: an app's new version makes one more call; recording it under the old profile in
complain mode logs only that call, and the profile written is the old one plus it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import EXEC_REQUESTS, cli_ok, deploy, http_deployment, our_pods, profile_names, wait_settled

pytestmark = pytest.mark.cluster

SERVE = (
    "import os, runpy, sys; {extra}sys.argv = ['http.server', '8080']; "
    "runpy.run_module('http.server', run_name='__main__')"
)


def version(extra: str) -> dict[str, Any]:
    manifest = http_deployment("app", replicas=1)
    manifest["spec"]["template"]["spec"]["containers"][0]["command"] = ["python3", "-c", SERVE.format(extra=extra)]
    return manifest


def test_record_base_adds_only_the_new_call(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, version(""))
    old_dir, new_dir = tmp_path / "v1", tmp_path / "v2"
    cli_ok(cluster.kubeconfig, "record", "deploy/app", "-n", namespace, "--exec", EXEC_REQUESTS, "--no-apply",
           "--profile-dir", str(old_dir), "--timeout", "120s", cwd=tmp_path)  # fmt: skip
    base = old_dir / namespace / "app-web.json"
    assert "getpriority" not in profile_names(base)

    # version 2 calls getpriority once at start-up
    deploy(kubectl, namespace, version("os.getpriority(os.PRIO_PROCESS, 0); "))
    result = cli_ok(cluster.kubeconfig, "record", "deploy/app", "-n", namespace, "--base", str(base),
                    "--exec", EXEC_REQUESTS, "--profile-dir", str(new_dir), "--timeout", "120s",
                    cwd=tmp_path)  # fmt: skip
    assert "--exec command exited with code 0" in result.stderr
    updated = new_dir / namespace / "app-web.json"
    assert profile_names(updated) - profile_names(base) == {"getpriority"}
    assert profile_names(base) <= profile_names(updated)
    assert json.loads(updated.read_text())["defaultAction"] == "SCMP_ACT_ERRNO"
    # applied (enforce) and serving; nothing of the recording left
    settings = wait_settled(kubectl, namespace, "app")["spec"]["template"]["spec"]["containers"][0]
    assert settings["securityContext"]["seccompProfile"]["type"] == "Localhost"
    assert our_pods(kubectl) == []
