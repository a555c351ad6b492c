"""The node guard on the real cluster.

A node that joined after ``apply`` holds no profile file. Here one of the two
nodes plays that node: its file and its label are taken away, and a pod
anti-affinity (one pod per node) makes the scale-up's new pod go to it. With
the guard the pod stays Pending with the scheduler's reason and no container
fails; without it the same scale-up fails with CreateContainerError.

With the third node there, ``record`` of a 1-replica Deployment shows its pin
(docs/how-it-works.md, "Which nodes a recording touches"): 1 agent, not 3.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import EXEC_REQUESTS, cli, cli_ok, deploy, http_deployment, ready_pods, wait_settled

pytestmark = pytest.mark.cluster

PREFIX = "profiles.kubectl-seccomp.io/"
OWN_TERMS = [
    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]},
    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]},
]


def spread_deployment(name: str) -> dict[str, Any]:
    """One pod per node (required anti-affinity) and a required node affinity of its own with two terms."""
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": OWN_TERMS}},
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": name}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        },
    }
    manifest = http_deployment(name, replicas=1, extra={"affinity": affinity})
    # with one pod per node a surge pod would find no node: replace in place
    manifest["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    return manifest


def label_key(path: str) -> str:
    return PREFIX + hashlib.sha256(path.encode()).hexdigest()[:16]


def apply_profile(cluster: Any, namespace: str, name: str, tmp_path: Path, *flags: str) -> str:
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}))
    result = cli_ok(
        cluster.kubeconfig,
        "apply",
        f"deploy/{name}",
        "-n",
        namespace,
        "--profile",
        str(profile),
        "-o",
        "json",
        *flags,
        cwd=tmp_path,
    )
    return str(json.loads(result.stdout)["profiles"]["web"])


def node_labels(kubectl: Any) -> dict[str, dict[str, str]]:
    return {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in kubectl.json("get", "nodes")["items"]}


def make_new(cluster: Any, node: str, path: str) -> None:
    """``node`` as a node that joined after apply: no profile file, no label."""
    seccomp_dir = next(n.seccomp_dir for n in cluster.nodes if n.name == node)
    (Path(seccomp_dir) / path).unlink()
    cluster.kubectl.run("label", "node", node, f"{label_key(path)}-")


@pytest.fixture
def forget_labels(cluster: Any) -> Iterator[list[str]]:
    """Paths whose labels and files this test leaves on the shared nodes, removed afterwards."""
    paths: list[str] = []
    yield paths
    for path in paths:
        cluster.kubectl.run("label", "nodes", "--all", f"{label_key(path)}-", check=False)
        for node in cluster.nodes:
            (Path(node.seccomp_dir) / path).unlink(missing_ok=True)


def pods(kubectl: Any, namespace: str, app: str) -> list[dict[str, Any]]:
    return [p for p in kubectl.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]]


def waiting_reasons(pod: dict[str, Any]) -> list[str]:
    return [
        str(((s.get("state") or {}).get("waiting") or {}).get("reason"))
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if (s.get("state") or {}).get("waiting")
    ]


def other_node(cluster: Any, kubectl: Any, namespace: str, app: str) -> str:
    """The node without a pod of ``app``, once the pods of the rollout before are gone.

    ``rollout status`` ends when the old ReplicaSet has no replicas, while its
    pod may still be terminating (on a busy machine, for seconds): if that pod
    is on the other node, the checks below would see it there and take it for
    a new pod scheduled onto the node without the profile.
    """
    deadline = time.monotonic() + 120
    while True:
        current = pods(kubectl, namespace, app)
        if not any(p["metadata"].get("deletionTimestamp") for p in current):
            break
        assert time.monotonic() < deadline, "the pods of the previous rollout did not go"
        time.sleep(1)
    running = {p["spec"]["nodeName"] for p in ready_pods(kubectl, namespace, app)}
    assert len(running) == 1 and len(current) == 1, current
    return next(n.name for n in cluster.nodes if n.name not in running)


def test_the_guard_keeps_a_pod_pending_on_a_node_without_its_profile(
    cluster: Any, namespace: str, tmp_path: Path, forget_labels: list[str]
) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, spread_deployment("spread"))
    path = apply_profile(cluster, namespace, "spread", tmp_path)
    forget_labels.append(path)
    key = label_key(path)
    labels = node_labels(kubectl)
    assert all(labels[n.name].get(key) == "present" for n in cluster.nodes), labels
    applied = wait_settled(kubectl, namespace, "spread")
    affinity = applied["spec"]["template"]["spec"]["affinity"]
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    guard = {"key": key, "operator": "Exists"}
    assert terms == [{"matchExpressions": [*own["matchExpressions"], guard]} for own in OWN_TERMS]
    assert affinity["podAntiAffinity"] == before["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]

    fresh = other_node(cluster, kubectl, namespace, "spread")
    make_new(cluster, fresh, path)
    kubectl.run("scale", "deploy/spread", "-n", namespace, "--replicas=2")
    deadline = time.monotonic() + 120
    pending: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        current = pods(kubectl, namespace, "spread")
        for pod in current:
            assert not waiting_reasons(pod) or waiting_reasons(pod) == ["ContainerCreating"], pod["status"]
            assert pod["spec"].get("nodeName") != fresh, f"a pod went to the node without its profile: {pod}"
        pending = [
            p
            for p in current
            if any(
                c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable"
                for c in p["status"].get("conditions", [])
            )
        ]
        if pending:
            break
        time.sleep(2)
    assert len(pending) == 1, "the new pod was not left Pending by the scheduler"
    message = next(c["message"] for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert "node affinity" in message, message
    assert len(ready_pods(kubectl, namespace, "spread")) == 1

    # rollback removes the guard: the template is back on its own affinity
    cli_ok(cluster.kubeconfig, "rollback", "deploy/spread", "-n", namespace, "--timeout", "120s", cwd=tmp_path)
    back = wait_settled(kubectl, namespace, "spread")
    assert back["spec"]["template"]["spec"]["affinity"] == before["spec"]["template"]["spec"]["affinity"]
    assert len(ready_pods(kubectl, namespace, "spread")) == 2


def test_without_the_guard_the_same_scale_up_fails_to_start(
    cluster: Any, namespace: str, tmp_path: Path, forget_labels: list[str]
) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, spread_deployment("bare"))
    path = apply_profile(cluster, namespace, "bare", tmp_path, "--no-node-guard")
    forget_labels.append(path)
    assert not any(label_key(path) in labels for labels in node_labels(kubectl).values())
    applied = wait_settled(kubectl, namespace, "bare")
    assert applied["spec"]["template"]["spec"]["affinity"] == before["spec"]["template"]["spec"]["affinity"]

    fresh = other_node(cluster, kubectl, namespace, "bare")
    (Path(next(n.seccomp_dir for n in cluster.nodes if n.name == fresh)) / path).unlink()  # no label to take
    kubectl.run("scale", "deploy/bare", "-n", namespace, "--replicas=2")
    deadline = time.monotonic() + 120
    failed: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not failed:
        failed = [p for p in pods(kubectl, namespace, "bare") if "CreateContainerError" in waiting_reasons(p)]
        time.sleep(2)
    assert failed, "the pod on the node without the profile did not fail"
    assert failed[0]["spec"]["nodeName"] == fresh


HARNESS = Path(__file__).resolve().parents[1] / "cluster" / "harness.py"


def harness(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(HARNESS), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"harness.py {' '.join(args)}: {result.stderr}{result.stdout}"


def spread_to_all(kubectl: Any, namespace: str, name: str, replicas: int) -> None:
    kubectl.run("scale", f"deploy/{name}", "-n", namespace, f"--replicas={replicas}")


# exclusive (scripts/test.sh): a node joins
@pytest.mark.exclusive
def test_a_node_that_joins_later_gets_no_pod_with_the_guard_and_failing_ones_without(
    cluster: Any, namespace: str, tmp_path: Path, forget_labels: list[str]
) -> None:
    """The must-show: profiles on 2 nodes, a third node joins, both workloads scale onto it.
    Then, with 3 nodes, a recording of a 1-replica Deployment starts 1 agent and leaves no pin."""
    kubectl = cluster.kubectl
    for name in ("guarded", "bare"):
        manifest = spread_deployment(name)
        manifest["spec"]["replicas"] = len(cluster.nodes)
        deploy(kubectl, namespace, manifest)
    deploy(kubectl, namespace, http_deployment("one", replicas=1))
    guarded = apply_profile(cluster, namespace, "guarded", tmp_path)
    bare = apply_profile(cluster, namespace, "bare", tmp_path, "--no-node-guard")
    forget_labels.extend([guarded, bare])
    harness("add-node")
    try:
        joined = sorted(set(node_labels(kubectl)) - {n.name for n in cluster.nodes})
        assert len(joined) == 1, joined
        new = joined[0]
        assert label_key(guarded) not in node_labels(kubectl)[new]
        for name in ("guarded", "bare"):
            spread_to_all(kubectl, namespace, name, len(cluster.nodes) + 1)
        deadline = time.monotonic() + 180
        failed: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not (failed and pending):
            for pod in pods(kubectl, namespace, "guarded"):
                assert pod["spec"].get("nodeName") != new, "a guarded pod went to the node without its profile"
                assert not set(waiting_reasons(pod)) - {"ContainerCreating"}, pod["status"]
            pending = [
                p
                for p in pods(kubectl, namespace, "guarded")
                if any(
                    c["type"] == "PodScheduled"
                    and c.get("reason") == "Unschedulable"
                    and "node affinity" in c["message"]
                    for c in p["status"].get("conditions", [])
                )
            ]
            failed = [p for p in pods(kubectl, namespace, "bare") if "CreateContainerError" in waiting_reasons(p)]
            time.sleep(2)
        assert len(pending) == 1, "the guarded workload's new pod was not left Pending for its node affinity"
        assert failed and failed[0]["spec"]["nodeName"] == new, "the unguarded pod on the new node did not fail"
        rows = json.loads(
            cli_ok(cluster.kubeconfig, "status", "deploy/guarded", "-n", namespace, "-o", "json", cwd=tmp_path).stdout
        )["containers"]
        assert rows[0]["guarded"] and rows[0]["pendingForProfile"] == 1
        assert (rows[0]["nodesPresent"], rows[0]["nodesEligible"]) == (len(cluster.nodes), len(cluster.nodes) + 1)
        record_one_replica_on_three_nodes(cluster, namespace, tmp_path, forget_labels)
    finally:
        for name in ("guarded", "bare", "one"):
            kubectl.run("delete", "deploy", name, "-n", namespace, "--wait=true", check=False)
        harness("remove-node")


def record_one_replica_on_three_nodes(cluster: Any, namespace: str, tmp_path: Path, forget_labels: list[str]) -> None:
    """record's pin: the agent and the log profile go to the node of the pod only; the rollout stays
    there; afterwards the applied profile runs and neither the template nor a node keeps the pin."""
    kubectl = cluster.kubectl
    (running_on,) = {p["spec"]["nodeName"] for p in ready_pods(kubectl, namespace, "one")}
    result = cli_ok(
        cluster.kubeconfig, "record", "deploy/one", "-n", namespace, "--exec", EXEC_REQUESTS, "--timeout", "120s",
        "-o", "json", cwd=tmp_path,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    eligible = len(cluster.nodes) + 1
    assert f"node agent on 1 of {eligible} node(s) (those running the pods)" in result.stderr, result.stderr
    assert summary["nodesEligible"] == eligible, summary
    assert [(n["node"], n["agentPods"]) for n in summary["nodes"]] == [(running_on, 1)], summary
    (web,) = summary["containers"]
    assert web["syscalls"] > 0 and web["applied"], summary
    forget_labels.append(web["localhostProfile"])

    applied = wait_settled(kubectl, namespace, "one")
    (pod,) = ready_pods(kubectl, namespace, "one")
    seccomp = pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]
    assert seccomp == {"type": "Localhost", "localhostProfile": web["localhostProfile"]}
    log_key = label_key(f"kubectl-seccomp/{namespace}/one-log.json")
    assert log_key not in json.dumps(applied["spec"]["template"])
    assert not [node for node, labels in node_labels(kubectl).items() if log_key in labels]


# exclusive (scripts/test.sh): cleanup removes what no workload uses
@pytest.mark.exclusive
def test_cleanup_orphans_after_the_namespace_was_deleted(
    cluster: Any, tmp_path: Path, forget_labels: list[str]
) -> None:
    kubectl = cluster.kubectl
    doomed = f"e2e-orphans-{time.monotonic_ns() % 100000}"
    kubectl.run("create", "namespace", doomed)
    try:
        deadline = time.monotonic() + 60
        while kubectl.run("get", "serviceaccount/default", "-n", doomed, check=False).returncode != 0:
            assert time.monotonic() < deadline, "no default service account"
            time.sleep(0.5)
        deploy(kubectl, doomed, http_deployment("gone", replicas=1))
        path = apply_profile(cluster, doomed, "gone", tmp_path)
        forget_labels.append(path)
        assert all((Path(n.seccomp_dir) / path).is_file() for n in cluster.nodes)
    finally:
        kubectl.run("delete", "namespace", doomed, "--wait=true", "--timeout=180s", check=False, timeout=200)
    status = json.loads(cli_ok(cluster.kubeconfig, "status", "-A", "-o", "json", cwd=tmp_path).stdout)
    assert status["orphanFiles"] >= len(cluster.nodes) and status["orphanLabels"] >= len(cluster.nodes), status

    result = json.loads(cli_ok(cluster.kubeconfig, "cleanup", "--orphans", "-o", "json", cwd=tmp_path).stdout)
    for node in cluster.nodes:
        assert path in result["filesRemoved"][node.name]
        assert label_key(path) in result["labelsRemoved"][node.name]
        assert not (Path(node.seccomp_dir) / path).exists()
    assert not any(label_key(path) in labels for labels in node_labels(kubectl).values())
    after = json.loads(cli_ok(cluster.kubeconfig, "status", "-A", "-o", "json", cwd=tmp_path).stdout)
    assert after["orphanFiles"] in (0, None) and after["orphanLabels"] in (0, None), after


SYNC = "kubectl-seccomp-sync"


def joined_seccomp_dir(node: str) -> Path:
    """The host directory of a node that add-node joined (cluster.json lists every node)."""
    from conftest import CLUSTER_DIR

    info = json.loads((CLUSTER_DIR / "cluster.json").read_text())
    return Path(next(n["seccomp_dir"] for n in info["node_info"] if n["name"] == node))


# exclusive (scripts/test.sh): a node joins; cleanup
@pytest.mark.exclusive
def test_with_sync_a_node_that_joins_later_gets_the_profile_its_label_and_the_pod(
    cluster: Any, namespace: str, tmp_path: Path, forget_labels: list[str]
) -> None:
    """The must-show of --sync: profiles on 2 nodes, a third joins, the scale-up's pod starts there."""
    kubectl = cluster.kubectl
    manifest = spread_deployment("synced")
    manifest["spec"]["replicas"] = len(cluster.nodes)
    deploy(kubectl, namespace, manifest)
    path = apply_profile(cluster, namespace, "synced", tmp_path, "--sync")
    forget_labels.append(path)
    key = label_key(path)
    added = False
    try:
        daemonset = kubectl.json("get", "daemonset", SYNC, "-n", "kubectl-seccomp")
        template = daemonset["spec"]["template"]
        assert template["metadata"]["annotations"]["kubectl-seccomp.io/payload-sha256"]
        assert template["spec"]["tolerations"] == [{"operator": "Exists"}]
        host_paths = [v["hostPath"]["path"] for v in template["spec"]["volumes"] if "hostPath" in v]
        assert host_paths == ["/var/lib/kubelet/seccomp"], host_paths
        assert not template["spec"].get("hostPID") and not template["spec"].get("hostNetwork")
        assert daemonset["status"]["numberReady"] == len(cluster.nodes)

        harness("add-node")
        added = True
        joined = sorted(set(node_labels(kubectl)) - {n.name for n in cluster.nodes})
        assert len(joined) == 1, joined
        new = joined[0]
        kubectl.run("scale", "deploy/synced", "-n", namespace, f"--replicas={len(cluster.nodes) + 1}")
        deadline = time.monotonic() + 240
        on_new: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not on_new:
            for pod in pods(kubectl, namespace, "synced"):
                assert not set(waiting_reasons(pod)) - {"ContainerCreating"}, pod["status"]
            on_new = [p for p in ready_pods(kubectl, namespace, "synced") if p["spec"].get("nodeName") == new]
            time.sleep(2)
        assert on_new, "no pod of the guarded workload became Ready on the node that joined"
        assert node_labels(kubectl)[new].get(key) == "present"
        assert json.loads((joined_seccomp_dir(new) / path).read_text())["defaultAction"] == "SCMP_ACT_LOG"
        assert len(ready_pods(kubectl, namespace, "synced")) == len(cluster.nodes) + 1
    finally:
        kubectl.run("delete", "deploy", "synced", "-n", namespace, "--wait=true", check=False)
        if added:
            harness("remove-node")
        # cleanup removes the DaemonSet and the cluster-wide objects its pods need (checked below)
        cleaned = cli(cluster.kubeconfig, "cleanup", cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    for kind in ("clusterrole", "clusterrolebinding"):
        assert kubectl.run("get", kind, SYNC, check=False).returncode != 0, f"{kind} {SYNC} is left"
    assert kubectl.run("get", "daemonset", SYNC, "-n", "kubectl-seccomp", check=False).returncode != 0


# exclusive (scripts/test.sh): the sync DaemonSet writes on every node; cleanup
@pytest.mark.exclusive
def test_a_sync_pod_refuses_a_tampered_configmap(
    cluster: Any, namespace: str, tmp_path: Path, forget_labels: list[str]
) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("tamper", replicas=1))
    path = apply_profile(cluster, namespace, "tamper", tmp_path, "--sync")
    forget_labels.append(path)
    try:
        configmap = kubectl.json("get", "configmap", SYNC, "-n", "kubectl-seccomp")
        profile_key = next(k for k in configmap["data"] if k.startswith("p-"))
        kubectl.run(
            "patch",
            "configmap",
            SYNC,
            "-n",
            "kubectl-seccomp",
            "--type=merge",
            "-p",
            json.dumps({"data": {profile_key: '{"defaultAction": "SCMP_ACT_ALLOW"}'}}),
        )
        kubectl.run("rollout", "restart", f"daemonset/{SYNC}", "-n", "kubectl-seccomp")
        deadline = time.monotonic() + 180
        refused = ""
        while time.monotonic() < deadline and not refused:
            for pod in kubectl.json("get", "pods", "-n", "kubectl-seccomp", "-l", "kubectl-seccomp.io/role=sync")[
                "items"
            ]:
                for previous in ("--previous=false", "--previous=true"):
                    log = kubectl.run(
                        "logs", pod["metadata"]["name"], "-n", "kubectl-seccomp", previous, check=False
                    ).stdout
                    if "payload-tampered" in log:
                        refused = log
            time.sleep(2)
        assert profile_key in refused and SYNC in refused, refused
        for node in cluster.nodes:  # the files the pods wrote before the edit are the ones apply made
            assert json.loads((Path(node.seccomp_dir) / path).read_text())["defaultAction"] == "SCMP_ACT_LOG"
        # our own apply --sync writes the ConfigMap it expects again, and the pods accept it
        cli_ok(
            cluster.kubeconfig,
            "apply",
            "deploy/tamper",
            "-n",
            namespace,
            "--profile",
            str(tmp_path / "p.json"),
            "--sync",
            "--timeout",
            "120s",
            cwd=tmp_path,
        )
        assert kubectl.json("get", "daemonset", SYNC, "-n", "kubectl-seccomp")["status"]["numberReady"] == len(
            cluster.nodes
        )
    finally:
        cli_ok(cluster.kubeconfig, "cleanup", cwd=tmp_path)
