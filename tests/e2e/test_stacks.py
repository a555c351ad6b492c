"""What differs between the test cluster's stacks (``harness.py up --stack current|oldest``).

The harness records in cluster.json which stack runs and the versions of its
containerd and runc. The kubelet and containerd report theirs through the
Node objects; the first test checks the two agree, so the others may trust
``runtime_versions``.

runc 1.1 (Debian 12, the oldest stack) refuses every profile that carries
``flags``; runc >= 1.2 takes ``SECCOMP_FILTER_FLAG_LOG``, which makes the kernel
audit the calls a profile denies. ``apply`` with such a profile is rolled
back with the runtime's reason on the first and works on the second, where
the node agent then sees a pod's denied call and the plugin's trace names the
pod and container it came from.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CLUSTER_DIR
from seccomp_helpers import (
    ORIGINAL,
    REPO,
    cli,
    cli_ok,
    deploy,
    http_deployment,
    ready_pods,
    seccomp_settings,
    wait_settled,
)

from kubectl_seccomp.trace import Syscall, Target, TraceState, parse_event

pytestmark = pytest.mark.cluster

# Everything allowed but mkdir/mkdirat (EPERM), and denials logged.
LOGGED_DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
MKDIR = "import os\ntry:\n os.mkdir('/tmp/probe'); print('created')\nexcept OSError as e:\n print('errno', e.errno)"


def cluster_info(key: str) -> Any:
    info = json.loads((CLUSTER_DIR / "cluster.json").read_text())
    if key not in info:
        pytest.fail(f"cluster.json has no {key}: restart the cluster with this harness (down, up)")
    return info[key]


def runtime_versions() -> dict[str, str]:
    versions: dict[str, str] = cluster_info("runtime_versions")
    return versions


def runc_takes_flags() -> bool:
    major, minor = (int(part) for part in runtime_versions()["runc"].split(".")[:2])
    return (major, minor) >= (1, 2)


def test_nodes_report_the_stack_the_harness_started(cluster: Any) -> None:
    versions = runtime_versions()
    for node in cluster.kubectl.json("get", "nodes")["items"]:
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == cluster.version
        assert info["containerRuntimeVersion"] == f"containerd://{versions['containerd']}"


def test_apply_of_a_profile_with_flags_on_each_runtime(cluster: Any, namespace: str, tmp_path: Path) -> None:
    """runc >= 1.2 runs the pods under it; runc 1.1 refuses it, and apply rolls back saying why."""
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("flags", replicas=1))
    profile = tmp_path / "logged.json"
    profile.write_text(json.dumps(LOGGED_DENY_MKDIR))
    args = ("apply", "deploy/flags", "-n", namespace, "--profile", str(profile), "--timeout", "90s")
    if runc_takes_flags():
        cli_ok(cluster.kubeconfig, *args, cwd=tmp_path)
        after = wait_settled(kubectl, namespace, "flags")
        assert seccomp_settings(after)["containers/web"]["type"] == "Localhost"
        (pod,) = ready_pods(kubectl, namespace, "flags")
        out = kubectl.run("exec", "-n", namespace, pod["metadata"]["name"], "--", "python3", "-c", MKDIR).stdout
        assert out.strip() == "errno 1"
        return
    result = cli(cluster.kubeconfig, *args, cwd=tmp_path)
    assert result.returncode == 8, result.stderr
    assert "rolled back to the previous settings" in result.stderr
    assert "seccomp flags" in result.stderr, result.stderr  # runc's own reason, in the evidence
    assert "Traceback" not in result.stderr
    after = wait_settled(kubectl, namespace, "flags")
    assert seccomp_settings(after) == seccomp_settings(before)
    assert ORIGINAL not in (after["metadata"].get("annotations") or {})


def test_a_logged_denial_reaches_the_agent_named_by_pod_and_container(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    if not runc_takes_flags():
        pytest.skip(f"runc {runtime_versions()['runc']} refuses profiles with flags (see the test above)")
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("audited", replicas=1))
    profile = tmp_path / "logged.json"
    profile.write_text(json.dumps(LOGGED_DENY_MKDIR))
    cli_ok(cluster.kubeconfig, "apply", "deploy/audited", "-n", namespace, "--profile", str(profile), cwd=tmp_path)
    wait_settled(kubectl, namespace, "audited")
    (pod,) = ready_pods(kubectl, namespace, "audited")
    pod_name = pod["metadata"]["name"]
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://")[-1]

    # The node agent, as the record workflow runs it on each node, here on the host
    # (node 1's network namespace, where the audit netlink multicast arrives).
    agent = subprocess.Popen(
        [sys.executable, "-m", "kubectl_seccomp.agent", "follow", "--container", container_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    state = TraceState(wanted=frozenset({"web"}))
    state.set_targets({container_id: Target(pod=pod_name, container="web", init=False, node=pod["spec"]["nodeName"])})
    denials: list[Syscall] = []
    try:
        assert agent.stdout is not None
        deadline = time.monotonic() + 90
        while not denials and time.monotonic() < deadline:
            # Call the denied syscall until the agent reports it (it starts listening asynchronously).
            out = kubectl.run("exec", "-n", namespace, pod_name, "--", "python3", "-c", MKDIR).stdout
            assert out.strip() == "errno 1", out
            while select.select([agent.stdout], [], [], 1.0)[0]:
                line = agent.stdout.readline()
                if not line:
                    pytest.fail(f"the agent exited: {agent.wait()} {agent.stderr.read() if agent.stderr else ''}")
                event = parse_event(line)
                state.feed(pod["spec"]["nodeName"], event)
                if isinstance(event, Syscall) and event.action == "ERRNO" and event.name in ("mkdir", "mkdirat"):
                    denials.append(event)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    assert denials, "no ERRNO record of mkdir from the agent within 90s"
    assert state.pods_seen["web"] == {pod_name}
    # A denied call is kept apart from the allow-list (the one policy of kubectl_seccomp.observed).
    assert (denials[0].arch, denials[0].name) in state.denied["web"]
    assert "web" not in state.observed


def test_runtime_class_crun_runs_a_localhost_profile_with_flags(cluster: Any, namespace: str) -> None:
    """The RuntimeClass crun runs Debian's crun 1.8, which takes flags even where runc 1.1 does not."""
    if "crun" not in cluster_info("runtime_classes"):
        # crun 1.8.1 refuses the OCI runtime-spec 1.2+ that containerd 2 writes ("unknown version specified").
        pytest.skip("this stack has no RuntimeClass crun (Debian's crun 1.8.1 cannot run containerd 2's specs)")
    kubectl = cluster.kubectl
    relative = Path("e2e") / namespace / "logged-deny-mkdir.json"
    for node in cluster.nodes:
        (node.seccomp_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (node.seccomp_dir / relative).write_text(json.dumps(LOGGED_DENY_MKDIR))
    try:
        manifest = http_deployment(
            "crunner",
            replicas=len(cluster.nodes),
            extra={
                "runtimeClassName": "crun",
                "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": str(relative)}},
                # One pod per node.
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "crunner"}},
                    }
                ],
            },
        )
        deploy(kubectl, namespace, manifest)
        pods = ready_pods(kubectl, namespace, "crunner")
        assert {p["spec"]["nodeName"] for p in pods} == {n.name for n in cluster.nodes}
        for pod in pods:
            name = pod["metadata"]["name"]
            assert pod["spec"]["runtimeClassName"] == "crun"
            # runc 1.1 would have refused the profile's flags: crun runs it, with the filter loaded.
            status = kubectl.run("exec", "-n", namespace, name, "--", "grep", "Seccomp:", "/proc/1/status").stdout
            assert "Seccomp:\t2" in status, status
            out = kubectl.run("exec", "-n", namespace, name, "--", "python3", "-c", MKDIR).stdout
            assert out.strip() == "errno 1", out
    finally:
        kubectl.run("delete", "deployment", "crunner", "-n", namespace, "--wait=true", check=False)
        for node in cluster.nodes:
            shutil.rmtree(node.seccomp_dir / "e2e" / namespace, ignore_errors=True)
