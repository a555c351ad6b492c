"""Helpers for the record/apply/rollback/status/cleanup tests on the real cluster.

The plugin runs as a subprocess (``python3 -m kubectl_seccomp``) with the test
cluster's kubeconfig, exactly as a user runs it; the checks read the cluster
with the real kubectl (``conftest.Kubectl``) and the nodes' seccomp
directories from the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
# The plugin's node pods go here; scripts/test.sh gives its second lane of cluster tests
# a namespace of its own, so that each lane's "no node pod left" checks see only its own.
AGENT_NAMESPACE = os.environ.get("KUBECTL_SECCOMP_AGENT_NAMESPACE", "kubectl-seccomp")
PYTHON_IMAGE = "docker.io/library/python:3.12-slim"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.36"
ORIGINAL = "kubectl-seccomp.io/original"
RECORDING = "kubectl-seccomp.io/recording"

# GET every pod of the Deployment (the plugin passes their IPs) a few times.
EXEC_REQUESTS = (
    f'{sys.executable} -c "import os,urllib.request;'
    "[urllib.request.urlopen('http://%s:8080/' % ip, timeout=5).read() "
    "for _ in range(3) for ip in os.environ['KUBECTL_SECCOMP_POD_IPS'].split()]\""
)


def env(kubeconfig: Path) -> dict[str, str]:
    result = dict(os.environ)
    result["KUBECONFIG"] = str(kubeconfig)
    result["PYTHONPATH"] = str(REPO) + (os.pathsep + result["PYTHONPATH"] if result.get("PYTHONPATH") else "")
    result.pop("KUBECTL_SECCOMP_DEBUG", None)
    return result


def cli(kubeconfig: Path, *args: str, cwd: Path, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """Run ``kubectl seccomp ARGS``; the result, whatever the exit code."""
    return subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", *args],
        capture_output=True,
        text=True,
        env=env(kubeconfig),
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def cli_ok(kubeconfig: Path, *args: str, cwd: Path, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    result = cli(kubeconfig, *args, cwd=cwd, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"kubectl seccomp {' '.join(args)} exited {result.returncode}:\n{result.stderr}\n{result.stdout}")
    return result


class Running:
    """``kubectl seccomp ...`` in the background, its stderr collected line by line."""

    def __init__(self, kubeconfig: Path, *args: str, cwd: Path) -> None:
        self.args = args
        self.stderr_path = cwd / f"stderr-{time.monotonic_ns()}.txt"
        self._err = self.stderr_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kubectl_seccomp", *args],
            env=env(kubeconfig),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for(self, text: str | re.Pattern[str], timeout: float = 240) -> None:
        """Wait until stderr holds ``text`` (a string, or a pattern to search for)."""
        deadline = time.monotonic() + timeout
        while not (text.search(self.stderr()) if isinstance(text, re.Pattern) else text in self.stderr()):
            if self.process.poll() is not None:
                pytest.fail(f"exited {self.process.returncode} before {text!r}:\n{self.stderr()}")
            if time.monotonic() > deadline:
                # Ctrl-C first: the command cleans up its agents (a kill -9 would leave them, and
                # every later test that checks nothing of ours is left would fail too)
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                pytest.fail(f"no {text!r} within {timeout}s:\n{self.stderr()}")
            time.sleep(0.1)

    def signal(self, sig: int = signal.SIGINT) -> None:
        self.process.send_signal(sig)

    def finish(self, timeout: float = 400) -> tuple[int, str, str]:
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
            pytest.fail(f"kubectl seccomp {' '.join(self.args)} did not finish in {timeout}s:\n{self.stderr()}")
        self._err.close()
        return self.process.returncode, out, self.stderr()


def http_deployment(name: str, replicas: int = 2, extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "web",
                "image": PYTHON_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-m", "http.server", "8080"],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
            }
        ],
        "terminationGracePeriodSeconds": 2,
    }
    spec.update(extra or {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def deploy(kubectl: Any, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    kubectl.apply(manifest, namespace)
    name = manifest["metadata"]["name"]
    kubectl.run("rollout", "status", f"deploy/{name}", "-n", namespace, "--timeout=120s", timeout=150)
    return kubectl.json("get", "deploy", name, "-n", namespace)  # type: ignore[no-any-return]


def seccomp_settings(deployment: dict[str, Any]) -> dict[str, Any]:
    """Pod- and container-level seccompProfile of a Deployment's template."""
    spec = deployment["spec"]["template"]["spec"]
    result: dict[str, Any] = {"pod": (spec.get("securityContext") or {}).get("seccompProfile")}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            result[f"{key}/{container['name']}"] = (container.get("securityContext") or {}).get("seccompProfile")
    return result


