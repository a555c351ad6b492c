"""Every workload kind on the real cluster: StatefulSets, DaemonSets, Jobs, CronJobs, bare Pods.

Each test records the workload while it works, applies the profiles, checks
that the workload still works under them and that a syscall it never made
(``mkfifo`` -> ``mknodat``) fails with EPERM inside a pod, and rolls back.
Deployments are covered by tests/e2e/test_record_apply.py; two applies of
different profiles and ``status -A`` over every kind are here too.
"""

from __future__ import annotations

import copy
import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import (
    EXEC_REQUESTS,
    ORIGINAL,
    PYTHON_IMAGE,
    RECORDING,
    Running,
    cli,
    cli_ok,
    content_path,
    deploy,
    http_deployment,
    node_files,
    our_pods,
    pod_answers,
    profile_names,
    ready_pods,
    seccomp_settings,
)

pytestmark = pytest.mark.cluster

MKFIFO = "import os\ntry:\n os.mkfifo('/tmp/fifo'); print('created')\nexcept OSError as e:\n print('errno', e.errno)"
# what the batch workloads do: some files, a directory listing, output
BATCH = "import os\nos.listdir('/')\nopen('/tmp/x', 'w').write('x' * 100)\nprint('done', flush=True)\n"
PROBE = BATCH + MKFIFO + "\n"


def workload(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    """A StatefulSet or DaemonSet of the HTTP server of the Deployment tests."""
    manifest = http_deployment(name, replicas=2)
    manifest["kind"] = kind
    if kind == "DaemonSet":
        del manifest["spec"]["replicas"]
    if kind == "StatefulSet":
        manifest["spec"]["serviceName"] = name
        manifest["spec"]["podManagementPolicy"] = "Parallel"
    manifest["spec"].update(spec)
    return manifest


def batch_template(command: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "batch"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "work",
                    "image": PYTHON_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python3", "-c", command],
                }
            ],
        },
    }


def job(name: str, command: str = BATCH) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": batch_template(command)},
    }


def cronjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": "0 0 1 1 *",  # never during a test: we start its Jobs ourselves
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": batch_template(BATCH)}},
        },
    }


