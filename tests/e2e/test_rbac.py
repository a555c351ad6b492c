"""The ClusterRole of docs/rbac.md is enough for every command; without it, a clear forbidden line.

The user is a service account with nothing but that ClusterRole bound, using a
kubeconfig that holds only its token (no admin certificate anywhere).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import (
    EXEC_REQUESTS,
    cli,
    cli_ok,
    content_path,
    deploy,
    http_deployment,
    rbac_cluster_role,
    ready_pods,
    seccomp_settings,
    token_kubeconfig,
    wait_settled,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def limited_user(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(kubeconfig with the docs/rbac.md role, kubeconfig of a user without it)."""
    kubectl = cluster.kubectl
    role = rbac_cluster_role()
    role_name = f"kubectl-seccomp-{namespace}"[:63]
    role["metadata"]["name"] = role_name
    kubectl.run("apply", "-f", "-", input=json.dumps(role))
    for account in ("limited", "nobody"):
        kubectl.run("create", "serviceaccount", account, "-n", namespace)
    kubectl.run(
        "create", "clusterrolebinding", role_name, f"--clusterrole={role_name}", f"--serviceaccount={namespace}:limited"
    )
    try:
        configs = []
        for account in ("limited", "nobody"):
            token = kubectl.run("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
            configs.append(token_kubeconfig(cluster.kubeconfig, token, namespace, tmp_path / f"{account}.yaml"))
        yield configs[0], configs[1]
    finally:
        kubectl.run("delete", "clusterrolebinding", role_name, check=False)
        kubectl.run("delete", "clusterrole", role_name, check=False)
        # what apply --sync made, should the test stop before its cleanup
        kubectl.run(
            "delete",
            "-n",
            "kubectl-seccomp",
            "daemonset,configmap,serviceaccount",
            SYNC,
            "--ignore-not-found",
            check=False,
        )
        kubectl.run("delete", "clusterrolebinding,clusterrole", SYNC, "--ignore-not-found", check=False)


# exclusive (scripts/test.sh): apply --sync writes on every node, cleanup --profiles removes what no workload uses
@pytest.mark.exclusive
def test_the_documented_role_is_enough_for_every_command(
    cluster: Any, namespace: str, tmp_path: Path, limited_user: tuple[Path, Path]
) -> None:
    limited, _nobody = limited_user
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("web", replicas=1))
    # the role grants nothing about itself: the user really is limited
    denied = kubectl.run("--kubeconfig", str(limited), "get", "secrets", "-n", namespace, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()

    cli_ok(limited, "record", "deploy/web", "--exec", EXEC_REQUESTS, "--timeout", "120s", cwd=tmp_path)
    localhost = content_path(namespace, "web", "web", tmp_path / "profiles" / namespace / "web-web.json")
    assert seccomp_settings(wait_settled(kubectl, namespace, "web"))["containers/web"]["localhostProfile"] == localhost
    rows = json.loads(cli_ok(limited, "status", "deploy/web", "-o", "json", cwd=tmp_path).stdout)["containers"]
    assert rows[0]["type"] == "Localhost" and rows[0]["nodesPresent"] == rows[0]["nodesEligible"] == 2
    cli_ok(limited, "rollback", "deploy/web", cwd=tmp_path)
    assert seccomp_settings(wait_settled(kubectl, namespace, "web")) == seccomp_settings(before)
    cli_ok(
        limited,
        "apply",
        "deploy/web",
        "--profile",
        str(tmp_path / "profiles" / namespace / "web-web.json"),
        "--sync",
        "--timeout",
        "120s",
        cwd=tmp_path,
    )
    assert len(ready_pods(kubectl, namespace, "web")) == 1
    sync = kubectl.json("get", "daemonset", SYNC, "-n", "kubectl-seccomp")
    assert sync["status"]["numberReady"] == len(cluster.nodes)  # its pods could label their nodes
    cli_ok(limited, "rollback", "deploy/web", cwd=tmp_path)
    cli_ok(limited, "cleanup", "--profiles", cwd=tmp_path)
    for kind in ("clusterrole", "clusterrolebinding"):
        assert kubectl.run("get", kind, SYNC, check=False).returncode != 0, f"cleanup left {kind} {SYNC}"


SYNC = "kubectl-seccomp-sync"


def test_a_user_without_the_role_gets_a_clear_forbidden_message(
    cluster: Any, namespace: str, tmp_path: Path, limited_user: tuple[Path, Path]
) -> None:
    _limited, nobody = limited_user
    deploy(cluster.kubectl, namespace, http_deployment("web", replicas=1))
    for args in (["record", "deploy/web", "--duration", "3s"], ["rollback", "deploy/web"], ["status", "deploy/web"]):
        result = cli(nobody, *args, cwd=tmp_path)
        assert result.returncode == 5, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0].startswith(f"error: forbidden: cannot get deployments.apps in namespace {namespace}")
        assert "system:serviceaccount:" in lines[0]
        assert lines[1].startswith("hint: ") and "docs/rbac.md" in lines[1]
        assert "Traceback" not in result.stderr
    result = cli(nobody, "cleanup", cwd=tmp_path)
    assert result.returncode == 5
    assert "forbidden: cannot" in result.stderr and "Traceback" not in result.stderr
