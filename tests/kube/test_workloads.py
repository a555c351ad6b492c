"""Owner patches, rollout reading and pod problems (pure functions + the fake)."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_seccomp.kube import owners
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.errors import RolloutFailed, Unreachable
from tests.kube.fake import FakeKube, json_patch, web_deployment


def deployment(**container: Any) -> dict[str, Any]:
    manifest = web_deployment(extra_containers=("side",), init=("setup",))
    manifest["spec"]["template"]["spec"]["containers"][0].update(container)
    manifest["metadata"].update(namespace="ns", resourceVersion="1")
    return manifest


def test_seccomp_ops_add_replace_and_remove() -> None:
    d = deployment(securityContext={"runAsUser": 1, "seccompProfile": {"type": "RuntimeDefault"}})
    ops = wl.seccomp_ops(
        d,
        {
            ("web", False): None,
            ("side", False): wl.localhost("p.json"),
            ("setup", True): wl.localhost("i.json"),
        },
    )
    patched = json_patch(d, ops)
    spec = patched["spec"]["template"]["spec"]
    assert spec["containers"][0]["securityContext"] == {"runAsUser": 1}
    assert spec["containers"][1]["securityContext"] == {"seccompProfile": wl.localhost("p.json")}
    assert spec["initContainers"][0]["securityContext"] == {"seccompProfile": wl.localhost("i.json")}
    assert {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "side"} in ops
    # and back: a securityContext we created goes away whole
    restored = json_patch(patched, wl.seccomp_ops(patched, {("side", False): None}))
    assert "securityContext" not in restored["spec"]["template"]["spec"]["containers"][1]


def test_annotation_ops_escape_and_create_the_map() -> None:
    d = deployment()
    d["metadata"].pop("annotations", None)
    patched = json_patch(d, wl.annotation_ops(d, {wl.ORIGINAL_ANNOTATION: "x", wl.RECORDING_ANNOTATION: None}))
    assert patched["metadata"]["annotations"] == {wl.ORIGINAL_ANNOTATION: "x"}
    ops = wl.annotation_ops(patched, {wl.ORIGINAL_ANNOTATION: None})
    assert ops == [{"op": "remove", "path": "/metadata/annotations/kubectl-seccomp.io~1original"}]


def test_originals_round_trip_and_restore() -> None:
    d = deployment(securityContext={"seccompProfile": {"type": "Unconfined"}})
    originals = wl.current_originals(d)
    assert wl.Originals.from_json(originals.to_json()) == originals
    changed = json_patch(d, wl.seccomp_ops(d, {("web", False): wl.localhost("x"), ("setup", True): wl.localhost("y")}))
    changed["metadata"]["annotations"] = {wl.ORIGINAL_ANNOTATION: originals.to_json()}
    restored = json_patch(changed, wl.restore_ops(changed, originals))
    assert wl.current_originals(restored) == originals
    assert restored["metadata"]["annotations"] == {}


@pytest.mark.parametrize(
    ("status", "generation", "message", "done"),
    [
        ({"observedGeneration": 1}, 2, "waiting for the controller", False),
        (
            {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1},
            2,
            "1 of 2 new replicas updated",
            False,
        ),
        (
            {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2},
            2,
            "1 old replicas pending termination",
            False,
        ),
        (
            {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
            2,
            "1 of 2 updated replicas available",
            False,
        ),
        (
            {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
            2,
            "rolled out",
            True,
        ),
        (
            {
                "observedGeneration": 2,
                "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
            },
            2,
            "progress deadline exceeded",
            False,
        ),
    ],
)
def test_rollout_progress(status: dict[str, Any], generation: int, message: str, done: bool) -> None:
    d = {"metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status}
    progress = wl.rollout_progress(d)
    assert (progress.message, progress.done) == (message, done)


def test_pod_problems() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {"name": "a", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}},
                {
                    "name": "b",
                    "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "m"}},
                },
                {
                    "name": "c",
                    "restartCount": 1,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 159, "reason": "Error"}},
                },
            ]
        },
    }
    problems = wl.pod_problems(pod)
    assert [(p.container, p.reason) for p in problems] == [("b", "CrashLoopBackOff"), ("c", "Error")]


def test_label_selector() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "t", "operator": "In", "values": ["x", "y"]},
            {"key": "e", "operator": "Exists"},
            {"key": "n", "operator": "DoesNotExist"},
        ],
    }
    assert wl.label_selector(selector) == "a=1,b=2,t in (x,y),e,!n"


def test_wait_rollout_raises_with_evidence() -> None:
    kube = FakeKube()
    kube.break_rollout = lambda d: True
    kube.add_deployment("ns", web_deployment(replicas=1))
    with pytest.raises(RolloutFailed) as caught:
        owners.wait_rollout(kube, namespace="ns", name="web", timeout=5)
    assert "CreateContainerError" in caught.value.message
    assert any("event Failed" in line for line in caught.value.evidence)


class RestartingApiServer(FakeKube):
    """The first ``down`` reads fail as a restarting API server's do (connection refused)."""

    def __init__(self, down: int) -> None:
        super().__init__()
        self.down = down

    def get_object(self, kind: str, namespace: str, name: str) -> Any:
        if self.down > 0:
            self.down -= 1
            raise Unreachable("the Kubernetes API server at 127.0.0.1:6443 refused the connection")
        return super().get_object(kind, namespace, name)


def test_wait_rollout_waits_through_an_api_server_restart() -> None:
    kube = RestartingApiServer(down=3)
    kube.add_deployment("ns", web_deployment(replicas=1))
    owner = owners.wait_rollout(kube, namespace="ns", name="web", timeout=30, poll=0.01)
    assert owner["metadata"]["name"] == "web" and kube.down == 0


def test_wait_rollout_gives_up_on_an_api_server_that_stays_away_at_the_deadline() -> None:
    kube = RestartingApiServer(down=10**6)
    kube.add_deployment("ns", web_deployment(replicas=1))
    with pytest.raises(Unreachable):
        owners.wait_rollout(kube, namespace="ns", name="web", timeout=0.2, poll=0.01)