def ready_pods(kubectl: Any, namespace: str, app: str) -> list[dict[str, Any]]:
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


def wait_settled(kubectl: Any, namespace: str, name: str) -> dict[str, Any]:
    kubectl.run("rollout", "status", f"deploy/{name}", "-n", namespace, "--timeout=120s", timeout=150)
    return kubectl.json("get", "deploy", name, "-n", namespace)  # type: ignore[no-any-return]


def node_files(cluster: Any, namespace: Optional[str] = None) -> dict[str, list[str]]:
    """Files under kubectl-seccomp/ (or only kubectl-seccomp/NAMESPACE/) in every node's seccomp
    directory (host view). Tests that look at files while other tests run beside them (the
    lanes of scripts/test.sh) pass their namespace."""
    found: dict[str, list[str]] = {}
    for node in cluster.nodes:
        root = Path(node.seccomp_dir) / "kubectl-seccomp"
        if namespace is not None:
            root = root / namespace
        found[node.name] = (
            sorted(str(p.relative_to(node.seccomp_dir)) for p in root.rglob("*") if p.is_file())
            if root.exists()
            else []
        )
    return found


def our_pods(kubectl: Any) -> list[str]:
    result = kubectl.run("get", "pods", "-n", AGENT_NAMESPACE, "-o", "name", check=False)
    return [line for line in result.stdout.split() if line]


def assert_left_nothing(cluster: Any, namespace: str, name: str, original: dict[str, Any]) -> None:
    """The Deployment is back on ``original``, unlocked; no node pods; no log profile on the nodes."""
    kubectl = cluster.kubectl
    deployment = wait_settled(kubectl, namespace, name)
    assert seccomp_settings(deployment) == original
    annotations = deployment["metadata"].get("annotations") or {}
    assert RECORDING not in annotations
    assert ORIGINAL not in annotations
    deadline = time.monotonic() + 30
    while our_pods(kubectl) and time.monotonic() < deadline:
        time.sleep(1)
    assert our_pods(kubectl) == []
    for node, files in node_files(cluster).items():
        assert not [f for f in files if f.endswith(f"{namespace}/{name}-log.json")], (node, files)


def pod_answers(pod_ip: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(f"http://{pod_ip}:8080/", timeout=10) as response:
        return response.read()  # type: ignore[no-any-return]


def rbac_cluster_role() -> dict[str, Any]:
    """The ClusterRole of docs/rbac.md (its first yaml block)."""
    import yaml

    text = (REPO / "docs" / "rbac.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)  # type: ignore[no-any-return]


def token_kubeconfig(admin_kubeconfig: Path, token: str, namespace: str, path: Path) -> Path:
    """A kubeconfig for the same cluster that authenticates with ``token`` only."""
    import yaml

    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]
    cluster_entry = dict(cluster["cluster"])
    ca = cluster_entry.get("certificate-authority")
    if ca and not os.path.isabs(ca):
        cluster_entry["certificate-authority"] = str((admin_kubeconfig.parent / ca).resolve())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster_entry}],
        "users": [{"name": "limited", "user": {"token": token}}],
        "contexts": [{"name": "limited", "context": {"cluster": "test", "user": "limited", "namespace": namespace}}],
        "current-context": "limited",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def content_path(namespace: str, owner: str, container: str, profile: Path) -> str:
    """The ``localhostProfile`` the plugin gives the profile file ``profile``: named by its content."""
    import hashlib

    digest = hashlib.sha256(profile.read_text().encode()).hexdigest()[:10]
    return f"kubectl-seccomp/{namespace}/{owner}-{container}-{digest}.json"


def profile_names(path: Path) -> set[str]:
    data = json.loads(path.read_text())
    return {name for rule in data["syscalls"] for name in rule["names"]}


@contextlib.contextmanager
def fresh_namespace(kubectl: Any, stem: str) -> Iterator[str]:
    """A new namespace named after ``stem``, ready for pods (service account and root CA present);
    deleted on leaving."""
    stem = "".join(c if c.isalnum() else "-" for c in stem.lower())[:40].strip("-")
    name = f"e2e-{stem}-{secrets.token_hex(3)}"
    kubectl.run("create", "namespace", name)
    try:
        deadline = time.monotonic() + 60
        while True:
            sa = kubectl.run("get", "serviceaccount/default", "configmap/kube-root-ca.crt", "-n", name, check=False)
            if sa.returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"namespace {name}: no default service account or kube-root-ca.crt after 60s")
            time.sleep(0.5)
        yield name
    finally:
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)
