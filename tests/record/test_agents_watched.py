"""Agents are watched while they trace (kubectl_seccomp.workflows._agents), against the
in-memory cluster: an agent pod that dies is replaced and the gap makes the recording
partial; a log stream that breaks while the pod runs is followed again, nothing lost.
The same faults on the real cluster: tests/e2e/test_faults.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.trace import TraceView
from kubectl_seccomp.workflows.record import Recorder, RecordResult
from tests.kube.fake import FakeKube, web_deployment
from tests.record.test_workflow import NS, Reporter, emit_on_log_rollout, kube, options, start_line

__all__ = ["kube"]


class FaultReporter(Reporter):
    """Runs ``fault`` once, at the third refresh of the live view."""

    def __init__(self, fault: Callable[[], None]) -> None:
        super().__init__()
        self.fault = fault
        self.views: list[TraceView] = []

    def trace(self, view: TraceView) -> None:
        self.views.append(view)
        if len(self.views) == 3:
            self.fault()


def agent_pod(kube: FakeKube, node: str) -> str:
    return next(
        name for (ns, name), pod in kube.pods.items() if ns == "kubectl-seccomp" and pod["spec"]["nodeName"] == node
    )


def record(
    kube: FakeKube, tmp_path: Path, fault: Callable[[], None], **kwargs: Any
) -> tuple[RecordResult, FaultReporter]:
    kube.add_deployment(NS, web_deployment(replicas=2))
    emit_on_log_rollout(kube, {"web": ["read", "accept4"]})
    reporter = FaultReporter(fault)
    result = Recorder(kube, options(tmp_path, duration=3.0, **kwargs), reporter, agent=b"PK").run()
    return result, reporter


def kill_agent(kube: FakeKube, node: str) -> Callable[[], None]:
    def fault() -> None:
        kube.delete_pod("kubectl-seccomp", agent_pod(kube, node), grace_seconds=0)

    return fault


def test_a_deleted_agent_is_replaced_and_the_recording_is_partial(kube: FakeKube, tmp_path: Path) -> None:
    result, reporter = record(kube, tmp_path, kill_agent(kube, "node-b"))

    assert result.partial
    coverage = {n.node: n for n in result.nodes}
    assert coverage["node-a"].gap == 0 and coverage["node-a"].agents == 1
    assert coverage["node-b"].gap > 0 and coverage["node-b"].agents == 2
    assert coverage["node-b"].traced + coverage["node-b"].gap == coverage["node-a"].traced
    assert any(w.startswith("node-b: lost the agent's log stream") for w in reporter.warnings)
    assert any(
        w.startswith("node-b: agent kubectl-seccomp-follow-") and "starting a new one" in w for w in reporter.warnings
    )
    assert any(w.startswith("node-b: new agent kubectl-seccomp-follow2-") for w in reporter.warnings)
    assert any(v.agents_down == ("node-b",) for v in reporter.views)  # the live view said so
    assert any("not applied" in w and "--allow-partial" in w for w in reporter.warnings)
    # written, marked partial, not applied: the Deployment is back on its own settings
    assert json.loads((tmp_path / NS / "web-web.partial.json").read_text())["syscalls"]
    assert not (tmp_path / NS / "web-web.json").exists()
    assert result.applied is None
    deployment = kube.deployments[(NS, "web")]
    assert deployment["spec"]["template"] == web_deployment(replicas=2)["spec"]["template"]
    assert wl.RECORDING_ANNOTATION not in deployment["metadata"]["annotations"]
    # the replacement installed the log profile again; every agent pod and the ConfigMap are gone
    follow = [" ".join(cmd) for node, cmd in kube.node_commands if node == "node-b" and "follow" in " ".join(cmd)]
    assert len(follow) == 2 and all("install --root /host-seccomp" in s for s in follow)
    assert not [k for k in kube.pods if k[0] == "kubectl-seccomp"]
    assert not kube.configmaps


def test_allow_partial_writes_and_applies_and_still_reports_the_gap(kube: FakeKube, tmp_path: Path) -> None:
    result, _ = record(kube, tmp_path, kill_agent(kube, "node-a"), allow_partial=True)
    assert not result.partial and result.gaps
    assert result.applied is not None and "web" in result.applied.profiles
    assert (tmp_path / NS / "web-web.json").exists()
    assert not (tmp_path / NS / "web-web.partial.json").exists()


def test_a_broken_stream_of_a_running_agent_is_followed_again_without_a_gap(kube: FakeKube, tmp_path: Path) -> None:
    def break_stream() -> None:  # a kubelet or API server restart: the pod runs on, its log is whole
        stream = kube._streams[agent_pod(kube, "node-a")]
        stream.put(None)
        stream.put(start_line("node-a"))  # what a new follow reads first: the log from its start

    result, reporter = record(kube, tmp_path, break_stream)
    assert not result.partial and not result.gaps
    assert any(w.startswith("node-a: lost the agent's log stream") for w in reporter.warnings)
    assert any(w.startswith("node-a: following agent") and "nothing was missed" in w for w in reporter.warnings)
    assert result.applied is not None
    assert {n.agents for n in result.nodes} == {1}


def test_a_node_that_goes_not_ready_is_said_and_counted_as_a_gap(kube: FakeKube, tmp_path: Path) -> None:
    def node_down() -> None:  # the kubelet is gone: the stream breaks, the API still shows the pod
        for node in kube.nodes:
            if node["metadata"]["name"] == "node-b":
                node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        kube._streams[agent_pod(kube, "node-b")].put(None)

    result, reporter = record(kube, tmp_path, node_down, apply=False)
    assert any(w == "node-b: node is NotReady; not traced until it is back" for w in reporter.warnings)
    assert not any("starting a new one" in w for w in reporter.warnings)  # nothing to start it on
    coverage = {n.node: n for n in result.nodes}
    assert coverage["node-b"].gap > 0 and coverage["node-b"].agents == 1 and coverage["node-a"].gap == 0
    assert result.partial and (tmp_path / NS / "web-web.partial.json").exists()


def test_agent_state_tells_an_ended_container_from_a_running_pod(kube: FakeKube) -> None:
    from kubectl_seccomp.kube import nodes as node_ops
    from kubectl_seccomp.kube.nodes import NodeSettings

    settings = NodeSettings()
    pod = {"metadata": {"name": "agent"}, "spec": {"nodeName": "node-a", "containers": [{"command": ["x"]}]}}
    kube.pods[(settings.namespace, "agent")] = {
        **pod,
        "status": {"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]},
    }
    assert node_ops.agent_state(kube, settings, "agent") == "Running"
    kube.pods[(settings.namespace, "agent")]["status"]["containerStatuses"] = [{"state": {"terminated": {}}}]
    assert node_ops.agent_state(kube, settings, "agent") == "Terminated"  # the phase lags behind
    kube.pods[(settings.namespace, "agent")]["metadata"]["deletionTimestamp"] = "now"
    assert node_ops.agent_state(kube, settings, "agent") == "Terminating"
    del kube.pods[(settings.namespace, "agent")]
    assert node_ops.agent_state(kube, settings, "agent") == "gone"
