"""The record and apply workflows against the in-memory cluster (tests/kube/fake.py).

Fast checks of the order of phases and of the undo logic; the same behaviours
are proven on the real cluster in tests/e2e/test_record_apply.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.errors import RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.trace import TraceView
from kubectl_seccomp.workflows._common import SilentReporter, applied_path
from kubectl_seccomp.workflows.apply import ApplyOptions, ApplyResult, apply
from kubectl_seccomp.workflows.record import Recorder, RecordOptions
from kubectl_seccomp.workflows.rollback import rollback
from tests.kube.fake import FakeKube, container_id, web_deployment

NS = "shop"


class Reporter(SilentReporter):
    def __init__(self) -> None:
        self.phases: list[str] = []
        self.warnings: list[str] = []

    def phase(self, message: str) -> None:
        self.phases.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def trace(self, view: TraceView) -> None:
        pass

    def trace_done(self) -> None:
        pass


def start_line(node: str) -> str:
    return json.dumps({"event": "start", "version": 1, "source": "netlink", "node": node})


def syscall_line(cid: str, name: str, arch: str = "x86_64") -> str:
    return json.dumps(
        {
            "event": "syscall",
            "container": cid,
            "arch": arch,
            "name": name,
            "action": "LOG",
            "pid": 1,
            "comm": "x",
        }
    )


def emit_on_log_rollout(kube: FakeKube, syscalls: dict[str, list[str]]) -> None:
    """When pods roll onto the log profile, their containers make ``syscalls[container]``."""

    def on_patch(deployment: dict[str, Any]) -> None:
        infos = wl.containers(deployment)
        if not any((i.seccomp or {}).get("localhostProfile", "").endswith("-log.json") for i in infos):
            return
        for pod in kube.template_pods(NS, deployment["metadata"]["name"]):
            for info in infos:
                for name in syscalls.get(info.name, []):
                    kube.emit(
                        pod["spec"]["nodeName"],
                        syscall_line(container_id(pod["metadata"]["name"], info.name), name),
                    )

    kube.on_patch = on_patch


def options(tmp_path: Path, **kwargs: Any) -> RecordOptions:
    base: dict[str, Any] = {
        "namespace": NS,
        "name": "web",
        "duration": 0.3,
        "output_dir": tmp_path,
        "settle": 0.05,
        "timeout": 5,
        "node": NodeSettings(pod_timeout=5),
    }
    base.update(kwargs)
    return RecordOptions(**base)


@pytest.fixture
def kube() -> FakeKube:
    kube = FakeKube()
    kube.follower_lines = {"node-a": [start_line("node-a")], "node-b": [start_line("node-b")]}
    return kube


def test_record_writes_merged_profiles_and_applies_them(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=2, extra_containers=("sidecar",), init=("setup",)))
    emit_on_log_rollout(kube, {"web": ["read", "accept4"], "sidecar": ["nanosleep"], "setup": ["execve"]})
    result = Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()

    by_name = {c.container: c for c in result.containers}
    assert set(by_name) == {"web", "sidecar", "setup"}
    web = json.loads((tmp_path / NS / "web-web.json").read_text())
    assert set(web["syscalls"][0]["names"]) == {"read", "accept4", "rt_sigreturn", "exit", "exit_group"}
    assert "flags" not in web  # runc 1.1 refuses profiles with flags
    assert by_name["web"].pods == 2 and by_name["web"].nodes == 2  # merged over replicas and nodes

    deployment = kube.deployments[(NS, "web")]
    settings = {i.name: i.seccomp for i in wl.containers(deployment)}
    assert settings == {
        n: wl.localhost(applied_path(NS, "web", n, (tmp_path / NS / f"web-{n}.json").read_text()))
        for n in ("web", "sidecar", "setup")
    }
    assert settings["web"]["localhostProfile"].startswith(f"kubectl-seccomp/{NS}/web-web-")  # named by content
    assert wl.RECORDING_ANNOTATION not in deployment["metadata"]["annotations"]
    assert wl.read_originals(deployment) == wl.Originals(None, {"web": None, "sidecar": None}, {"setup": None})
    # node work: log profile installed, followers, profiles installed, log profile removed
    scripts = [" ".join(cmd) for _node, cmd in kube.node_commands]
    follow = [s for s in scripts if " follow " in s]
    assert len(follow) == 2  # one agent per node; it installs and removes the log profile itself
    assert all("install --root /host-seccomp kubectl-seccomp/shop/web-log.json" in s for s in follow)
    assert all("remove --root /host-seccomp kubectl-seccomp/shop/web-log.json" in s for s in follow)
    assert not any(" follow " not in s and "web-log.json" in s for s in scripts)  # no extra pods for it
    # the recorded profiles were handed to the agents, no install pod started
    assert sorted(node for node, _request in kube.handovers) == ["node-a", "node-b"]
    assert all(
        set(request["install"]) == {settings[n]["localhostProfile"] for n in ("web", "sidecar", "setup")}
        for _node, request in kube.handovers
    )
    assert [s for s in scripts if " follow " not in s] == []
    assert not [k for k in kube.pods if k[0] == "kubectl-seccomp"]
    assert not kube.configmaps


def test_what_the_pods_do_when_stopped_is_recorded(kube: FakeKube, tmp_path: Path) -> None:
    # nginx's master setitimer()s and wait4()s for its workers on SIGTERM: only when the pod stops.
    kube.add_deployment(NS, web_deployment(replicas=2))
    emit_on_log_rollout(kube, {"web": ["read", "accept4"]})
    stopped: list[str] = []

    def on_delete(pod: dict[str, Any]) -> None:
        if pod["metadata"].get("ownerName") == "web" and "-log.json" in json.dumps(kube.deployments[(NS, "web")]):
            stopped.append(pod["metadata"]["name"])
            cid = container_id(pod["metadata"]["name"], "web")
            for name in ("setitimer", "wait4"):
                kube.emit(pod["spec"]["nodeName"], syscall_line(cid, name))

    kube.on_delete_pod = on_delete
    reporter = Reporter()
    Recorder(kube, options(tmp_path, apply=False), reporter, agent=b"PK").run()

    # one traced pod was stopped while the agents still traced; the other served on
    assert stopped == ["web-3b24ef94-1"]
    assert any(p.startswith("recording the shutdown: stopping pod web-3b24ef94-1") for p in reporter.phases)
    web = json.loads((tmp_path / NS / "web-web.json").read_text())
    assert {"read", "accept4", "setitimer", "wait4"} <= set(web["syscalls"][0]["names"])


def test_calls_read_before_the_kubelet_reports_the_container_show_while_tracing(kube: FakeKube, tmp_path: Path) -> None:
    # runc's init makes a container's first calls before its ID is in the pod's status, and a
    # quiet container makes no more: its calls must still reach the live view, not only the end.
    kube.add_deployment(NS, web_deployment(replicas=1))
    emit_on_log_rollout(kube, {"web": ["read", "accept4"]})
    emitting = kube.on_patch
    hidden: dict[str, str] = {}
    shown: list[float] = []

    def on_patch(deployment: dict[str, Any]) -> None:
        assert emitting is not None
        emitting(deployment)
        if "-log.json" not in json.dumps(deployment["spec"]["template"]):
            return
        for pod in kube.template_pods(NS, "web"):
            for entry in pod["status"]["containerStatuses"]:
                hidden[pod["metadata"]["name"]] = entry.pop("containerID")

    class Watching(Reporter):
        def __init__(self) -> None:
            super().__init__()
            self.views: list[TraceView] = []

        def trace(self, view: TraceView) -> None:
            self.views.append(view)
            if view.elapsed >= 0.5 and hidden:  # the kubelet reports the IDs now
                for pod in kube.template_pods(NS, "web"):
                    for entry in pod["status"]["containerStatuses"]:
                        entry["containerID"] = hidden[pod["metadata"]["name"]]
                hidden.clear()
                shown.append(view.elapsed)

    kube.on_patch = on_patch
    reporter = Watching()
    Recorder(kube, options(tmp_path, apply=False, duration=3.5), reporter, agent=b"PK").run()
    assert shown  # the IDs were hidden while tracing began, then shown
    assert reporter.views[0].syscalls == 0
    assert reporter.views[-1].syscalls >= 2, reporter.views[-1]


def note_order(kube: FakeKube, order: list[str], *, looks_without_containers: int) -> None:
    """Note in ``order`` when the agents stop and when the pods move; the traced pod's replacement
    shows no container for its first ``looks_without_containers`` listings."""
    emitting = kube.on_patch  # emit_on_log_rollout's
    kube.replace_deleted = False
    pending: list[dict[str, Any]] = []
    list_pods = kube.list_pods

    def on_patch(deployment: dict[str, Any]) -> None:
        if emitting is not None:
            emitting(deployment)
        if f"kubectl-seccomp/{NS}/web-web-" in json.dumps(deployment["spec"]["template"]):
            order.append("patched onto the recorded profile")

    def on_delete(pod: dict[str, Any]) -> None:
        if pod["metadata"]["namespace"] == "kubectl-seccomp" and "follow" in pod["metadata"]["name"]:
            order.append("agent stopped")
        elif pod["metadata"].get("ownerName") == "web" and not pending:
            order.append("traced pod stopped")
            replacement = copy.deepcopy(pod)
            replacement["metadata"].update(name="web-replacement", uid="uid-web-replacement")
            for entry in replacement["status"]["containerStatuses"]:
                del entry["containerID"]
            kube.pods[(NS, "web-replacement")] = replacement
            pending.append(replacement)

    def listing(namespace: Optional[str], label_selector: str = "", field_selector: str = "") -> list[Any]:
        if (
            pending
            and looks_without_containers == sum(1 for entry in order if entry == "listed")
            and (NS, "web-replacement") in kube.pods
        ):
            for entry in kube.pods[(NS, "web-replacement")]["status"]["containerStatuses"]:
                entry["containerID"] = "containerd://" + "ab" * 32
            order.append("replacement has its containers")
        if pending:
            order.append("listed")
        return list_pods(namespace, label_selector, field_selector)

    kube.on_patch, kube.on_delete_pod = on_patch, on_delete
    kube.list_pods = listing  # type: ignore[method-assign]


@pytest.mark.parametrize("apply", [True, False])
def test_the_replacement_starts_before_the_log_profile_goes(kube: FakeKube, tmp_path: Path, apply: bool) -> None:
    # The pod that replaces the one stopped for the shutdown starts on the log profile: the agents,
    # which remove it, stop only once the replacement's containers (and filters) exist.
    kube.add_deployment(NS, web_deployment(replicas=2))
    emit_on_log_rollout(kube, {"web": ["read", "accept4"]})
    order: list[str] = []
    note_order(kube, order, looks_without_containers=3)
    Recorder(kube, options(tmp_path, apply=apply), Reporter(), agent=b"PK").run()

    stopped = order.index("traced pod stopped")
    created = order.index("replacement has its containers")
    first_agent = order.index("agent stopped")
    assert stopped < created < first_agent, order
    if apply:
        assert first_agent < order.index("patched onto the recorded profile"), order


class RacedRecorder(Recorder):
    """Between reading the Deployment and locking it, ``race`` changes it once on the 'server'."""

    race: Callable[[dict[str, Any]], None]

    def lock(self, owner: dict[str, Any]) -> None:
        assert isinstance(self.api, FakeKube)
        stored = self.api.deployments[(NS, "web")]
        self.race(stored)
        stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1000)
        super().lock(owner)


def test_a_status_change_right_before_the_lock_is_retried(kube: FakeKube, tmp_path: Path) -> None:
    # e.g. the controller's status update right after a rollout: only the resourceVersion moved
    kube.add_deployment(NS, web_deployment())
    emit_on_log_rollout(kube, {"web": ["read"]})
    recorder = RacedRecorder(kube, options(tmp_path), Reporter(), agent=b"PK")
    recorder.race = lambda deployment: deployment.setdefault("status", {}).update(observedGeneration=7)
    result = recorder.run()
    assert result.applied is not None


def test_a_recording_that_locked_first_is_not_overwritten(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add_deployment(NS, web_deployment())
    other = json.dumps({"run": "other", "since": "now", "host": "h", "pid": 1})

    def take_lock(deployment: dict[str, Any]) -> None:
        deployment["metadata"].setdefault("annotations", {})[wl.RECORDING_ANNOTATION] = other

    recorder = RacedRecorder(kube, options(tmp_path), Reporter(), agent=b"PK")
    recorder.race = take_lock
    with pytest.raises(UsageError, match="already running"):
        recorder.run()
    deployment = kube.deployments[(NS, "web")]
    assert deployment["metadata"]["annotations"][wl.RECORDING_ANNOTATION] == other
    assert deployment["spec"]["template"] == original["spec"]["template"]


def test_no_apply_puts_everything_back(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add_deployment(NS, web_deployment())
    emit_on_log_rollout(kube, {"web": ["read"]})
    result = Recorder(kube, options(tmp_path, apply=False), Reporter(), agent=b"PK").run()
    assert result.applied is None
    deployment = kube.deployments[(NS, "web")]
    assert deployment["spec"]["template"] == original["spec"]["template"]
    assert wl.ORIGINAL_ANNOTATION not in deployment["metadata"]["annotations"]
    assert wl.RECORDING_ANNOTATION not in deployment["metadata"]["annotations"]


def assert_interrupted_run_left_nothing(kube: FakeKube, original: dict[str, Any]) -> None:
    """The Deployment back on its template, without our annotations; no pod of ours left."""
    deployment = kube.deployments[(NS, "web")]
    assert deployment["spec"]["template"] == original["spec"]["template"]
    assert set(deployment["metadata"]["annotations"]) == {"deployment.kubernetes.io/revision"}
    assert not [k for k in kube.pods if k[0] == "kubectl-seccomp"]


def test_interrupt_during_rollout_restores_the_deployment(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add_deployment(NS, web_deployment())

    def interrupt(deployment: dict[str, Any]) -> None:
        if any((i.seccomp or {}).get("localhostProfile", "").endswith("-log.json") for i in wl.containers(deployment)):
            kube.on_patch = None
            raise KeyboardInterrupt

    kube.on_patch = interrupt
    with pytest.raises(KeyboardInterrupt):
        Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()
    assert_interrupted_run_left_nothing(kube, original)


def test_failed_apply_rolls_back_with_evidence(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add_deployment(NS, web_deployment(replicas=1))
    emit_on_log_rollout(kube, {"web": ["read"]})
    kube.break_rollout = lambda d: any(
        "/web-web-" in (i.seccomp or {}).get("localhostProfile", "") for i in wl.containers(d)
    )
    with pytest.raises(RolloutFailed) as caught:
        Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()
    assert "rolled back" in caught.value.message
    assert any("CreateContainerError" in line for line in caught.value.evidence)
    assert any("seccomp says no" in line for line in caught.value.evidence)
    deployment = kube.deployments[(NS, "web")]
    assert deployment["spec"]["template"] == original["spec"]["template"]
    assert wl.ORIGINAL_ANNOTATION not in deployment["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["spec"].update(paused=True), "is paused"),
        (lambda d: d["spec"].update(replicas=0), "0 replicas"),
        (
            lambda d: d["metadata"].setdefault("annotations", {}).update({wl.RECORDING_ANNOTATION: '{"since": "x"}'}),
            "already running",
        ),
    ],
)
def test_refusals_change_nothing(kube: FakeKube, tmp_path: Path, change: Any, message: str) -> None:
    manifest = web_deployment()
    change(manifest)
    kube.add_deployment(NS, manifest)
    before = json.dumps(kube.deployments[(NS, "web")], sort_keys=True)
    with pytest.raises(UsageError, match=message):
        Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()
    assert json.dumps(kube.deployments[(NS, "web")], sort_keys=True) == before
    assert not kube.node_commands


def apply_read_only_profile(kube: FakeKube, tmp_path: Path) -> ApplyResult:
    """Apply a profile that allows only read(2) to deploy/web."""
    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
            }
        )
    )
    return apply(kube, ApplyOptions(NS, "web", str(profile), node=NodeSettings(pod_timeout=5), timeout=5), Reporter())


def test_apply_then_rollback_returns_to_the_original(kube: FakeKube, tmp_path: Path) -> None:
    manifest = web_deployment(replicas=1)
    manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {
        "seccompProfile": {"type": "RuntimeDefault"}
    }
    original = kube.add_deployment(NS, manifest)
    result = apply_read_only_profile(kube, tmp_path)
    assert result.profiles["web"].startswith(f"kubectl-seccomp/{NS}/web-web-")
    assert wl.containers(kube.deployments[(NS, "web")])[0].seccomp == wl.localhost(result.profiles["web"])
    rollback(kube, namespace=NS, name="web", timeout=5, reporter=Reporter())
    deployment = kube.deployments[(NS, "web")]
    assert deployment["spec"]["template"] == original["spec"]["template"]
    assert wl.ORIGINAL_ANNOTATION not in deployment["metadata"]["annotations"]


def test_runc_init_calls_reach_every_container(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1, extra_containers=("sidecar",)))

    def on_patch(deployment: dict[str, Any]) -> None:
        if not any(
            (i.seccomp or {}).get("localhostProfile", "").endswith("-log.json") for i in wl.containers(deployment)
        ):
            return
        pod = kube.template_pods(NS, "web")[0]
        node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
        runc = json.dumps(
            {
                "event": "syscall",
                "container": container_id(name, "web"),
                "arch": "x86_64",
                "name": "capset",
                "action": "LOG",
                "pid": 1,
                "comm": "runc:[2:INIT]",
            }
        )
        kube.emit(node, runc)
        kube.emit(node, syscall_line(container_id(name, "sidecar"), "nanosleep"))

    kube.on_patch = on_patch
    Recorder(kube, options(tmp_path, apply=False), Reporter(), agent=b"PK").run()
    sidecar = set(json.loads((tmp_path / NS / "web-sidecar.json").read_text())["syscalls"][0]["names"])
    assert "capset" in sidecar  # seen in runc's init of the other container
    assert {"futex", "sched_yield", "tgkill"} <= sidecar  # the Go runtime's background calls


def test_record_after_apply_returns_to_the_applied_profile_and_keeps_the_original(
    kube: FakeKube, tmp_path: Path
) -> None:
    original = kube.add_deployment(NS, web_deployment(replicas=1))
    apply_read_only_profile(kube, tmp_path)
    applied = kube.deployments[(NS, "web")]["spec"]["template"]
    emit_on_log_rollout(kube, {"web": ["read", "write"]})
    Recorder(kube, options(tmp_path, apply=False), Reporter(), agent=b"PK").run()
    deployment = kube.deployments[(NS, "web")]
    assert deployment["spec"]["template"] == applied  # back where this run found it
    assert wl.read_originals(deployment) == wl.current_originals(original)  # the pre-plugin settings stay
    rollback(kube, namespace=NS, name="web", timeout=5, reporter=Reporter())
    assert kube.deployments[(NS, "web")]["spec"]["template"] == original["spec"]["template"]


def test_a_node_whose_agent_does_not_take_the_profiles_gets_an_install_pod(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=2))
    emit_on_log_rollout(kube, {"web": ["read"]})
    answers = kube.handover_answer

    def answer(node: str, request: dict[str, Any]) -> Optional[dict[str, Any]]:
        if node == "node-b":
            return None  # e.g. the kubelet never updated the file
        good = answers(node, request)
        assert good is not None
        return {**good, "files": {path: "0" * 64 for path in good["files"]}}  # not what was sent

    kube.handover_answer = answer
    reporter = Reporter()
    recorder = Recorder(kube, options(tmp_path), reporter, agent=b"PK")
    recorder.handover_timeout = 0.5
    result = recorder.run()

    assert result.applied is not None
    path = result.applied.profiles["web"]
    installs = [(node, " ".join(cmd)) for node, cmd in kube.node_commands if " follow " not in " ".join(cmd)]
    assert sorted(node for node, _script in installs) == ["node-a", "node-b"]
    assert all(f"install --root /host-seccomp {path}" in script for _node, script in installs)
    assert any("node-a: the agent wrote other files than were sent" in w for w in reporter.warnings)
    assert any("node-b: agent" in w and "did not answer" in w for w in reporter.warnings)


def test_calls_read_before_the_agents_answer_are_handed_over_again(kube: FakeKube, tmp_path: Path) -> None:
    # An agent's answer comes after every event it printed before it: a call among them is recorded,
    # the profile handed over again and the first file removed.
    kube.add_deployment(NS, web_deployment(replicas=1))
    emit_on_log_rollout(kube, {"web": ["read"]})
    answers = kube.handover_answer

    def answer(node: str, request: dict[str, Any]) -> Optional[dict[str, Any]]:
        if len(kube.handovers) == 1:
            pod = next(p for p in kube.template_pods(NS, "web") if p["spec"]["nodeName"] == node)
            kube.emit(node, syscall_line(container_id(pod["metadata"]["name"], "web"), "fsync"))
        return answers(node, request)

    kube.handover_answer = answer
    result = Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()

    assert result.applied is not None
    final = result.applied.profiles["web"]
    web = json.loads((tmp_path / NS / "web-web.json").read_text())
    assert {"read", "fsync"} <= set(web["syscalls"][0]["names"])
    assert final == applied_path(NS, "web", "web", (tmp_path / NS / "web-web.json").read_text())
    first, second = (request for _node, request in kube.handovers)
    assert set(second["install"]) == {final} and set(first["install"]) != {final}
    assert second["remove"] == sorted(first["install"])


def test_interrupt_while_the_agents_take_the_profiles_restores_the_deployment(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add_deployment(NS, web_deployment(replicas=2))
    emit_on_log_rollout(kube, {"web": ["read"]})

    def interrupt(node: str, request: dict[str, Any]) -> Optional[dict[str, Any]]:
        raise KeyboardInterrupt  # Ctrl-C while the first agent is asked

    kube.handover_answer = interrupt
    with pytest.raises(KeyboardInterrupt):
        Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()
    assert_interrupted_run_left_nothing(kube, original)
    assert not kube.configmaps
