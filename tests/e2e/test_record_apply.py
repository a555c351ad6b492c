"""``kubectl seccomp record``/``apply``/``rollback``/``status``/``cleanup`` on the real cluster.

Each test gets a fresh namespace (conftest) and runs the plugin as a
subprocess, as a user would. See tests/e2e/seccomp_helpers.py.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import (
    BUSYBOX_IMAGE,
    EXEC_REQUESTS,
    ORIGINAL,
    RECORDING,
    Running,
    assert_left_nothing,
    cli,
    cli_ok,
    content_path,
    deploy,
    http_deployment,
    node_files,
    pod_answers,
    profile_names,
    ready_pods,
    seccomp_settings,
    wait_settled,
)

pytestmark = pytest.mark.cluster


def test_record_http_server_applies_a_working_profile(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("web", replicas=2))
    answers_before = {pod_answers(p["status"]["podIP"]) for p in ready_pods(kubectl, namespace, "web")}

    result = cli_ok(
        cluster.kubeconfig,
        "record",
        "deploy/web",
        "-n",
        namespace,
        "--exec",
        EXEC_REQUESTS,
        "--timeout",
        "120s",
        cwd=tmp_path,
    )
    assert "--exec command exited with code 0" in result.stderr

    profile = tmp_path / "profiles" / namespace / "web-web.json"
    names = profile_names(profile)
    assert {"accept4", "recvfrom", "sendto", "openat", "execve"} <= names
    assert "mknodat" not in names and "mknod" not in names

    deployment = wait_settled(kubectl, namespace, "web")
    localhost = content_path(namespace, "web", "web", profile)
    assert seccomp_settings(deployment)["containers/web"] == {
        "type": "Localhost",
        "localhostProfile": localhost,
    }
    annotations = deployment["metadata"]["annotations"]
    assert RECORDING not in annotations
    assert json.loads(annotations[ORIGINAL])["containers"] == {"web": None}  # rollback target kept
    for files in node_files(cluster, namespace).values():
        assert localhost in files
        assert not [f for f in files if f.endswith("-log.json")]

    pods = ready_pods(kubectl, namespace, "web")
    assert len(pods) == 2
    for pod in pods:
        # the pods run with the recorded profile ...
        assert pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"] == localhost
        # ... answer as before ...
        assert pod_answers(pod["status"]["podIP"]) in answers_before
        # ... and a syscall never made while recording (mknodat) is refused with EPERM.
        denied = kubectl.run(
            "exec",
            "-n",
            namespace,
            pod["metadata"]["name"],
            "--",
            "python3",
            "-c",
            "import os\ntry:\n os.mkfifo('/tmp/fifo'); print('created')\n"
            "except OSError as e:\n print('errno', e.errno)",
            check=False,
        )
        assert "errno 1" in denied.stdout, denied.stdout + denied.stderr

    status = cli_ok(cluster.kubeconfig, "status", "deploy/web", "-n", namespace, "-o", "json", cwd=tmp_path)
    report = json.loads(status.stdout)
    assert report["summary"] == {"Localhost": 1, "RuntimeDefault": 0, "Unconfined": 0, "unset": 0}
    assert report["containers"] == [
        {
            "namespace": namespace,
            "kind": "Deployment",
            "name": "web",
            "container": "web",
            "init": False,
            "type": "Localhost",
            "profile": localhost,
            "recording": "no",
            "nodesPresent": 2,
            "nodesEligible": 2,
            "managed": True,
            "guarded": True,
            "pendingForProfile": 0,
            "mode": "enforce",
        }
    ]

    cli_ok(cluster.kubeconfig, "rollback", "deploy/web", "-n", namespace, cwd=tmp_path)
    after = wait_settled(kubectl, namespace, "web")
    assert seccomp_settings(after) == seccomp_settings(before)
    assert ORIGINAL not in (after["metadata"].get("annotations") or {})


def test_two_containers_and_an_init_container_get_their_profiles(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    manifest = http_deployment(
        "duo",
        replicas=1,
        extra={
            "initContainers": [
                {
                    "name": "setup",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "echo init > /tmp/x; cat /tmp/x; ls / > /dev/null"],
                }
            ],
        },
    )
    manifest["spec"]["template"]["spec"]["containers"].append(
        {
            "name": "sidecar",
            "image": BUSYBOX_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", "while true; do date > /tmp/now; sleep 1; done"],
        }
    )
    deploy(kubectl, namespace, manifest)

    result = cli_ok(
        cluster.kubeconfig,
        "record",
        "deploy/duo",
        "-n",
        namespace,
        "--duration",
        "6s",
        "-o",
        "json",
        cwd=tmp_path,
    )
    summary = json.loads(result.stdout)
    by_name = {c["container"]: c for c in summary["containers"]}
    assert set(by_name) == {"setup", "web", "sidecar"}
    assert by_name["setup"]["init"] is True
    for name, entry in by_name.items():
        assert entry["syscalls"] > 10, entry
        assert entry["localhostProfile"] == content_path(
            namespace, "duo", name, tmp_path / "profiles" / namespace / f"duo-{name}.json"
        )
    # the sidecar's loop and the init container's script differ from the Python server
    assert profile_names(tmp_path / "profiles" / namespace / "duo-web.json") != profile_names(
        tmp_path / "profiles" / namespace / "duo-sidecar.json"
    )

    deployment = wait_settled(kubectl, namespace, "duo")
    settings = seccomp_settings(deployment)
    for key, name in (
        ("initContainers/setup", "setup"),
        ("containers/web", "web"),
        ("containers/sidecar", "sidecar"),
    ):
        assert settings[key] == {
            "type": "Localhost",
            "localhostProfile": by_name[name]["localhostProfile"],
        }
    pods = ready_pods(kubectl, namespace, "duo")
    assert len(pods) == 1  # the init container ran to completion under its profile


def test_a_profile_that_breaks_the_app_is_rolled_back(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("fragile", replicas=1))
    profile = tmp_path / "tiny.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["read", "write", "exit", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
            }
        )
    )
    result = cli(
        cluster.kubeconfig,
        "apply",
        "deploy/fragile",
        "-n",
        namespace,
        "--profile",
        str(profile),
        "--timeout",
        "60s",
        cwd=tmp_path,
    )
    assert result.returncode == 8, result.stderr
    assert "rolled back to the previous settings" in result.stderr
    assert "evidence:" in result.stderr
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1
    after = wait_settled(kubectl, namespace, "fragile")
    assert seccomp_settings(after) == seccomp_settings(before)
    assert ORIGINAL not in (after["metadata"].get("annotations") or {})
    assert len(ready_pods(kubectl, namespace, "fragile")) == 1


def test_apply_dry_run_changes_nothing(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("dry", replicas=1))
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}))
    result = cli_ok(
        cluster.kubeconfig,
        "apply",
        "deploy/dry",
        "-n",
        namespace,
        "--profile",
        str(profile),
        "--dry-run",
        "-o",
        "json",
        cwd=tmp_path,
    )
    patch = json.loads(result.stdout)["patch"]
    localhost = json.loads(result.stdout)["profiles"]["web"]
    assert re.fullmatch(rf"kubectl-seccomp/{namespace}/dry-web-[0-9a-f]{{10}}\.json", localhost), localhost
    assert {
        "op": "add",
        "path": "/spec/template/spec/containers/0/securityContext",
        "value": {
            "seccompProfile": {
                "type": "Localhost",
                "localhostProfile": localhost,
            }
        },
    } in patch
    after = kubectl.json("get", "deploy", "dry", "-n", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


def deny_localhost_policy(namespace: str) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding) refusing Localhost seccomp profiles in ``namespace``."""
    name = f"ksc-deny-localhost-{namespace}"[:63]
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "resourceRules": [
                        {
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "operations": ["UPDATE"],
                            "resources": ["deployments"],
                        }
                    ],
                },
                "validations": [
                    {
                        "expression": "!object.spec.template.spec.containers.exists(c, has(c.securityContext) "
                        "&& has(c.securityContext.seccompProfile) && c.securityContext.seccompProfile.type == "
                        "'Localhost')",
                        "message": "e2e policy: no Localhost seccomp profiles here",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]},
        },
    ]


