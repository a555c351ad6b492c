"""Smoke tests of the test cluster itself: what the plugin relies on works for real.

A Deployment becomes Available and serves HTTP; ``kubectl rollout restart``
makes a new ReplicaSet; the kubelet applies a Localhost seccomp profile from its
seccomp directory, and refuses to create a container whose profile file is
missing -- on every node, each with its own directory.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Cluster, Kubectl

pytestmark = pytest.mark.cluster

PYTHON_IMAGE = "docker.io/library/python:3.12-slim"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.36"

# Everything allowed but mkdir/mkdirat, which fail with EPERM.
DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
MKDIR_SCRIPT = (
    "grep Seccomp: /proc/self/status; if mkdir /tmp/probe; then echo MKDIR=allowed; else echo MKDIR=denied; fi"
)


def web_deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "web",
                            "image": PYTHON_IMAGE,
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-m", "http.server", "8080"],
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    }


def probe_pod(name: str, *, profile: str | None, node: str | None = None) -> dict[str, Any]:
    security: dict[str, Any] = {}
    if profile is not None:
        security = {"seccompProfile": {"type": "Localhost", "localhostProfile": profile}}
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {
                "name": "probe",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", MKDIR_SCRIPT],
                "securityContext": security,
            }
        ],
    }
    if node is not None:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def wait_until(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def pod_finished(kubectl: Kubectl, namespace: str, name: str) -> bool:
    phase = kubectl.json("get", "pod", name, "-n", namespace)["status"].get("phase")
    return phase in ("Succeeded", "Failed")


def replica_sets(kubectl: Kubectl, namespace: str, app: str) -> dict[str, dict[str, Any]]:
    items = kubectl.json("get", "replicasets", "-n", namespace, "-l", f"app={app}")["items"]
    return {rs["metadata"]["name"]: rs for rs in items}


@pytest.fixture
def profile(cluster: Cluster, namespace: str) -> Iterator[str]:
    """DENY_MKDIR placed in every node's seccomp directory; its localhostProfile path."""
    relative = Path("e2e") / namespace / "deny-mkdir.json"
    for node in cluster.nodes:
        target = node.seccomp_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(DENY_MKDIR))
    yield str(relative)
    for node in cluster.nodes:
        shutil.rmtree(node.seccomp_dir / "e2e" / namespace, ignore_errors=True)


def test_nodes_ready(cluster: Cluster, kubectl: Kubectl) -> None:
    nodes = kubectl.json("get", "nodes")["items"]
    ready = {
        n["metadata"]["name"]
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    }
    assert ready == {n.name for n in cluster.nodes}
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {cluster.version}


