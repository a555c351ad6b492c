"""Fixtures for tests on the real cluster started by ``tests/cluster/harness.py up``.

The cluster is found through the file the harness writes
(``$KSC_CLUSTER_DIR/cluster.json``, default ``/var/lib/ksc-cluster``): its
admin kubeconfig and, per node, the directory the host sees as that node's
``/var/lib/kubelet/seccomp``.

Without ``KSC_E2E`` set (and outside CI) these tests are skipped, saying how to
run them. With ``KSC_E2E`` set or ``CI=true``, a missing or unhealthy cluster is
a failure: CI must not pass by skipping its cluster tests.

Tests talk to the cluster with the real ``kubectl`` (``Kubectl`` below) so a
failure message shows the command a human would rerun.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import fresh_namespace

CLUSTER_DIR = Path(os.environ.get("KSC_CLUSTER_DIR", "/var/lib/ksc-cluster"))
HARNESS = Path(__file__).resolve().parents[1] / "cluster" / "harness.py"


def pytest_configure(config: pytest.Config) -> None:
    # pyproject.toml registers the marker too; this keeps the folder usable on its own.
    config.addinivalue_line("markers", "cluster: needs the real Kubernetes cluster of tests/cluster (run last)")


@dataclass(frozen=True)
class ClusterNode:
    name: str
    ip: str
    seccomp_dir: Path  # the node's /var/lib/kubelet/seccomp, as a host path


@dataclass(frozen=True)
class Kubectl:
    """Runs the real kubectl against the test cluster."""

    kubeconfig: Path

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` failed ({result.returncode}):\n{result.stderr}{result.stdout}")
        return result

    def json(self, *args: str) -> dict[str, Any]:
        """``kubectl ARGS -o json``, decoded."""
        decoded: dict[str, Any] = json.loads(self.run(*args, "-o", "json").stdout)
        return decoded

    def apply(self, manifest: dict[str, Any], namespace: str) -> None:
        self.run("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    version: str
    nodes: tuple[ClusterNode, ...]
    kubectl: Kubectl


def _e2e_required() -> bool:
    return bool(os.environ.get("KSC_E2E")) or os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The running test cluster; skip or fail (see module docstring) when there is none."""
    start_hint = f"start one with `python3 {HARNESS} up`"
    if not _e2e_required():
        pytest.skip(f"cluster tests need KSC_E2E=1 and a running test cluster ({start_hint})")
    info_file = CLUSTER_DIR / "cluster.json"
    if not info_file.exists():
        pytest.fail(f"no test cluster: {info_file} is missing; {start_hint}")
    info = json.loads(info_file.read_text())
    if "node_info" not in info:
        pytest.fail(f"the test cluster in {CLUSTER_DIR} did not finish starting; run `harness.py down` then up")
    kubectl = Kubectl(Path(info["kubeconfig"]))
    ready = kubectl.run("get", "--raw=/readyz", check=False, timeout=20)
    if ready.returncode != 0:
        pytest.fail(
            f"the test cluster's API server does not answer: {ready.stderr.strip()}; see `python3 {HARNESS} status`"
        )
    nodes = tuple(ClusterNode(n["name"], n["ip"], Path(n["seccomp_dir"])) for n in info["node_info"])
    return Cluster(kubeconfig=kubectl.kubeconfig, version=info["version"], nodes=nodes, kubectl=kubectl)


@pytest.fixture(scope="session")
def cluster_kubeconfig(cluster: Cluster) -> Path:
    """Path of the admin kubeconfig of the running test cluster."""
    return cluster.kubeconfig


@pytest.fixture
def kubectl(cluster: Cluster) -> Kubectl:
    return cluster.kubectl


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for the test (:func:`fresh_namespace`)."""
    with fresh_namespace(cluster.kubectl, request.node.name) as name:
        yield name