def test_apply_server_dry_run_sends_the_patch_and_changes_nothing(cluster: Any, namespace: str, tmp_path: Path) -> None:
    """``--dry-run=server`` sends the patch with dryRun=All: admission sees it (a policy that refuses
    Localhost profiles refuses it, which a client dry run never asks), and nothing changes."""
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("drys", replicas=1))
    files_before = node_files(cluster, namespace)
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}))
    args = ["apply", "deploy/drys", "-n", namespace, "-f", str(profile), "-o", "json"]

    accepted = json.loads(cli_ok(cluster.kubeconfig, *args, "--dry-run=server", cwd=tmp_path).stdout)
    assert accepted["dryRun"] == "server"
    assert any(op.get("path") == "/spec/template/spec/containers/0/securityContext" for op in accepted["patch"])

    policy = deny_localhost_policy(namespace)
    try:
        kubectl.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": policy}))
        localhost_patch = json.dumps(accepted["patch"])
        deadline = time.monotonic() + 90
        while True:  # the policy takes effect once the API server has compiled it
            probe = kubectl.run("patch", "deploy", "drys", "-n", namespace, "--type=json", "-p", localhost_patch,
                                "--dry-run=server", check=False)  # fmt: skip
            if probe.returncode != 0 and "e2e policy" in probe.stderr:
                break
            assert time.monotonic() < deadline, f"the admission policy did not take effect: {probe.stderr}"
            time.sleep(2)
        refused = cli(cluster.kubeconfig, *args, "--dry-run=server", cwd=tmp_path)
        assert refused.returncode != 0, refused.stdout
        assert "e2e policy: no Localhost seccomp profiles here" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert len([line for line in refused.stderr.splitlines() if line.startswith("error: ")]) == 1
        client_only = cli_ok(cluster.kubeconfig, *args, "--dry-run", cwd=tmp_path)  # never asks the server
        assert json.loads(client_only.stdout)["dryRun"] == "client"
    finally:
        for item in reversed(policy):
            kubectl.run("delete", item["kind"], item["metadata"]["name"], "--ignore-not-found", check=False)

    after = kubectl.json("get", "deploy", "drys", "-n", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert seccomp_settings(after) == seccomp_settings(before)
    assert node_files(cluster, namespace) == files_before  # nothing installed on the nodes
    named = cli_ok(cluster.kubeconfig, "status", "-n", namespace, "--no-nodes", "-o", "name", cwd=tmp_path)
    assert named.stdout == "deployment.apps/drys\n"  # -o name, as kubectl get prints it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "deploy/missing"], "deployment 'missing' not found"),
        (["record", "service/web"], "unknown kind 'service'"),
        (["record", "statefulset/missing"], "statefulset 'missing' not found"),
        (["record", "deploy/paused"], "is paused"),
        (["record", "deploy/zero"], "has 0 replicas"),
        (["record", "deploy/locked"], "already running"),
        (["record", "deploy/locked2", "-c", "nope"], "has no container 'nope'"),
        (["rollback", "deploy/zero"], "no settings saved"),
        (["apply", "deploy/zero", "--profile", "/nonexistent.json"], "no such file"),
    ],
)
def test_refusals_are_one_clear_line(
    cluster: Any, namespace: str, tmp_path: Path, args: list[str], message: str
) -> None:
    kubectl = cluster.kubectl
    name = args[1].split("/")[1]
    if name in ("paused", "zero", "locked", "locked2"):
        manifest = http_deployment(name, replicas=0 if name == "zero" else 1)
        if name == "paused":
            manifest["spec"]["paused"] = True
        if name == "locked":
            manifest["metadata"]["annotations"] = {RECORDING: json.dumps({"since": "earlier", "host": "h"})}
        kubectl.apply(manifest, namespace)
    result = (
        cli(cluster.kubeconfig, *args, "-n", namespace, "--duration", "5s", cwd=tmp_path)
        if args[0] == "record"
        else cli(cluster.kubeconfig, *args, "-n", namespace, cwd=tmp_path)
    )
    assert result.returncode not in (0, 70), result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith("error: ")
    if name in ("paused", "zero", "locked", "locked2") and args[0] == "record":
        after = kubectl.json("get", "deploy", name, "-n", namespace)
        assert seccomp_settings(after)["containers/web"] is None  # refused before any change