def get(kubectl: Any, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return kubectl.json("get", kind, name, "-n", namespace)  # type: ignore[no-any-return]


def template_settings(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return seccomp_settings({"spec": obj["spec"]["jobTemplate"]["spec"]})
    return seccomp_settings(obj)


def rollout(kubectl: Any, ref: str, namespace: str) -> None:
    kubectl.run("rollout", "status", ref, "-n", namespace, "--timeout=180s", timeout=200)


def wait_ready(kubectl: Any, namespace: str, app: str, count: int) -> None:
    """``count`` Ready pods of ``app`` (``kubectl rollout status`` refuses OnDelete StatefulSets)."""
    deadline = time.monotonic() + 180
    while len(ready_pods(kubectl, namespace, app)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"no {count} Ready pods of {app} in 180s")
        time.sleep(1)


def assert_eperm_in(kubectl: Any, namespace: str, pod: str) -> None:
    denied = kubectl.run("exec", "-n", namespace, pod, "--", "python3", "-c", MKFIFO, check=False)
    assert "errno 1" in denied.stdout, denied.stdout + denied.stderr


def run_job(kubectl: Any, namespace: str, manifest: dict[str, Any]) -> str:
    """Create a Job, wait for it to end; its pod's log."""
    kubectl.apply(manifest, namespace)
    name = manifest["metadata"]["name"]
    wait_job(kubectl, namespace, name)
    return str(kubectl.run("logs", f"job/{name}", "-n", namespace).stdout)


def wait_job(kubectl: Any, namespace: str, name: str) -> None:
    """Until the Job completes; its pods' logs and states in the failure if it fails."""
    deadline = time.monotonic() + 180
    while True:
        status = get(kubectl, "job", name, namespace).get("status") or {}
        if status.get("succeeded"):
            return
        if status.get("failed") or time.monotonic() > deadline:
            logs = kubectl.run("logs", f"job/{name}", "-n", namespace, "--tail=20", check=False)
            pods = kubectl.json("get", "pods", "-n", namespace, "-l", f"job-name={name}")["items"]
            states = [c.get("state") for p in pods for c in p["status"].get("containerStatuses") or []]
            pytest.fail(f"job {name} did not complete: {status}\n{states}\n{logs.stdout}{logs.stderr}")
        time.sleep(1)


def assert_no_leftovers(cluster: Any, namespace: str) -> None:
    deadline = time.monotonic() + 30
    while our_pods(cluster.kubectl) and time.monotonic() < deadline:
        time.sleep(1)
    assert our_pods(cluster.kubectl) == []
    for node, files in node_files(cluster).items():
        assert not [f for f in files if f.startswith(f"kubectl-seccomp/{namespace}/") and f.endswith("-log.json")], (
            node,
            files,
        )


@pytest.mark.parametrize("strategy", ["RollingUpdate", "OnDelete"])
def test_statefulset_record_apply_rollback(cluster: Any, namespace: str, tmp_path: Path, strategy: str) -> None:
    kubectl = cluster.kubectl
    kubectl.apply(workload("StatefulSet", "db", updateStrategy={"type": strategy}), namespace)
    wait_ready(kubectl, namespace, "db", 2)
    before = get(kubectl, "sts", "db", namespace)

    result = cli_ok(
        cluster.kubeconfig,
        "record",
        "sts/db",
        "-n",
        namespace,
        "--exec",
        EXEC_REQUESTS,
        "--timeout",
        "180s",
        cwd=tmp_path,
    )
    assert "--exec command exited with code 0" in result.stderr
    profile = tmp_path / "profiles" / namespace / "db-web.json"
    assert {"accept4", "recvfrom", "sendto"} <= profile_names(profile)  # merged across both ordinals
    localhost = content_path(namespace, "db", "web", profile)
    after = get(kubectl, "sts", "db", namespace)
    assert seccomp_settings(after)["containers/web"] == {"type": "Localhost", "localhostProfile": localhost}
    assert RECORDING not in after["metadata"]["annotations"] and ORIGINAL in after["metadata"]["annotations"]
    pods = ready_pods(kubectl, namespace, "db")
    assert len(pods) == 2
    for pod in pods:  # OnDelete too: we rolled every pod ourselves
        assert pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"] == localhost
        assert pod_answers(pod["status"]["podIP"])
        assert_eperm_in(kubectl, namespace, pod["metadata"]["name"])

    cli_ok(cluster.kubeconfig, "rollback", "statefulsets.apps/db", "-n", namespace, "--timeout", "180s", cwd=tmp_path)
    restored = get(kubectl, "sts", "db", namespace)
    assert seccomp_settings(restored) == seccomp_settings(before)
    assert ORIGINAL not in (restored["metadata"].get("annotations") or {})
    for pod in ready_pods(kubectl, namespace, "db"):
        assert "securityContext" not in pod["spec"]["containers"][0]
    assert_no_leftovers(cluster, namespace)


def test_daemonset_gets_its_profile_on_every_node(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    kubectl.apply(workload("DaemonSet", "agent", updateStrategy=strategy), namespace)
    rollout(kubectl, "ds/agent", namespace)
    before = get(kubectl, "ds", "agent", namespace)

    cli_ok(
        cluster.kubeconfig,
        "record",
        "ds/agent",
        "-n",
        namespace,
        "--exec",
        EXEC_REQUESTS,
        "--timeout",
        "180s",
        cwd=tmp_path,
    )
    profile = tmp_path / "profiles" / namespace / "agent-web.json"
    localhost = content_path(namespace, "agent", "web", profile)
    assert seccomp_settings(get(kubectl, "ds", "agent", namespace))["containers/web"]["localhostProfile"] == localhost
    files = node_files(cluster)
    assert len(files) == 2 and all(localhost in names for names in files.values()), files
    pods = ready_pods(kubectl, namespace, "agent")
    assert {p["spec"]["nodeName"] for p in pods} == {n.name for n in cluster.nodes}
    for pod in pods:
        assert pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"] == localhost
        assert pod_answers(pod["status"]["podIP"])
        assert_eperm_in(kubectl, namespace, pod["metadata"]["name"])

    cli_ok(cluster.kubeconfig, "rollback", "ds/agent", "-n", namespace, "--timeout", "180s", cwd=tmp_path)
    assert seccomp_settings(get(kubectl, "ds", "agent", namespace)) == seccomp_settings(before)
    assert_no_leftovers(cluster, namespace)


def test_job_runs_a_copy_and_apply_prints_the_manifest(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    run_job(kubectl, namespace, job("batch"))
    before = get(kubectl, "job", "batch", namespace)

    result = cli_ok(
        cluster.kubeconfig, "record", "job/batch", "-n", namespace, "--timeout", "180s", "-o", "json", cwd=tmp_path
    )
    summary = json.loads(result.stdout)
    assert "ended (Complete)" in summary["stopReason"]
    profile = tmp_path / "profiles" / namespace / "batch-work.json"
    assert {"openat", "getdents64", "write"} <= profile_names(profile)
    localhost = content_path(namespace, "batch", "work", profile)
    manifest = summary["manifest"]
    assert manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"] == {
        "type": "Localhost",
        "localhostProfile": localhost,
    }
    # the finished Job is untouched and our copy is gone
    after = get(kubectl, "job", "batch", namespace)
    assert after["spec"]["template"] == before["spec"]["template"]
    assert not (after["metadata"].get("annotations") or {}).get(RECORDING)
    assert [j["metadata"]["name"] for j in kubectl.json("get", "jobs", "-n", namespace)["items"]] == ["batch"]
    for files in node_files(cluster).values():
        assert localhost in files

    # re-created from the printed manifest, it runs under the profile ...
    kubectl.run("delete", "job", "batch", "-n", namespace, "--wait=true", timeout=120)
    assert "done" in run_job(kubectl, namespace, manifest)
    # ... and a call it never made is refused
    probe = copy.deepcopy(manifest)
    probe["metadata"]["name"] = "probe"
    probe["spec"]["template"]["spec"]["containers"][0]["command"] = ["python3", "-c", PROBE]
    assert "errno 1" in run_job(kubectl, namespace, probe)
    assert_no_leftovers(cluster, namespace)


def test_cronjob_record_patches_the_job_template(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    kubectl.apply(cronjob("nightly"), namespace)
    before = get(kubectl, "cj", "nightly", namespace)

    result = cli_ok(cluster.kubeconfig, "record", "cj/nightly", "-n", namespace, "--timeout", "180s", cwd=tmp_path)
    assert "ended (Complete)" in result.stderr
    profile = tmp_path / "profiles" / namespace / "nightly-work.json"
    localhost = content_path(namespace, "nightly", "work", profile)
    after = get(kubectl, "cj", "nightly", namespace)
    assert template_settings(after)["containers/work"] == {"type": "Localhost", "localhostProfile": localhost}
    assert [j for j in kubectl.json("get", "jobs", "-n", namespace)["items"]] == []  # our Job is gone

    # the CronJob's next Job runs under the profile
    kubectl.run("create", "job", "next", "--from=cronjob/nightly", "-n", namespace)
    wait_job(kubectl, namespace, "next")
    pod = kubectl.json("get", "pods", "-n", namespace, "-l", "job-name=next")["items"][0]
    assert pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"] == localhost
    probe = job("probe", PROBE)
    probe["spec"]["template"] = copy.deepcopy(after["spec"]["jobTemplate"]["spec"]["template"])
    probe["spec"]["template"]["spec"]["containers"][0]["command"] = ["python3", "-c", PROBE]
    assert "errno 1" in run_job(kubectl, namespace, probe)

    cli_ok(cluster.kubeconfig, "rollback", "cronjob/nightly", "-n", namespace, cwd=tmp_path)
    restored = get(kubectl, "cj", "nightly", namespace)
    assert template_settings(restored) == template_settings(before)
    assert ORIGINAL not in (restored["metadata"].get("annotations") or {})
    assert_no_leftovers(cluster, namespace)


def test_pods_bare_or_owned(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("web", replicas=1))
    owned = ready_pods(kubectl, namespace, "web")[0]["metadata"]["name"]
    refused = cli(cluster.kubeconfig, "record", f"po/{owned}", "-n", namespace, "--duration", "3s", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "managed by Deployment web" in refused.stderr and "record deploy/web" in refused.stderr
    assert "Traceback" not in refused.stderr

    solo = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "solo", "labels": {"app": "solo"}},
        "spec": copy.deepcopy(http_deployment("solo")["spec"]["template"]["spec"]),
    }
    kubectl.apply(solo, namespace)
    kubectl.run("wait", "--for=condition=Ready", "pod/solo", "-n", namespace, "--timeout=120s", timeout=130)
    refused = cli(cluster.kubeconfig, "record", "pod/solo", "-n", namespace, "--duration", "3s", cwd=tmp_path)
    assert refused.returncode == 2 and "does not run under a log profile" in refused.stderr, refused.stderr

    # a bare pod started on a log profile is traced as it runs, without a restart
    log = {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}
    path = f"kubectl-seccomp/{namespace}/logged-po-log.json"
    for node in cluster.nodes:
        target = Path(node.seccomp_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(log))
    logged = copy.deepcopy(solo)
    logged["metadata"] = {"name": "logged", "labels": {"app": "logged"}}
    logged["spec"]["containers"][0]["securityContext"] = {
        "seccompProfile": {"type": "Localhost", "localhostProfile": path}
    }
    kubectl.apply(logged, namespace)
    kubectl.run("wait", "--for=condition=Ready", "pod/logged", "-n", namespace, "--timeout=120s", timeout=130)
    uid = get(kubectl, "pod", "logged", namespace)["metadata"]["uid"]
    # work started while recording: a process exec'd into the container runs under its filter
    work = (
        f"kubectl --kubeconfig={cluster.kubeconfig} exec -n {namespace} logged -- python3 -c "
        "\"import os; os.listdir('/'); open('/tmp/y', 'w').write('y')\"; " + EXEC_REQUESTS
    )
    result = cli_ok(
        cluster.kubeconfig, "record", "po/logged", "-n", namespace, "--exec", work, "--no-apply", cwd=tmp_path
    )
    assert "--exec command exited with code 0" in result.stderr
    recorded = tmp_path / "profiles" / namespace / "logged-web.json"
    assert recorded.exists(), result.stderr
    assert {"getdents64", "openat", "write"} <= profile_names(recorded), result.stderr
    after = get(kubectl, "pod", "logged", namespace)
    assert after["metadata"]["uid"] == uid and RECORDING not in (after["metadata"].get("annotations") or {})
    for node in cluster.nodes:  # the agent ran on the pod's node only, and removed the log profile there
        target = Path(node.seccomp_dir) / path
        assert target.exists() == (node.name != after["spec"]["nodeName"]), node.name
        target.unlink(missing_ok=True)

    # apply to a bare pod: the profile goes to the nodes, the patched manifest comes out
    applied = cli_ok(
        cluster.kubeconfig,
        "apply",
        "po/solo",
        "-n",
        namespace,
        "-f",
        str(tmp_path / "profiles" / namespace / "logged-web.json"),
        "-o",
        "json",
        cwd=tmp_path,
    )
    manifest = json.loads(applied.stdout)["manifest"]
    assert manifest["spec"]["containers"][0]["securityContext"]["seccompProfile"]["type"] == "Localhost"
    assert "nodeName" not in manifest["spec"]
    assert_no_leftovers(cluster, namespace)


def test_two_applies_of_different_profiles_reach_the_pods(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("web", replicas=2))
    cli_ok(
        cluster.kubeconfig, "record", "deploy/web", "-n", namespace, "--exec", EXEC_REQUESTS, "--no-apply", cwd=tmp_path
    )
    recorded = json.loads((tmp_path / "profiles" / namespace / "web-web.json").read_text())
    enforce = tmp_path / "enforce.json"
    enforce.write_text(json.dumps(recorded))
    complain = tmp_path / "complain.json"  # the same list, but what is not on it is logged, not refused
    complain.write_text(json.dumps({**recorded, "defaultAction": "SCMP_ACT_LOG"}))

    first = json.loads(
        cli_ok(
            cluster.kubeconfig, "apply", "deploy/web", "-n", namespace, "-f", str(enforce), "-o", "json", cwd=tmp_path
        ).stdout
    )
    for pod in ready_pods(kubectl, namespace, "web"):
        assert_eperm_in(kubectl, namespace, pod["metadata"]["name"])
    second = json.loads(
        cli_ok(
            cluster.kubeconfig, "apply", "deploy/web", "-n", namespace, "-f", str(complain), "-o", "json", cwd=tmp_path
        ).stdout
    )
    assert first["profiles"]["web"] != second["profiles"]["web"]
    assert second["removedFiles"] == [first["profiles"]["web"]]  # no pod uses the first file any more
    pods = ready_pods(kubectl, namespace, "web")
    assert len(pods) == 2
    for pod in pods:  # every pod rolled onto the second profile: mkfifo is allowed now
        profile = pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"]
        assert profile == second["profiles"]["web"]
        allowed = kubectl.run("exec", "-n", namespace, pod["metadata"]["name"], "--", "python3", "-c", MKFIFO)
        assert "created" in allowed.stdout, allowed.stdout + allowed.stderr
    for files in node_files(cluster).values():
        assert second["profiles"]["web"] in files and first["profiles"]["web"] not in files
    cli_ok(cluster.kubeconfig, "rollback", "deploy/web", "-n", namespace, cwd=tmp_path)


def test_status_all_namespaces_lists_every_kind(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("web", replicas=1))
    kubectl.apply(workload("StatefulSet", "db", replicas=1), namespace)
    kubectl.apply(workload("DaemonSet", "agent"), namespace)
    runtime = job("once")
    runtime["spec"]["template"]["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    kubectl.apply(runtime, namespace)
    kubectl.apply(cronjob("nightly"), namespace)
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "solo"},
            "spec": copy.deepcopy(http_deployment("solo")["spec"]["template"]["spec"]),
        },
        namespace,
    )

    report = json.loads(cli_ok(cluster.kubeconfig, "status", "-A", "--no-nodes", "-o", "json", cwd=tmp_path).stdout)
    mine = [(r["kind"], r["name"], r["type"]) for r in report["containers"] if r["namespace"] == namespace]
    assert mine == [
        ("Deployment", "web", "unset"),
        ("StatefulSet", "db", "unset"),
        ("DaemonSet", "agent", "unset"),
        ("Job", "once", "RuntimeDefault"),
        ("CronJob", "nightly", "unset"),
        ("Pod", "solo", "unset"),
    ]  # the workloads' own pods are not listed again
    counts = report["summary"]
    assert sum(counts.values()) == len(report["containers"]) and counts["RuntimeDefault"] >= 1
    assert report["unsetMeans"].startswith("Unconfined")  # the test cluster's kubelets: SeccompDefault off

    table = cli_ok(cluster.kubeconfig, "status", "-A", "--no-nodes", cwd=tmp_path)
    # other tests' namespaces come and go meanwhile: check the line against this table's own rows
    summary = re.search(
        r"(\d+) containers: (\d+) Localhost, (\d+) RuntimeDefault, (\d+) Unconfined, (\d+) unset", table.stderr
    )
    assert summary, table.stderr
    total, *per_type = (int(n) for n in summary.groups())
    rows = table.stdout.strip().splitlines()[1:]
    assert total == sum(per_type) == len(rows)
    assert per_type[1] == sum(" RuntimeDefault " in row for row in rows) >= 1
    assert "unset means: Unconfined" in table.stderr


# A plain-progress trace line that has seen at least one syscall
TRACED_SOME = re.compile(r"tracing +[\d.]+s: [1-9]\d* pod\(s\), [1-9]\d* container\(s\), [1-9]\d* syscalls")
SIGNAL_KINDS = [
    ("sts/irq", "StatefulSet", "pointing 1 container(s) at the log profile"),
    ("ds/irq", "DaemonSet", "pointing 1 container(s) at the log profile"),
    # The Job's pod starts only after tracing has begun: Ctrl-C once the trace has seen its
    # syscalls, else an interrupt that lands before the pod ran is rightly "nothing traced" (11)
    ("cj/irq", "CronJob", TRACED_SOME),
]


@pytest.mark.parametrize(("ref", "kind", "marker"), SIGNAL_KINDS, ids=[k[1] for k in SIGNAL_KINDS])
def test_sigint_leaves_each_kind_as_it_was(
    cluster: Any, namespace: str, tmp_path: Path, ref: str, kind: str, marker: str | re.Pattern[str]
) -> None:
    kubectl = cluster.kubectl
    if kind == "CronJob":
        manifest = cronjob("irq")
        manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] = [
            "python3",
            "-c",
            "import time; time.sleep(300)",
        ]
        kubectl.apply(manifest, namespace)
    else:
        kubectl.apply(workload(kind, "irq", **({"replicas": 1} if kind == "StatefulSet" else {})), namespace)
        rollout(kubectl, ref, namespace)
    before = get(kubectl, kind.lower(), "irq", namespace)
    run = Running(cluster.kubeconfig, "record", ref, "-n", namespace, "--timeout", "180s", "--no-apply", cwd=tmp_path)
    run.wait_for(marker)
    run.signal(signal.SIGINT)
    code, _out, stderr = run.finish()
    assert "Traceback" not in stderr
    if kind == "CronJob":
        assert code == 0, stderr  # Ctrl-C while tracing ends the recording normally
        assert "interrupted (Ctrl-C)" in stderr
    else:
        assert code in (0, 130), stderr
    if kind != "CronJob":
        rollout(kubectl, ref, namespace)
    after = get(kubectl, kind.lower(), "irq", namespace)
    assert template_settings(after) == template_settings(before)
    annotations = after["metadata"].get("annotations") or {}
    assert RECORDING not in annotations and ORIGINAL not in annotations
    jobs = kubectl.json("get", "jobs", "-n", namespace)["items"]
    assert jobs == []  # the recording's Job is gone
    assert_no_leftovers(cluster, namespace)
