"""Faults on the real cluster while ``record`` and ``apply`` run (docs/reliability.md).

Each test injects one fault through the harness (``harness.py restart COMPONENT``)
or kubectl, then checks that the workload runs, that its spec is what it should
be, that nothing of ours is left on the cluster or the nodes, and that the
output says what happened. Run while holding the cluster lock; each record
cycle takes one to two minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import (
    AGENT_NAMESPACE,
    BUSYBOX_IMAGE,
    RECORDING,
    Running,
    assert_left_nothing,
    cli,
    content_path,
    deploy,
    http_deployment,
    node_files,
    our_pods,
    profile_names,
    ready_pods,
    seccomp_settings,
    wait_settled,
)

pytestmark = pytest.mark.cluster

HARNESS = Path(__file__).resolve().parents[1] / "cluster" / "harness.py"
PARTIAL_EXIT = 10


def restart(component: str, node: str | None = None) -> str:
    """``harness.py restart COMPONENT [--node NODE]``; its output."""
    args = [sys.executable, str(HARNESS), "restart", component, *(["--node", node] if node else [])]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def agent_on(kubectl: Any, node: str) -> str:
    pods = kubectl.json("get", "pods", "-n", AGENT_NAMESPACE, "--field-selector", f"spec.nodeName={node}")["items"]
    names = [p["metadata"]["name"] for p in pods if "-follow" in p["metadata"]["name"]]
    assert len(names) == 1, names
    return str(names[0])


def traced_node(kubectl: Any) -> str:
    """The last node (by name) with an agent pod of the recording: it chooses the nodes its pods run on."""
    pods = kubectl.json("get", "pods", "-n", AGENT_NAMESPACE)["items"]
    nodes = sorted({p["spec"]["nodeName"] for p in pods if "-follow" in p["metadata"]["name"]})
    assert nodes, pods
    return str(nodes[-1])


def assert_applied(cluster: Any, namespace: str, name: str, profile: Path, replicas: int) -> None:
    """The Deployment runs ``replicas`` Ready pods on the recorded profile; no log profile, no pods of ours."""
    kubectl = cluster.kubectl
    deployment = wait_settled(kubectl, namespace, name)
    localhost = content_path(namespace, name, "web", profile)
    assert seccomp_settings(deployment)["containers/web"] == {"type": "Localhost", "localhostProfile": localhost}
    assert RECORDING not in deployment["metadata"]["annotations"]
    pods = ready_pods(kubectl, namespace, name)
    assert len(pods) == replicas
    for pod in pods:
        assert pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"] == localhost
    assert our_pods(kubectl) == []
    for files in node_files(cluster).values():
        assert not [f for f in files if f.endswith(f"{namespace}/{name}-log.json")]


def test_an_agent_pod_deleted_mid_record_is_replaced_and_the_recording_is_partial(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    # Before: exit 0, "0 lost", and a profile from one node's records for the rest of the run.
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("web", replicas=2))
    run = Running(cluster.kubeconfig, "record", "deploy/web", "-n", namespace, "--duration", "30s", cwd=tmp_path)
    run.wait_for("tracing; Ctrl-C stops")
    node = traced_node(kubectl)
    victim = agent_on(kubectl, node)
    kubectl.run("delete", "pod", "-n", AGENT_NAMESPACE, victim, "--force", "--grace-period=0")
    run.wait_for(f"{node}: lost the agent's log stream ({victim})", timeout=30)
    run.wait_for("starting a new one", timeout=60)
    run.wait_for(f"{node}: new agent kubectl-seccomp-follow2-", timeout=120)
    code, _out, err = run.finish()

    assert code == PARTIAL_EXIT, err
    assert f"{node} traced " in err and "NOT traced" in err and "2 agent pods" in err
    assert "PARTIAL" in err and "not applied" in err
    partial = tmp_path / "profiles" / namespace / "web-web.partial.json"
    assert {"accept4", "openat"} <= profile_names(partial)
    assert not (tmp_path / "profiles" / namespace / "web-web.json").exists()
    # not applied: the Deployment is back on its own settings; both agents and the log profile are gone
    assert_left_nothing(cluster, namespace, "web", seccomp_settings(before))
    assert len(ready_pods(kubectl, namespace, "web")) == 2


# exclusive: it restarts a component the other lane's tests need (scripts/test.sh)
@pytest.mark.exclusive
def test_kube_apiserver_restarted_mid_record_and_mid_apply(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("web", replicas=2))
    run = Running(
        cluster.kubeconfig, "record", "deploy/web", "-n", namespace, "--duration", "30s", "--no-apply", cwd=tmp_path
    )
    run.wait_for("tracing; Ctrl-C stops")
    restart("kube-apiserver")
    code, _out, err = run.finish()
    # The agents ran on; their logs on the nodes kept every line: followed again, nothing missed.
    assert code == 0, err
    assert "lost the agent's log stream" in err and "nothing was missed" in err
    assert "PARTIAL" not in err
    profile = tmp_path / "profiles" / namespace / "web-web.json"
    assert {"accept4", "openat"} <= profile_names(profile)
    assert_left_nothing(cluster, namespace, "web", seccomp_settings(before))

    # apply, and the API server restarts while the pods roll onto the profile
    run = Running(
        cluster.kubeconfig,
        "apply",
        "deploy/web",
        "-n",
        namespace,
        "-f",
        str(profile),
        "--timeout",
        "180s",
        cwd=tmp_path,
    )
    run.wait_for("waiting for the rollout", timeout=240)
    restart("kube-apiserver")
    code, _out, err = run.finish()
    assert code == 0, err
    assert_applied(cluster, namespace, "web", profile, replicas=2)


# exclusive: it restarts a component the other lane's tests need (scripts/test.sh)
@pytest.mark.exclusive
def test_kubelet_restarted_mid_record(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("web", replicas=2))
    run = Running(cluster.kubeconfig, "record", "deploy/web", "-n", namespace, "--duration", "30s", cwd=tmp_path)
    run.wait_for("tracing; Ctrl-C stops")
    node = traced_node(kubectl)
    restart("kubelet", node)
    code, _out, err = run.finish()
    assert code == 0, err
    assert f"{node}: lost the agent's log stream" in err and f"{node}: following agent" in err
    profile = tmp_path / "profiles" / namespace / "web-web.json"
    assert {"accept4", "openat"} <= profile_names(profile)
    assert_applied(cluster, namespace, "web", profile, replicas=2)


def fifo_deployment(name: str) -> dict[str, Any]:
    """A Deployment whose container makes a call the HTTP server never makes (mknodat, through mkfifo)."""
    script = "import os, time\nwhile True:\n os.mkfifo('/tmp/f'); os.unlink('/tmp/f'); time.sleep(0.5)\n"
    manifest = http_deployment(name, replicas=1)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python3", "-c", script]
    container.pop("readinessProbe")
    return manifest


def test_two_recordings_at_once_do_not_mix(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before_web = deploy(kubectl, namespace, http_deployment("web", replicas=1))
    before_fifo = deploy(kubectl, namespace, fifo_deployment("fifo"))
    common = ("-n", namespace, "--duration", "15s", "--no-apply")
    web = Running(cluster.kubeconfig, "record", "deploy/web", *common, cwd=tmp_path)
    fifo = Running(cluster.kubeconfig, "record", "deploy/fifo", *common, cwd=tmp_path)
    results = [web.finish(), fifo.finish()]
    for code, _out, err in results:
        assert code == 0, err
    web_names = profile_names(tmp_path / "profiles" / namespace / "web-web.json")
    fifo_names = profile_names(tmp_path / "profiles" / namespace / "fifo-web.json")
    assert "accept4" in web_names and "accept4" not in fifo_names  # each has its own calls only
    assert "mknodat" in fifo_names and "mknodat" not in web_names
    assert_left_nothing(cluster, namespace, "web", seccomp_settings(before_web))
    assert_left_nothing(cluster, namespace, "fifo", seccomp_settings(before_fifo))


def test_pods_added_by_a_scale_up_mid_record_are_traced(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("web", replicas=2))
    run = Running(
        cluster.kubeconfig,
        "record",
        "deploy/web",
        "-n",
        namespace,
        "--duration",
        "35s",
        "-o",
        "json",
        "--timeout",
        "240s",
        cwd=tmp_path,
    )
    run.wait_for("tracing; Ctrl-C stops")
    kubectl.run("scale", "deploy/web", "-n", namespace, "--replicas=6")
    code, out, err = run.finish()
    assert code == 0, err
    summary = json.loads(out)
    (web,) = summary["containers"]
    # 2 traced from the start, 4 added by the scale-up (and the replacement of the pod stopped for the shutdown)
    assert web["pods"] >= 6, summary
    assert_applied(cluster, namespace, "web", tmp_path / "profiles" / namespace / "web-web.json", 6)


# exclusive: a load test, not to be shared with the other lane (scripts/test.sh)
@pytest.mark.exclusive
def test_a_20_replica_deployment(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    manifest = http_deployment("web", replicas=20)
    spec = manifest["spec"]["template"]["spec"]
    spec["containers"][0].update(
        {
            "image": BUSYBOX_IMAGE,
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}},
        }
    )
    spec["containers"][0].pop("readinessProbe")
    deploy(kubectl, namespace, manifest)
    running_on = {p["spec"]["nodeName"] for p in ready_pods(kubectl, namespace, "web")}
    code_err = cli(
        cluster.kubeconfig,
        "record",
        "deploy/web",
        "-n",
        namespace,
        "--duration",
        "20s",
        "--timeout",
        "300s",
        "-o",
        "json",
        cwd=tmp_path,
        timeout=900,
    )
    assert code_err.returncode == 0, code_err.stderr
    summary = json.loads(code_err.stdout)
    assert summary["containers"][0]["pods"] >= 20, summary
    assert {n["node"] for n in summary["nodes"]} == running_on  # one agent on each node its pods ran on
    assert all(n["gapSeconds"] == 0 for n in summary["nodes"])
    assert_applied(cluster, namespace, "web", tmp_path / "profiles" / namespace / "web-web.json", 20)