def test_deployment_becomes_available_and_serves_http(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(web_deployment("web"), namespace)
    kubectl.run("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=130)
    conditions = kubectl.json("get", "deployment", "web", "-n", namespace)["status"]["conditions"]
    assert {"type": "Available", "status": "True"}.items() <= next(
        c for c in conditions if c["type"] == "Available"
    ).items()
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    for pod in pods:  # from the host to each pod IP, whichever node it runs on
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/", timeout=10) as response:
            assert response.status == 200
            assert b"Directory listing" in response.read()


def test_pod_to_pod_request(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(web_deployment("web", replicas=1), namespace)
    kubectl.run("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=130)
    ip = kubectl.json("get", "pods", "-n", namespace, "-l", "app=web")["items"][0]["status"]["podIP"]
    # No -T: Debian 12's busybox-static 1.35 wget segfaults with a timeout option.
    kubectl.run(
        "run",
        "client",
        "-n",
        namespace,
        f"--image={BUSYBOX_IMAGE}",
        "--image-pull-policy=Never",
        "--restart=Never",
        "--",
        "wget",
        "-O",
        "-",
        f"http://{ip}:8080/",
    )
    wait_until("the wget pod to finish", lambda: pod_finished(kubectl, namespace, "client"))
    assert "Directory listing" in kubectl.run("logs", "client", "-n", namespace).stdout


def test_service_and_dns_from_a_pod(kubectl: Kubectl, namespace: str) -> None:
    """kube-proxy and CoreDNS run: Service names resolve and answer from inside a pod, the API too."""
    kubectl.apply(web_deployment("web", replicas=1), namespace)
    kubectl.run("expose", "deployment/web", "-n", namespace, "--port=80", "--target-port=8080")
    kubectl.run("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=130)
    # kube-proxy programs a new Service (and its endpoints) on its own schedule, after
    # `expose` returns: the client gives it up to 60 s, printing each refused attempt.
    script = (
        "import ssl, time, urllib.request as u\n"
        "def get(url, **kw):\n"
        "    for attempt in range(60):\n"
        "        try:\n"
        "            return u.urlopen(url, timeout=10, **kw)\n"
        "        except OSError as error:\n"
        "            print('attempt', attempt, url, error, flush=True); time.sleep(1)\n"
        "    raise SystemExit('gave up')\n"
        "print(get('http://web/').status)\n"
        f"print(get('http://web.{namespace}.svc.cluster.local/').status)\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount/'\n"
        "ctx = ssl.create_default_context(cafile=sa + 'ca.crt')\n"
        "auth = {'Authorization': 'Bearer ' + open(sa + 'token').read()}\n"
        "req = u.Request('https://kubernetes.default.svc/version', headers=auth)\n"
        "print(get(req, context=ctx).read().decode())\n"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "client",
                    "image": PYTHON_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", script],
                }
            ],
        },
    }
    kubectl.apply(pod, namespace)
    wait_until("the client pod to finish", lambda: pod_finished(kubectl, namespace, "client"))
    out = kubectl.run("logs", "client", "-n", namespace).stdout
    answers = [line for line in out.splitlines() if not line.startswith("attempt ")]
    assert answers[:2] == ["200", "200"] and '"gitVersion"' in out, out


def test_rollout_restart_makes_a_new_replicaset(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(web_deployment("web"), namespace)
    kubectl.run("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=130)
    before = replica_sets(kubectl, namespace, "web")
    assert len(before) == 1
    kubectl.run("rollout", "restart", "deployment/web", "-n", namespace)
    kubectl.run("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=130)
    after = replica_sets(kubectl, namespace, "web")
    new = set(after) - set(before)
    assert len(new) == 1, f"expected one new ReplicaSet, have {sorted(after)}"
    assert after[new.pop()]["status"].get("readyReplicas") == 2
    (old,) = before
    assert after[old]["spec"]["replicas"] == 0


def test_localhost_profile_is_applied_on_every_node(
    cluster: Cluster, kubectl: Kubectl, namespace: str, profile: str
) -> None:
    for node in cluster.nodes:
        kubectl.apply(probe_pod(f"confined-{node.name}", profile=profile, node=node.name), namespace)
    kubectl.apply(probe_pod("unconfined", profile=None), namespace)
    for name in [f"confined-{n.name}" for n in cluster.nodes] + ["unconfined"]:
        wait_until(f"pod {name} to finish", lambda name=name: pod_finished(kubectl, namespace, name))
    for node in cluster.nodes:
        out = kubectl.run("logs", f"confined-{node.name}", "-n", namespace).stdout
        assert "Seccomp:\t2" in out, out  # a filter is loaded
        assert "Operation not permitted" in out and "MKDIR=denied" in out, out
    out = kubectl.run("logs", "unconfined", "-n", namespace).stdout
    assert "MKDIR=allowed" in out, out


def test_missing_profile_fails_container_creation(kubectl: Kubectl, namespace: str) -> None:
    missing = f"e2e/{namespace}/does-not-exist.json"
    kubectl.apply(probe_pod("missing", profile=missing), namespace)

    def waiting() -> dict[str, Any] | None:
        statuses = kubectl.json("get", "pod", "missing", "-n", namespace)["status"].get("containerStatuses", [])
        state = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return state if state.get("reason") == "CreateContainerError" else None

    state = wait_until("CreateContainerError", waiting)
    assert "seccomp" in state["message"] and "does-not-exist.json" in state["message"], state


def test_profile_on_one_node_only(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    """Nodes have separate seccomp directories: a profile placed on node 1 is absent on node 2."""
    if len(cluster.nodes) < 2:
        pytest.skip("the test cluster runs a single node (harness.py up --nodes 1)")
    first, second = cluster.nodes[:2]
    relative = Path("e2e") / namespace / "node1-only.json"
    (first.seccomp_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    (first.seccomp_dir / relative).write_text(json.dumps(DENY_MKDIR))
    try:
        kubectl.apply(probe_pod("on-first", profile=str(relative), node=first.name), namespace)
        kubectl.apply(probe_pod("on-second", profile=str(relative), node=second.name), namespace)
        wait_until("pod on-first to finish", lambda: pod_finished(kubectl, namespace, "on-first"))
        assert "MKDIR=denied" in kubectl.run("logs", "on-first", "-n", namespace).stdout

        def second_reason() -> str | None:
            statuses = kubectl.json("get", "pod", "on-second", "-n", namespace)["status"].get("containerStatuses")
            return (statuses[0]["state"].get("waiting") or {}).get("reason") if statuses else None

        assert wait_until("on-second to fail", lambda: second_reason() == "CreateContainerError")
    finally:
        shutil.rmtree(first.seccomp_dir / "e2e" / namespace, ignore_errors=True)
