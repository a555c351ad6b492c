"""Which nodes a recording needs (kube/placement.py), rule by rule; pure."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_seccomp.kube import placement
from kubectl_seccomp.targets import CRONJOB, DAEMONSET, DEPLOYMENT, JOB, POD, STATEFULSET
from tests.kube.fake import web_deployment

NODES = ["node-c", "node-a", "node-b", "node-d"]  # unsorted on purpose: the choice is in name order


def owner(kind: str = DEPLOYMENT, replicas: int = 1, **template: Any) -> dict[str, Any]:
    manifest = web_deployment(replicas=replicas)
    manifest["kind"] = kind
    manifest["spec"]["template"]["spec"].update(template)
    return manifest


def pod(node: str = "", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": f"p-{node}", **meta}, "spec": {"nodeName": node} if node else {}, "status": {}}


ANTI_AFFINITY = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
        ]
    }
}


@pytest.mark.parametrize("kind", [DEPLOYMENT, STATEFULSET])
def test_the_nodes_running_the_pods_and_no_other(kind: str) -> None:
    chosen = placement.choose(owner(kind, replicas=3), NODES, [pod("node-d"), pod("node-b"), pod("node-d")])
    assert chosen.nodes == ("node-b", "node-d")
    assert chosen.narrowed and chosen.eligible == 4
    assert chosen.describe() == "2 of 4 node(s) (those running the pods)"


def test_pods_that_are_pending_ending_or_done_do_not_count() -> None:
    pods = [
        pod("node-a"),
        pod(""),  # not scheduled
        pod("node-b", deletionTimestamp="2024-01-01T00:00:00Z"),
        {**pod("node-c"), "status": {"phase": "Succeeded"}},
        {**pod("node-d"), "status": {"phase": "Failed"}},
    ]
    assert placement.choose(owner(replicas=2), NODES, pods).nodes == ("node-a",)


def test_no_pod_running_yet_takes_one_node_per_replica() -> None:
    chosen = placement.choose(owner(replicas=2), NODES, [pod("")])
    assert chosen.nodes == ("node-a", "node-b")
    assert "one per replica" in chosen.why
    assert placement.choose(owner(replicas=9), NODES, []).nodes == tuple(sorted(NODES))  # no more than there are


def test_a_pod_on_a_node_that_takes_no_new_pods_gets_another_node() -> None:
    # node-x is cordoned (not eligible): the replacement of its pod goes elsewhere
    chosen = placement.choose(owner(replicas=2), NODES, [pod("node-c"), pod("node-x")])
    assert chosen.nodes == ("node-a", "node-c")


@pytest.mark.parametrize(
    "template",
    [
        {"affinity": ANTI_AFFINITY},
        {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "h", "whenUnsatisfiable": "DoNotSchedule"}]},
        {"containers": [{"name": "web", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
    ],
    ids=["anti-affinity", "spread", "host-port"],
)
def test_a_surging_rollout_with_a_hard_spread_gets_one_spare(template: dict[str, Any]) -> None:
    chosen = placement.choose(owner(replicas=2, **template), NODES, [pod("node-b"), pod("node-d")])
    assert chosen.nodes == ("node-a", "node-b", "node-d")  # the spare: the first free node by name
    assert "a spare" in chosen.why


@pytest.mark.parametrize(
    "template",
    [
        {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "h", "whenUnsatisfiable": "ScheduleAnyway"}]},
        {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}]}}},
        {"containers": [{"name": "web", "image": "x", "ports": [{"containerPort": 80}]}]},
    ],
    ids=["soft-spread", "preferred-anti-affinity", "no-host-port"],
)
def test_a_soft_spread_needs_no_spare(template: dict[str, Any]) -> None:
    assert placement.choose(owner(**template), NODES, [pod("node-b")]).nodes == ("node-b",)


@pytest.mark.parametrize(
    "strategy",
    [{"type": "Recreate"}, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}],
    ids=["recreate", "no-surge"],
)
def test_a_rollout_that_does_not_surge_needs_no_spare(strategy: dict[str, Any]) -> None:
    manifest = owner(affinity=ANTI_AFFINITY)
    manifest["spec"]["strategy"] = strategy
    assert placement.choose(manifest, NODES, [pod("node-b")]).nodes == ("node-b",)


def test_a_statefulset_replaces_a_pod_once_it_is_gone_so_needs_no_spare() -> None:
    assert placement.choose(owner(STATEFULSET, affinity=ANTI_AFFINITY), NODES, [pod("node-b")]).nodes == ("node-b",)


def test_the_spare_only_if_there_is_one() -> None:
    chosen = placement.choose(owner(replicas=2, affinity=ANTI_AFFINITY), ["n1", "n2"], [pod("n1"), pod("n2")])
    assert chosen.nodes == ("n1", "n2") and not chosen.narrowed
    assert chosen.describe() == "2 node(s)"


def test_jobs_take_one_node_per_pod_they_run_at_once() -> None:
    job: dict[str, Any] = {"kind": JOB, "metadata": {"name": "j"}, "spec": {"parallelism": 2, "template": {"spec": {}}}}
    assert placement.choose(job, NODES).nodes == ("node-a", "node-b")
    job["spec"].pop("parallelism")
    assert placement.choose(job, NODES).nodes == ("node-a",)
    cron = {"kind": CRONJOB, "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"parallelism": 3}}}}
    assert placement.choose(cron, NODES).nodes == ("node-a", "node-b", "node-c")


@pytest.mark.parametrize("kind", [DAEMONSET, POD])
def test_daemonsets_and_pods_keep_every_node(kind: str) -> None:
    chosen = placement.choose(owner(kind), NODES, [pod("node-a")])
    assert chosen.nodes == tuple(sorted(NODES)) and not chosen.narrowed


def test_a_pod_waiting_for_a_node_is_unschedulable() -> None:
    waiting = {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
    assert placement.unschedulable(waiting)
    assert not placement.unschedulable({"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}})
    assert not placement.unschedulable(pod("node-a"))