# -- interrupts ------------------------------------------------------------------

PHASES = [
    # the log profile's install pods and the agent pods start together
    ("log-profile-and-agent", "installing the log profile", False),
    ("rollout", "pointing 1 container(s) at the log profile", False),
    ("handover", "handing 1 profile(s) to the node agents", False),
    ("apply", "applying the recorded profiles", False),
    ("cleanup", "back on its previous seccomp settings", True),  # a second Ctrl-C during clean-up
]


@pytest.mark.parametrize(("phase", "marker", "second"), PHASES, ids=[p[0] for p in PHASES])
def test_sigint_in_each_phase_leaves_the_cluster_as_it_was(
    cluster: Any, namespace: str, tmp_path: Path, phase: str, marker: str, second: bool
) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("irq", replicas=1))
    original = seccomp_settings(before)
    args = ["record", "deploy/irq", "-n", namespace, "--timeout", "120s"]
    if phase in ("handover", "apply"):
        args += ["--duration", "3s"]
    elif phase == "cleanup":
        args += ["--duration", "3s", "--no-apply"]
    run = Running(cluster.kubeconfig, *args, cwd=tmp_path)
    run.wait_for(marker)
    run.signal(signal.SIGINT)
    if second:
        run.signal(signal.SIGINT)
    code, _out, stderr = run.finish()
    assert "Traceback" not in stderr
    if phase == "cleanup":
        # The recording had finished; clean-up completes despite both Ctrl-Cs. Clean-up
        # can be over before the signals land (it does not wait for the pods): then they
        # hit the final summary (130) or the exit (ignored, 0), never kill the process (-2).
        assert code in (0, 130), stderr
    else:
        assert code == 130, stderr
    assert_left_nothing(cluster, namespace, "irq", original)


