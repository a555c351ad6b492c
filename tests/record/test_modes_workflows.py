"""Complain mode, watch and record --base against the in-memory cluster (tests/kube/fake.py).

The same behaviours are proven on the real cluster in tests/e2e/test_complain_watch.py and
tests/e2e/test_record_base.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.profile import Profile
from kubectl_seccomp.watching import WatchRow, WatchState
from kubectl_seccomp.workflows.apply import ApplyOptions, apply
from kubectl_seccomp.workflows.record import Recorder
from kubectl_seccomp.workflows.watch import WatchOptions, watch
from tests.kube.fake import FakeKube, container_id, web_deployment
from tests.record.test_workflow import NS, Reporter, emit_on_log_rollout, options, start_line

RECORDED = Profile.from_observations([("x86_64", "read"), ("x86_64", "accept4")])


class WatchReporter(Reporter):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[WatchRow] = []

    def calls(self, row: WatchRow) -> None:
        self.rows.append(row)

    def tick(self, state: WatchState, elapsed: float) -> None:
        pass

    def watch_done(self, state: WatchState) -> None:
        pass


@pytest.fixture
def kube() -> FakeKube:
    kube = FakeKube()
    kube.follower_lines = {"node-a": [start_line("node-a")], "node-b": [start_line("node-b")]}
    return kube


def apply_mode(kube: FakeKube, tmp_path: Path, mode: str, **kwargs: Any) -> str:
    path = tmp_path / "p.json"
    path.write_text(RECORDED.to_json())
    result = apply(
        kube,
        ApplyOptions(NS, "web", str(path), node=NodeSettings(pod_timeout=5), timeout=5, mode=mode, **kwargs),
        Reporter(),
    )
    return result.profiles["web"]


def installed_texts(kube: FakeKube) -> list[str]:
    return [" ".join(cmd) for _node, cmd in kube.node_commands if " install " in " ".join(cmd)]


def agent_says_calls(kube: FakeKube, pod: dict[str, Any], *, comm: str, exe: str, count: int) -> None:
    """The watch agent on ``pod``'s node reports ``count`` getpriority calls of its web container."""
    line = json.dumps({"event": "calls", "container": container_id(pod["metadata"]["name"], "web"),
                       "arch": "x86_64", "name": "getpriority", "number": 140, "action": "LOG", "comm": comm,
                       "exe": exe, "pid": 5, "count": count, "first": 1.0, "last": float(count)})  # fmt: skip
    node = pod["spec"]["nodeName"]
    kube.follower_lines[node] = [*kube.follower_lines[node], line]


