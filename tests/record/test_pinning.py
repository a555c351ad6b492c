"""record's pin (workflows/_pin.py) on the in-memory cluster with three nodes: a recording starts an
agent only on the nodes it needs, keeps its rollout onto the log profile there, and leaves the pod
template and the node labels as they were, also when it fails or is interrupted half-way.

The same is measured on the real cluster by tests/e2e/test_node_guard.py (a 1-replica Deployment
recorded with a third node added: 1 agent, not 3).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable

import pytest

from kubectl_seccomp.kube import guard
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.errors import RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.targets import JOB
from kubectl_seccomp.workflows._common import log_path
from kubectl_seccomp.workflows.cleanup import cleanup
from kubectl_seccomp.workflows.record import Recorder
from kubectl_seccomp.workflows.rollback import rollback
from tests.kube.fake import FakeKube, web_deployment
from tests.record.test_kinds import emit_when_on_log, manifest
from tests.record.test_workflow import NS, Reporter, emit_on_log_rollout, options, start_line

NODES = ("node-a", "node-b", "node-c")
KEY = guard.label_key(log_path(NS, "web"))
ANTI_AFFINITY = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
        ]
    }
}
Seen = list[tuple[bool, bool, set[str]]]


@pytest.fixture
def kube() -> FakeKube:
    kube = FakeKube(nodes=NODES)
    kube.follower_lines = {node: [start_line(node)] for node in NODES}
    return kube


def on_log(owner: dict[str, Any]) -> bool:
    return any((i.seccomp or {}).get("localhostProfile", "").endswith("-log.json") for i in wl.containers(owner))


def labelled(kube: FakeKube, key: str = KEY) -> set[str]:
    """The nodes carrying the label ``key`` now."""
    nodes: list[dict[str, Any]] = kube.nodes
    return {n["metadata"]["name"] for n in nodes if key in (n["metadata"].get("labels") or {})}


def agents(kube: FakeKube) -> list[str]:
    """The nodes an agent (follow) pod was started on."""
    return sorted(node for node, command in kube.node_commands if " follow " in " ".join(command))


def watch(kube: FakeKube) -> Seen:
    """After each patch of deploy/web: (on the log profile, requires the log label, nodes labelled);
    its pods make a syscall on the log profile."""
    emit_on_log_rollout(kube, {"web": ["read"]})
    emit = kube.on_patch
    assert emit is not None
    seen: Seen = []

    def on_patch(deployment: dict[str, Any]) -> None:
        seen.append((on_log(deployment), KEY in guard.guard_keys(deployment), labelled(kube)))
        emit(deployment)

    kube.on_patch = on_patch
    return seen


def test_one_replica_on_three_nodes_starts_one_agent_and_pins_the_rollout(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    seen = watch(kube)
    reporter = Reporter()
    result = Recorder(kube, options(tmp_path), reporter, agent=b"PK").run()

    assert agents(kube) == ["node-a"]  # the node of its pod, not all three
    assert (len(result.nodes), result.nodes_eligible) == (1, 3)
    assert any(p.endswith("node agent on 1 of 3 node(s) (those running the pods)") for p in reporter.phases)
    assert (True, True, {"node-a"}) in seen  # the rollout onto the log profile required the label of node-a
    assert all(pinned == logging for logging, pinned, _ in seen)  # and only that rollout
    # the apply that ended it requires its own file's label only, on every eligible node
    deployment = kube.deployments[(NS, "web")]
    assert result.applied is not None
    applied_key = guard.label_key(result.applied.profiles["web"])
    assert guard.guard_keys(deployment) == [applied_key]
    assert labelled(kube, applied_key) == set(NODES)
    assert not labelled(kube)


def test_a_spread_that_cannot_share_a_node_gets_a_spare(kube: FakeKube, tmp_path: Path) -> None:
    manifest = web_deployment(replicas=1)
    manifest["spec"]["template"]["spec"]["affinity"] = ANTI_AFFINITY
    original = kube.add_deployment(NS, manifest)
    seen = watch(kube)
    reporter = Reporter()
    Recorder(kube, options(tmp_path, apply=False), reporter, agent=b"PK").run()

    assert agents(kube) == ["node-a", "node-b"]
    assert any("2 of 3 node(s) (those running the pods, and a spare" in p for p in reporter.phases)
    assert (True, True, {"node-a", "node-b"}) in seen
    # --no-apply: back on its own settings and affinity, no label left
    assert kube.deployments[(NS, "web")]["spec"]["template"] == original["spec"]["template"]
    assert not labelled(kube)


@pytest.mark.parametrize("flags", [{"all_nodes": True}, {"node_guard": False}], ids=["all-nodes", "no-node-guard"])
def test_all_nodes_and_no_node_guard_start_an_agent_on_every_node_and_pin_nothing(
    kube: FakeKube, tmp_path: Path, flags: dict[str, bool]
) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))
    seen = watch(kube)
    reporter = Reporter()
    Recorder(kube, options(tmp_path, **flags), reporter, agent=b"PK").run()

    assert agents(kube) == list(NODES)
    assert any(p.endswith("node agent on 3 node(s)") for p in reporter.phases)
    assert any(logging for logging, _, _ in seen)
    assert not any(pinned or nodes for _, pinned, nodes in seen)


def fail_the_log_rollout(kube: FakeKube) -> None:
    kube.break_rollout = on_log


def fail_the_apply(kube: FakeKube) -> None:
    kube.break_rollout = lambda d: any(
        "/web-web-" in (i.seccomp or {}).get("localhostProfile", "") for i in wl.containers(d)
    )


def interrupt_the_log_rollout(kube: FakeKube) -> None:
    inner = kube.on_patch
    assert inner is not None

    def on_patch(deployment: dict[str, Any]) -> None:
        inner(deployment)
        if on_log(deployment):
            kube.on_patch = inner
            raise KeyboardInterrupt

    kube.on_patch = on_patch


@pytest.mark.parametrize(
    ("break_it", "error"),
    [
        (fail_the_log_rollout, RolloutFailed),
        (fail_the_apply, RolloutFailed),
        (interrupt_the_log_rollout, KeyboardInterrupt),
    ],
    ids=["log-rollout-fails", "apply-fails", "ctrl-c"],
)
def test_undo_leaves_the_template_and_the_labels_as_they_were(
    kube: FakeKube, tmp_path: Path, break_it: Callable[[FakeKube], None], error: type[BaseException]
) -> None:
    original = kube.add_deployment(NS, web_deployment(replicas=1))
    seen = watch(kube)
    break_it(kube)
    with pytest.raises(error):
        Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()

    assert (True, True, {"node-a"}) in seen  # it was pinned
    # off the log profile the template never required its label: not even the apply's rollback put it back
    assert all(pinned == logging for logging, pinned, _ in seen)
    deployment = kube.deployments[(NS, "web")]
    assert deployment["spec"]["template"] == original["spec"]["template"]
    assert not labelled(kube)
    assert not [k for k in kube.pods if k[0] == "kubectl-seccomp"]


@pytest.mark.parametrize("all_nodes", [False, True])
def test_pods_with_no_room_on_the_chosen_nodes_point_at_all_nodes(
    kube: FakeKube, tmp_path: Path, all_nodes: bool
) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1))

    def unschedulable(deployment: dict[str, Any]) -> None:
        if not on_log(deployment):
            return
        deployment["status"]["availableReplicas"] = 0
        for pod in kube.template_pods(NS, "web"):
            pod["status"] = {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
            }

    kube.on_patch = unschedulable
    with pytest.raises(RolloutFailed) as caught:
        Recorder(kube, options(tmp_path, timeout=0.5, all_nodes=all_nodes), Reporter(), agent=b"PK").run()
    hint = caught.value.hint or ""
    assert ("--all-nodes" in hint and "node-a" in hint) is not all_nodes  # only the pin's own failure says it
    assert not labelled(kube)


def test_a_job_copy_is_pinned_to_one_node(kube: FakeKube, tmp_path: Path) -> None:
    kube.add(NS, manifest(JOB))
    emit_when_on_log(kube, ["read"])
    emit = kube.on_job
    assert emit is not None
    key = guard.label_key(log_path(NS, "web", JOB))
    created: list[tuple[list[str], set[str]]] = []

    def on_job(job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        created.append((guard.guard_keys(job), labelled(kube, key)))
        emit(job, pods)

    kube.on_job = on_job
    Recorder(kube, options(tmp_path, kind=JOB, apply=False), Reporter(), agent=b"PK").run()

    assert agents(kube) == ["node-a"]
    assert created == [([key], {"node-a"})]  # the copy requires the label, which node-a had
    assert not labelled(kube, key)
    assert guard.guard_keys(kube.objects[JOB][(NS, "web")]) == []  # the Job itself was never changed


def test_rollback_and_cleanup_remove_a_pin_left_by_a_killed_recording(kube: FakeKube, tmp_path: Path) -> None:
    original = kube.add_deployment(NS, web_deployment(replicas=1))

    def die(deployment: dict[str, Any]) -> None:
        if on_log(deployment):
            kube.on_patch = None
            raise KeyboardInterrupt

    kube.on_patch = die
    with pytest.raises(KeyboardInterrupt):
        # an undo stack never closed: none of the clean-up runs, as after kill -9
        Recorder(kube, options(tmp_path), Reporter(), agent=b"PK")._run(contextlib.ExitStack())
    assert KEY in guard.guard_keys(kube.deployments[(NS, "web")]) and labelled(kube) == {"node-a"}

    rollback(kube, namespace=NS, name="web", timeout=5, reporter=Reporter())
    assert kube.deployments[(NS, "web")]["spec"]["template"] == original["spec"]["template"]
    cleanup(kube, settings=NodeSettings(pod_timeout=5), profiles=False, keep_namespace=False, reporter=Reporter())
    assert not labelled(kube)


def api_calls(tmp_path: Path, nodes: int, replicas: int, **flags: Any) -> int:
    """The calls at the client boundary of a recording (--no-apply) on a fake cluster of ``nodes`` nodes."""
    from kubectl_seccomp.kube.api import KubeApi

    names = tuple(f"node-{i:03d}" for i in range(nodes))
    kube = FakeKube(nodes=names)
    kube.follower_lines = {node: [start_line(node)] for node in names}
    kube.add_deployment(NS, web_deployment(replicas=replicas))
    emit_on_log_rollout(kube, {"web": ["read"]})
    count = [0]
    for name in [n for n in vars(KubeApi) if not n.startswith("_") and callable(getattr(kube, n))]:

        def counted(*args: Any, _call: Callable[..., Any] = getattr(kube, name), **kwargs: Any) -> Any:
            count[0] += 1
            return _call(*args, **kwargs)

        setattr(kube, name, counted)
    Recorder(kube, options(tmp_path, apply=False, **flags), Reporter(), agent=b"PK").run()
    return count[0]


def test_the_api_calls_grow_with_the_replicas_not_with_the_nodes(tmp_path: Path) -> None:
    assert api_calls(tmp_path, 3, replicas=2) == api_calls(tmp_path, 40, replicas=2)
    assert api_calls(tmp_path, 40, replicas=2) < api_calls(tmp_path, 40, replicas=3)
    assert api_calls(tmp_path, 3, replicas=2, all_nodes=True) < api_calls(tmp_path, 40, replicas=2, all_nodes=True)