def test_sigint_while_tracing_stops_and_writes_the_profile(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("trace", replicas=1))
    run = Running(cluster.kubeconfig, "record", "deploy/trace", "-n", namespace, "--no-apply", cwd=tmp_path)
    run.wait_for("Ctrl-C stops the recording")
    run.signal(signal.SIGINT)
    code, _out, stderr = run.finish()
    assert code == 0, stderr
    assert "interrupted (Ctrl-C)" in stderr
    assert (tmp_path / "profiles" / namespace / "trace-web.json").exists()
    assert_left_nothing(cluster, namespace, "trace", seccomp_settings(before))


# exclusive (scripts/test.sh): cleanup removes every log profile and node pod of ours
@pytest.mark.exclusive
def test_kill_9_then_rollback_and_cleanup(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    before = deploy(kubectl, namespace, http_deployment("killed", replicas=1))
    run = Running(cluster.kubeconfig, "record", "deploy/killed", "-n", namespace, cwd=tmp_path)
    run.wait_for("Ctrl-C stops the recording")
    run.signal(signal.SIGKILL)
    run.finish()
    stuck = kubectl.json("get", "deploy", "killed", "-n", namespace)
    assert RECORDING in stuck["metadata"]["annotations"]
    assert seccomp_settings(stuck)["containers/web"]["localhostProfile"].endswith("killed-log.json")
    assert our_pods_left(kubectl)

    again = cli(cluster.kubeconfig, "record", "deploy/killed", "-n", namespace, "--duration", "3s", cwd=tmp_path)
    assert again.returncode != 0 and "already running" in again.stderr

    cli_ok(cluster.kubeconfig, "rollback", "deploy/killed", "-n", namespace, cwd=tmp_path)
    cleaned = cli_ok(cluster.kubeconfig, "cleanup", "-o", "json", cwd=tmp_path)
    summary = json.loads(cleaned.stdout)
    assert summary["objectsDeleted"] >= 2  # the orphaned agent pods and their ConfigMap
    assert summary["namespaceDeleted"] is True
    assert_left_nothing(cluster, namespace, "killed", seccomp_settings(before))


def our_pods_left(kubectl: Any) -> bool:
    from seccomp_helpers import our_pods

    return bool(our_pods(kubectl))