def test_apply_complain_then_enforce(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    complain = apply_mode(kube, tmp_path, "complain")
    assert complain.endswith("-complain.json")
    assert wl.containers(kube.deployments[(NS, "web")])[0].seccomp == wl.localhost(complain)
    enforce = apply_mode(kube, tmp_path, "enforce")
    assert not enforce.endswith("-complain.json") and enforce != complain
    assert wl.containers(kube.deployments[(NS, "web")])[0].seccomp == wl.localhost(enforce)


def test_watch_streams_rows_and_leaves_nothing(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    apply_mode(kube, tmp_path, "complain")
    pod = kube.template_pods(NS, "web")[0]
    agent_says_calls(kube, pod, comm="python3", exe="/usr/bin/python3.11", count=2)
    reporter = WatchReporter()
    result = watch(kube, WatchOptions(NS, "web", duration=0.5, settle=0.05, node=NodeSettings(pod_timeout=5)), reporter)
    assert [(r.pod, r.container, r.comm, r.syscall, r.count) for r in result.rows] == [
        (pod["metadata"]["name"], "web", "python3", "getpriority", 2)
    ]
    assert reporter.rows and result.modes == {"web": "complain"}
    assert result.calls == {"web": {("x86_64", "getpriority")}}
    follow = [" ".join(cmd) for _n, cmd in kube.node_commands if " follow " in " ".join(cmd)]
    assert follow and all("--tally" in s and "install" not in s for s in follow)
    assert not [k for k in kube.pods if k[0] == "kubectl-seccomp"]
    assert not kube.configmaps


def test_watch_shows_calls_read_before_the_kubelet_reported_the_container(kube: FakeKube, tmp_path: Path) -> None:
    # A new pod's first calls (runc's init) come before its container ID is in the pod's status,
    # and a quiet container makes no more: the pods are listed again until the ID is known.
    kube.add_deployment(NS, web_deployment(replicas=1))
    apply_mode(kube, tmp_path, "complain")
    pod = kube.template_pods(NS, "web")[0]
    agent_says_calls(kube, pod, comm="runc:[2:INIT]", exe="/usr/bin/runc", count=1)
    (status,) = pod["status"]["containerStatuses"]
    reported = status.pop("containerID")

    class Late(WatchReporter):
        def tick(self, state: WatchState, elapsed: float) -> None:
            if elapsed >= 0.5:  # the kubelet reports the ID now
                status["containerID"] = reported

    reporter = Late()
    result = watch(kube, WatchOptions(NS, "web", duration=3.0, settle=0.05, node=NodeSettings(pod_timeout=5)), reporter)
    assert [(r.container, r.syscall) for r in reporter.rows] == [("web", "getpriority")]
    assert [(r.container, r.syscall) for r in result.rows] == [("web", "getpriority")] and result.foreign == 0


def test_watch_refuses_a_workload_without_our_profile(kube: FakeKube) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    with pytest.raises(UsageError, match="nothing to watch"):
        watch(kube, WatchOptions(NS, "web", duration=0.2, node=NodeSettings(pod_timeout=5)), WatchReporter())
    assert not [c for c in kube.node_commands if "follow" in " ".join(c[1])]


def test_watch_says_enforce_without_the_log_flag_is_blind(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    apply_mode(kube, tmp_path, "enforce")
    kube.node_output = lambda pod: ("Succeeded", RECORDED.to_json())  # the read pod's output
    reporter = WatchReporter()
    watch(kube, WatchOptions(NS, "web", duration=0.2, settle=0.05, node=NodeSettings(pod_timeout=5)), reporter)
    assert any("without SECCOMP_FILTER_FLAG_LOG" in w for w in reporter.warnings)
    reporter = WatchReporter()
    kube.node_output = lambda pod: ("Succeeded", RECORDED.in_mode("enforce", log_denials=True).to_json())
    watch(kube, WatchOptions(NS, "web", duration=0.2, settle=0.05, node=NodeSettings(pod_timeout=5)), reporter)
    assert not any("SECCOMP_FILTER_FLAG_LOG" in w for w in reporter.warnings)


def test_record_base_runs_under_the_base_in_complain_mode(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    emit_on_log_rollout(kube, {"web": ["getpriority"]})  # the only call the base does not allow
    payloads: list[str] = []
    create = kube.create_configmap

    def spy(namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        payloads.extend((body.get("data") or {}).values())
        return create(namespace, body)

    kube.create_configmap = spy  # type: ignore[method-assign]
    result = Recorder(kube, options(tmp_path, base=RECORDED, apply=False), Reporter(), agent=b"PK").run()
    (web,) = result.containers
    assert web.profile is not None
    assert web.profile.allowed_syscalls == RECORDED.allowed_syscalls | {
        "getpriority", "rt_sigreturn", "exit", "exit_group"
    }  # fmt: skip
    assert web.profile.default_action == "SCMP_ACT_ERRNO"
    log_profiles = [json.loads(text) for text in payloads if "SCMP_ACT_LOG" in text]
    assert log_profiles and all(set(p["syscalls"][0]["names"]) == {"read", "accept4"} for p in log_profiles)


def test_watch_leaves_out_pods_still_on_the_log_profile(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    apply_mode(kube, tmp_path, "complain")
    (pod,) = kube.template_pods(NS, "web")
    leftover = json.loads(json.dumps(pod))
    leftover["metadata"]["name"] = "web-old"
    log = wl.localhost(f"kubectl-seccomp/{NS}/web-log.json")  # the recording's pod, still terminating
    leftover["spec"]["containers"] = [{"name": "web", "image": "x", "securityContext": {"seccompProfile": log}}]
    for entry in leftover["status"]["containerStatuses"]:
        entry["containerID"] = "containerd://" + container_id("web-old", entry["name"])
    kube.pods[(NS, "web-old")] = leftover
    line = json.dumps({"event": "calls", "container": container_id("web-old", "web"), "arch": "x86_64",
                       "name": "accept4", "number": 288, "action": "LOG", "comm": "python3", "exe": "/x",
                       "pid": 5, "count": 1, "first": 1.0, "last": 1.0})  # fmt: skip
    node = pod["spec"]["nodeName"]
    kube.follower_lines[node] = [*kube.follower_lines[node], line]
    reporter = WatchReporter()
    result = watch(kube, WatchOptions(NS, "web", duration=0.5, settle=0.05, node=NodeSettings(pod_timeout=5)), reporter)
    assert result.rows == () and result.foreign == 1
    assert any("still run under the recording's log profile" in w for w in reporter.warnings)
