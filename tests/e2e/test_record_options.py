"""kubectl's flags and the record options that the other e2e tests do not cover.

KUBECONFIG with several files, --context and the context's namespace,
--kubeconfig, `status -A -o yaml`, `-c` and `--idle`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from seccomp_helpers import (
    BUSYBOX_IMAGE,
    assert_left_nothing,
    cli,
    cli_ok,
    deploy,
    env,
    http_deployment,
    seccomp_settings,
)

pytestmark = pytest.mark.cluster


def test_kubeconfig_files_context_and_namespace_like_kubectl(cluster: Any, namespace: str, tmp_path: Path) -> None:
    deploy(cluster.kubectl, namespace, http_deployment("web", replicas=1))
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    # first file: only a context (and a current-context) naming the cluster and user of the second
    first = tmp_path / "contexts.yaml"
    first.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "elsewhere",
                "contexts": [
                    {
                        "name": "team",
                        "context": {
                            "cluster": admin["clusters"][0]["name"],
                            "user": admin["users"][0]["name"],
                            "namespace": namespace,
                        },
                    },
                    {
                        "name": "elsewhere",
                        "context": {
                            "cluster": admin["clusters"][0]["name"],
                            "user": admin["users"][0]["name"],
                            "namespace": "kube-system",
                        },
                    },
                ],
            }
        )
    )
    merged = f"{first}{os.pathsep}{cluster.kubeconfig}"
    base = env(Path(cluster.kubeconfig))

    def run(*args: str, kubeconfig_env: str) -> Any:
        import subprocess
        import sys

        return subprocess.run(
            [sys.executable, "-m", "kubectl_seccomp", *args],
            capture_output=True,
            text=True,
            env={**base, "KUBECONFIG": kubeconfig_env},
            cwd=tmp_path,
            timeout=120,
        )

    # --context picks the context, whose namespace is used without -n
    result = run("status", "deploy/web", "--context", "team", "--no-nodes", "-o", "json", kubeconfig_env=merged)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["containers"][0]["namespace"] == namespace
    # the merged current-context (from the first file) points at kube-system: web is not there
    result = run("status", "deploy/web", "--no-nodes", kubeconfig_env=merged)
    assert result.returncode == 4 and "not found in namespace kube-system" in result.stderr
    # -n wins over the context's namespace
    result = run("status", "deploy/web", "-n", namespace, "--no-nodes", "-o", "json", kubeconfig_env=merged)
    assert result.returncode == 0, result.stderr
    # --kubeconfig wins over KUBECONFIG
    result = run(
        "status",
        "deploy/web",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "-n",
        namespace,
        "--no-nodes",
        kubeconfig_env=str(tmp_path / "missing"),
    )
    assert result.returncode == 0, result.stderr
    assert "web" in result.stdout
    # an unknown context is one clear line
    result = run("status", "--context", "nope", kubeconfig_env=merged)
    assert result.returncode == 3 and result.stderr.startswith("error: context 'nope' not found")
    # -A lists every namespace, as YAML on request
    rows = yaml.safe_load(
        cli_ok(Path(cluster.kubeconfig), "status", "-A", "--no-nodes", "-o", "yaml", cwd=tmp_path).stdout
    )["containers"]
    expected = {"namespace": namespace, "kind": "Deployment", "name": "web", "container": "web", "type": "unset"}
    assert expected.items() <= next(r for r in rows if r["namespace"] == namespace).items()
    assert all(r["type"] in ("unset", "RuntimeDefault", "Unconfined", "Localhost") for r in rows)


def test_container_selection_and_idle_stop(cluster: Any, namespace: str, tmp_path: Path) -> None:
    manifest = http_deployment("pair", replicas=1)
    manifest["spec"]["template"]["spec"]["containers"].append(
        {
            "name": "sidecar",
            "image": BUSYBOX_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", "while true; do sleep 1; done"],
        }
    )
    before = deploy(cluster.kubectl, namespace, manifest)
    result = cli_ok(
        Path(cluster.kubeconfig),
        "record",
        "deploy/pair",
        "-n",
        namespace,
        "-c",
        "sidecar",
        "--idle",
        "3s",
        "--no-apply",
        "-o",
        "json",
        cwd=tmp_path,
    )
    summary = json.loads(result.stdout)
    assert [c["container"] for c in summary["containers"]] == ["sidecar"]
    assert summary["stopReason"] == "no new syscall for --idle 3s"
    assert (tmp_path / "profiles" / namespace / "pair-sidecar.json").exists()
    assert not (tmp_path / "profiles" / namespace / "pair-web.json").exists()
    assert_left_nothing(cluster, namespace, "pair", seccomp_settings(before))


def test_image_flag_is_used_for_node_pods(cluster: Any, namespace: str, tmp_path: Path) -> None:
    deploy(cluster.kubectl, namespace, http_deployment("img", replicas=1))
    result = cli(
        Path(cluster.kubeconfig),
        "record",
        "deploy/img",
        "-n",
        namespace,
        "--duration",
        "3s",
        "--image",
        "docker.io/library/busybox:1.36",
        cwd=tmp_path,
        timeout=300,
    )
    # busybox has no python3: the node pods fail, and the message says what to do
    assert result.returncode != 0
    assert "python3: not found" in result.stderr
    assert "--image must name an image with python3" in result.stderr
    assert "Traceback" not in result.stderr
    assert seccomp_settings(cluster.kubectl.json("get", "deploy", "img", "-n", namespace))["containers/web"] is None
