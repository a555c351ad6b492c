"""record/apply/rollback/status for every kind against the in-memory cluster.

The same behaviours are proven on the real cluster in tests/e2e/test_kinds.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.targets import CRONJOB, DAEMONSET, DEPLOYMENT, JOB, POD, STATEFULSET
from kubectl_seccomp.workflows.apply import ApplyOptions, apply
from kubectl_seccomp.workflows.record import Recorder
from kubectl_seccomp.workflows.rollback import rollback
from kubectl_seccomp.workflows.status import status
from tests.kube.fake import FakeKube, container_id, web_deployment
from tests.record.test_workflow import NS, Reporter, options, start_line, syscall_line


@pytest.fixture
def kube() -> FakeKube:
    kube = FakeKube()
    kube.follower_lines = {"node-a": [start_line("node-a")], "node-b": [start_line("node-b")]}
    return kube


def manifest(kind: str, name: str = "web", **spec: Any) -> dict[str, Any]:
    base = web_deployment(name, replicas=2)
    base["kind"] = kind
    if kind == DAEMONSET:
        del base["spec"]["replicas"]
    if kind == JOB:
        base["spec"] = {"template": base["spec"]["template"]}
    if kind == CRONJOB:
        base["spec"] = {"schedule": "0 0 * * *", "jobTemplate": {"spec": {"template": base["spec"]["template"]}}}
    base["spec"].update(spec)
    return base


def emit_when_on_log(kube: FakeKube, names: list[str]) -> None:
    """Pods of StatefulSets/DaemonSets on the log profile make ``names``; so do Jobs' pods."""

    def on_patch(owner: dict[str, Any]) -> None:
        if not any("-log.json" in (i.seccomp or {}).get("localhostProfile", "") for i in wl.containers(owner)):
            return
        for pod in list(kube.pods.values()):
            refs = pod["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner["metadata"].get("uid") for r in refs):
                for name in names:
                    kube.emit(pod["spec"]["nodeName"], syscall_line(container_id(pod["metadata"]["name"], "web"), name))

    def on_job(job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            for name in names:
                kube.emit(pod["spec"]["nodeName"], syscall_line(container_id(pod["metadata"]["name"], "web"), name))

    kube.on_patch = on_patch
    kube.on_job = on_job


@pytest.mark.parametrize("strategy", ["RollingUpdate", "OnDelete"])
@pytest.mark.parametrize("kind", [STATEFULSET, DAEMONSET])
def test_record_rolls_statefulsets_and_daemonsets_and_applies(
    kube: FakeKube, tmp_path: Path, kind: str, strategy: str
) -> None:
    original = kube.add(NS, manifest(kind, updateStrategy={"type": strategy}))
    emit_when_on_log(kube, ["read", "accept4"])
    result = Recorder(kube, options(tmp_path, kind=kind), Reporter(), agent=b"PK").run()

    assert result.kind == kind
    web = json.loads((tmp_path / NS / "web-web.json").read_text())
    assert {"read", "accept4"} <= set(web["syscalls"][0]["names"])
    owner = kube.objects[kind][(NS, "web")]
    path = wl.containers(owner)[0].seccomp["localhostProfile"]  # type: ignore[index]
    assert path.startswith(f"kubectl-seccomp/{NS}/web-web-")
    assert wl.read_originals(owner) == wl.current_originals(original)
    assert wl.RECORDING_ANNOTATION not in owner["metadata"]["annotations"]
    pods = [p for p in kube.pods.values() if p["metadata"]["name"].startswith("web-")]
    assert len(pods) == 2
    # every pod, OnDelete ones too, runs the applied profile: none was left on the log profile
    for pod in pods:
        assert pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"] == path

    rollback(kube, kind=kind, namespace=NS, name="web", timeout=5, reporter=Reporter())
    after = kube.objects[kind][(NS, "web")]
    assert after["spec"]["template"] == original["spec"]["template"]
    for pod in (p for p in kube.pods.values() if p["metadata"]["name"].startswith("web-")):
        assert "securityContext" not in pod["spec"]["containers"][0]


def test_interrupted_ondelete_recording_rolls_the_pods_back(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add(NS, manifest(STATEFULSET, updateStrategy={"type": "OnDelete"}))

    def interrupt(owner: dict[str, Any]) -> None:
        if any("-log.json" in (i.seccomp or {}).get("localhostProfile", "") for i in wl.containers(owner)):
            kube.on_patch = None
            raise KeyboardInterrupt

    kube.on_patch = interrupt
    with pytest.raises(KeyboardInterrupt):
        Recorder(kube, options(tmp_path, kind=STATEFULSET), Reporter(), agent=b"PK").run()
    owner = kube.objects[STATEFULSET][(NS, "web")]
    assert owner["spec"]["template"] == original["spec"]["template"]
    assert not (owner["metadata"].get("annotations") or {})
    assert not [k for k in kube.pods if k[0] == "kubectl-seccomp"]


def test_a_partitioned_statefulset_is_refused(kube: FakeKube, tmp_path: Path) -> None:
    kube.add(NS, manifest(STATEFULSET, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))
    with pytest.raises(UsageError, match="partition of 1"):
        Recorder(kube, options(tmp_path, kind=STATEFULSET), Reporter(), agent=b"PK").run()
    assert not kube.node_commands


def test_record_a_job_runs_a_copy_to_completion_and_prints_the_manifest(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add(NS, manifest(JOB))
    emit_when_on_log(kube, ["read", "write", "mkdirat"])
    result = Recorder(kube, options(tmp_path, kind=JOB, duration=30), Reporter(), agent=b"PK").run()

    assert result.stop_reason.startswith("job web-ksc-") and "Complete" in result.stop_reason
    assert {"read", "write", "mkdirat"} <= set(
        json.loads((tmp_path / NS / "web-web.json").read_text())["syscalls"][0]["names"]
    )
    copies = [c for c in kube.calls if c[0] == "create" and c[1] == "job" and c[3] != "web"]
    assert len(copies) == 1
    assert list(kube.objects[JOB]) == [(NS, "web")]  # the copy is gone, the Job untouched
    job = kube.objects[JOB][(NS, "web")]
    assert job["spec"]["template"] == original["spec"]["template"]
    assert not (job["metadata"].get("annotations") or {})
    assert result.applied is not None and result.applied.manifest is not None
    manifest_spec = result.applied.manifest["spec"]["template"]["spec"]["containers"][0]
    assert manifest_spec["securityContext"]["seccompProfile"]["localhostProfile"] == result.applied.profiles["web"]
    assert "selector" not in result.applied.manifest["spec"]


def test_a_copy_job_that_cannot_start_stops_the_recording_and_is_deleted(kube: FakeKube, tmp_path: Path) -> None:
    from kubectl_seccomp.kube.errors import RolloutFailed

    kube.add(NS, manifest(CRONJOB))
    kube.jobs_pull_fail = True
    with pytest.raises(RolloutFailed, match="cannot run \\(ImagePullBackOff\\)") as caught:
        Recorder(kube, options(tmp_path, kind=CRONJOB, duration=60), Reporter(), agent=b"PK").run()
    assert any("no such image" in line for line in caught.value.evidence)
    assert not kube.objects[JOB]  # the copy is gone
    assert not (kube.objects[CRONJOB][(NS, "web")]["metadata"].get("annotations") or {})
    assert not [k for k in kube.pods if k[0] == "kubectl-seccomp"]


def test_record_a_cronjob_runs_its_job_template_and_apply_patches_it(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add(NS, manifest(CRONJOB))
    emit_when_on_log(kube, ["read", "openat"])
    result = Recorder(kube, options(tmp_path, kind=CRONJOB, duration=30), Reporter(), agent=b"PK").run()
    assert "Complete" in result.stop_reason
    cronjob = kube.objects[CRONJOB][(NS, "web")]
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["seccompProfile"] == wl.localhost(result.applied.profiles["web"])  # type: ignore[union-attr]
    assert not [k for k in kube.objects[JOB] if k[1].startswith("web-ksc-")]
    rollback(kube, kind=CRONJOB, namespace=NS, name="web", timeout=5, reporter=Reporter())
    assert kube.objects[CRONJOB][(NS, "web")]["spec"] == original["spec"]


def test_a_bare_pod_is_recorded_only_on_a_log_profile(kube: FakeKube, tmp_path: Path) -> None:
    pod = {"kind": POD, "metadata": {"name": "solo"}, "spec": {"containers": [{"name": "web", "image": "x"}]}}
    kube.add(NS, pod)
    with pytest.raises(UsageError, match="does not run under a log profile"):
        Recorder(kube, options(tmp_path, kind=POD, name="solo"), Reporter(), agent=b"PK").run()
    assert not kube.node_commands


def test_a_pod_of_a_controller_is_refused_naming_the_owner(kube: FakeKube, tmp_path: Path) -> None:
    kube.add(NS, manifest(STATEFULSET))
    with pytest.raises(UsageError, match="managed by StatefulSet web") as caught:
        Recorder(kube, options(tmp_path, kind=POD, name="web-0"), Reporter(), agent=b"PK").run()
    assert "record sts/web" in (caught.value.hint or "")


def write_profile(tmp_path: Path, name: str, calls: list[str], action: str = "SCMP_ACT_ERRNO") -> str:
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "defaultAction": action,
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": calls, "action": "SCMP_ACT_ALLOW"}],
            }
        )
    )
    return str(path)


def test_a_changed_profile_rolls_the_pods_and_the_old_file_goes(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    settings = NodeSettings(pod_timeout=5)
    first = apply(kube, ApplyOptions(NS, "web", write_profile(tmp_path, "a.json", ["read"]), node=settings), Reporter())
    pods_before = set(kube.template_pods(NS, "web")[0]["metadata"]["name"] for _ in [0])
    second = apply(
        kube, ApplyOptions(NS, "web", write_profile(tmp_path, "b.json", ["read", "write"]), node=settings), Reporter()
    )
    assert first.profiles["web"] != second.profiles["web"]
    pods = kube.template_pods(NS, "web")
    assert {p["metadata"]["name"] for p in pods}.isdisjoint(pods_before)  # rolled
    assert second.removed == (first.profiles["web"],)
    removes = [" ".join(cmd) for _node, cmd in kube.node_commands if "remove" in " ".join(cmd)]
    assert removes and all(first.profiles["web"] in r for r in removes)


def test_status_lists_every_kind_and_counts_types(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    kube.add(NS, manifest(STATEFULSET, "db"))
    kube.add(NS, manifest(DAEMONSET, "agent"))
    kube.add(NS, manifest(CRONJOB, "nightly"))
    runtime = copy.deepcopy(manifest(JOB, "once"))
    runtime["spec"]["template"]["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    kube.add(NS, runtime)
    kube.add(NS, {"kind": POD, "metadata": {"name": "solo"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    report = status(kube, namespace=None, name=None, settings=NodeSettings(), check_nodes=False, reporter=Reporter())
    kinds = [(r.kind, r.name) for r in report.rows]
    assert kinds == [
        (DEPLOYMENT, "web"),
        (STATEFULSET, "db"),
        (DAEMONSET, "agent"),
        (JOB, "once"),
        (CRONJOB, "nightly"),
        (POD, "solo"),
    ]  # pods of the workloads are not listed twice
    assert report.counts() == {"Localhost": 0, "RuntimeDefault": 1, "Unconfined": 0, "unset": 5}
    assert report.unset_means().startswith("Unconfined")
    kube.seccomp_default = None
    report = status(kube, namespace=NS, name=None, settings=NodeSettings(), check_nodes=False, reporter=Reporter())
    assert report.unset_means().startswith("unknown")


def test_dry_run_shows_the_patch_apply_then_sends(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    profile = write_profile(tmp_path, "a.json", ["read"])
    settings = NodeSettings(pod_timeout=5)
    dry = apply(kube, ApplyOptions(NS, "web", profile, node=settings, dry_run=True), Reporter())
    assert not [c for c in kube.calls if c[0] == "patch"] and not kube.node_commands
    real = apply(kube, ApplyOptions(NS, "web", profile, node=settings), Reporter())
    assert real.patch == dry.patch and real.profiles == dry.profiles
    sent = [json.loads(c[4]) for c in kube.calls if c[0] == "patch"]
    assert sent == [list(dry.patch)]


def test_server_dry_run_sends_the_patch_with_dry_run_and_changes_nothing(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    before = copy.deepcopy(kube.objects[DEPLOYMENT][(NS, "web")])
    profile = write_profile(tmp_path, "a.json", ["read"])
    options = ApplyOptions(NS, "web", profile, node=NodeSettings(pod_timeout=5), dry_run=True, server_dry_run=True)
    result = apply(kube, options, Reporter())
    assert result.dry_run and result.server_dry_run
    sent = [c for c in kube.calls if c[0].startswith("patch")]
    assert [c[0] for c in sent] == ["patch-dry-run"]  # sent once, as a dry run, and nothing else
    ops = json.loads(sent[0][4])
    assert ops[0]["op"] == "test" and ops[0]["path"] == "/metadata/resourceVersion"  # checked against what we read
    assert ops[1:] == list(result.patch)
    assert kube.objects[DEPLOYMENT][(NS, "web")] == before and not kube.node_commands


def test_server_dry_run_of_a_bare_pod_says_there_is_no_patch(kube: FakeKube, tmp_path: Path) -> None:
    kube.add(NS, {"kind": POD, "metadata": {"name": "solo"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    reporter = Reporter()
    options = ApplyOptions(NS, "solo", write_profile(tmp_path, "a.json", ["read"]), kind=POD, dry_run=True,
                           server_dry_run=True)  # fmt: skip
    result = apply(kube, options, reporter)
    assert result.manifest is not None and not [c for c in kube.calls if c[0].startswith("patch")]
    assert any("nothing to send to the server" in w for w in reporter.warnings)


def test_record_writes_seccompprofile_resources_with_format_spo(kube: FakeKube, tmp_path: Path) -> None:
    import yaml

    from kubectl_seccomp.formats import ProfileFormat

    kube.add(NS, manifest(STATEFULSET))
    emit_when_on_log(kube, ["read", "accept4"])
    result = Recorder(
        kube, options(tmp_path, kind=STATEFULSET, profile_format=ProfileFormat.spo), Reporter(), agent=b"PK"
    ).run()
    written = tmp_path / NS / "web-web.yaml"
    assert result.containers[0].path == written and not (tmp_path / NS / "web-web.json").exists()
    resource = yaml.safe_load(written.read_text())
    assert resource["kind"] == "SeccompProfile" and resource["metadata"]["name"] == "web-web"
    assert {"read", "accept4"} <= set(resource["spec"]["syscalls"][0]["names"])
    owner = kube.objects[STATEFULSET][(NS, "web")]  # what is applied is the same profile, as the kubelet reads it
    assert wl.containers(owner)[0].seccomp["localhostProfile"].startswith(f"kubectl-seccomp/{NS}/web-web-")  # type: ignore[index]


def test_a_selector_names_every_matching_owner(kube: FakeKube) -> None:
    from kubectl_seccomp.targets import Target
    from kubectl_seccomp.workflows._common import resolve_names

    for name in ("a", "b", "c"):
        manifest = web_deployment(name, replicas=1)
        manifest["metadata"]["labels"] = {"tier": "web" if name != "c" else "db"}
        kube.add_deployment(NS, manifest)
    assert resolve_names(kube, Target(DEPLOYMENT, selector="tier=web"), NS) == ["a", "b"]
    with pytest.raises(Exception, match="no deployment in namespace shop matches -l tier=none"):
        resolve_names(kube, Target(DEPLOYMENT, selector="tier=none"), NS)


def test_replicasets_and_pods_of_a_deployment_are_refused_naming_it(kube: FakeKube, tmp_path: Path) -> None:
    from kubectl_seccomp.targets import REPLICASET

    kube.add_deployment(NS, web_deployment(replicas=1))
    pod = kube.template_pods(NS, "web")[0]["metadata"]["name"]
    replicaset = next(iter(kube.replicasets))[1]
    for kind, name in ((POD, pod), (REPLICASET, replicaset)):
        with pytest.raises(UsageError, match=f"managed by (ReplicaSet {replicaset}|Deployment web)") as caught:
            Recorder(kube, options(tmp_path, kind=kind, name=name), Reporter(), agent=b"PK").run()
        assert "record deploy/web" in (caught.value.hint or "")
    assert not kube.node_commands
