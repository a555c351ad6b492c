"""Which nodes a recording needs, pure: the nodes the log profile and an agent go to.

Every node a pod of the target *could* land on is the safe answer, and the
costly one: a 3-replica Deployment on a 1,000-node cluster would start 1,000
privileged agent pods. With the node guard, ``record`` pins its log-profile
rollout (a required node affinity on the log profile's label, for the
recording only) to the nodes chosen here, so the cost grows with the
replicas, not with the cluster:

- Deployments and StatefulSets: the eligible nodes their pods run on now (the
  scheduler put them there, so they fit); if none runs yet, one node per
  replica. One more, where a pod of the rollout cannot share a node with the
  pod it replaces: a Deployment whose rollout surges (a new pod starts before
  an old one goes) and whose template spreads its pods by a rule (a required
  pod anti-affinity, a topology spread constraint with ``DoNotSchedule``, a
  ``hostPort``). A StatefulSet replaces a pod only after it is gone, so its
  node is free again. One more also for each node of its pods that takes no
  new pods now (cordoned, NotReady): their replacements go elsewhere.
- Jobs and CronJobs (the copy Job ``record`` runs): one node per pod the Job
  runs at once (``parallelism``).
- DaemonSets and bare Pods: unchanged, every node they run on.

Extra nodes are taken in name order, so the choice is the same each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_seccomp.kube.guard import REQUIRED
from kubectl_seccomp.kube.workloads import kind_of, pod_done, pod_spec
from kubectl_seccomp.targets import CRONJOB, DEPLOYMENT, JOB, STATEFULSET

Obj = dict[str, Any]

BY_PODS = frozenset({DEPLOYMENT, STATEFULSET})  # the kinds placed by where their pods run now


@dataclass(frozen=True)
class Placement:
    """The nodes a recording uses, out of how many were eligible, and why those."""

    nodes: tuple[str, ...]
    eligible: int
    why: str = ""

    @classmethod
    def every(cls, eligible: Sequence[str]) -> Placement:
        return cls(tuple(sorted(eligible)), len(eligible))

    @property
    def narrowed(self) -> bool:
        """Fewer nodes than eligible: the rollout must be pinned to them."""
        return len(self.nodes) < self.eligible

    def describe(self) -> str:
        """``1 of 3 node(s) (those running the pods)``, or ``3 node(s)``."""
        if not self.narrowed:
            return f"{len(self.nodes)} node(s)"
        return f"{len(self.nodes)} of {self.eligible} node(s) ({self.why})"


def _count(value: Any) -> int:
    """A replica or parallelism count; unset or 0 count as 1 (something must be traced)."""
    return max(int(value or 1), 1)


def _node_of(pod: Obj) -> str:
    """The node a pod occupies ("" when it is not scheduled, ended or terminating)."""
    return "" if pod_done(pod) else str((pod.get("spec") or {}).get("nodeName") or "")


def _surges(owner: Obj) -> bool:
    """Whether the owner's rollout starts a new pod before the old one is gone."""
    if kind_of(owner) != DEPLOYMENT:  # StatefulSets replace a pod once it is gone
        return False
    strategy = (owner.get("spec") or {}).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return False
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    try:
        return int(str(surge).rstrip("%")) != 0
    except ValueError:  # not a form we know: assume it surges (a spare too many costs one agent)
        return True


def spreads(spec: Obj) -> bool:
    """Whether a pod template keeps its pods apart by a hard rule (a new pod cannot join an old one's node)."""
    if ((spec.get("affinity") or {}).get("podAntiAffinity") or {}).get(REQUIRED):
        return True
    if any(c.get("whenUnsatisfiable") == "DoNotSchedule" for c in spec.get("topologySpreadConstraints") or []):
        return True
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return any(port.get("hostPort") for c in containers for port in c.get("ports") or [])


def _parallelism(owner: Obj) -> Any:
    spec = owner.get("spec") or {}
    if kind_of(owner) == CRONJOB:
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return spec.get("parallelism")


def choose(owner: Obj, eligible: Sequence[str], pods: Sequence[Obj] = ()) -> Placement:
    """The nodes out of ``eligible`` a recording of ``owner`` needs (``pods``: its pods now)."""
    names = sorted(eligible)
    kind = kind_of(owner)
    if kind in BY_PODS:
        placed = {node for node in map(_node_of, pods) if node}
        chosen = [name for name in names if name in placed]
        if placed:
            extra, reasons = len(placed) - len(chosen), ["those running the pods"]
            if extra:
                reasons.append(f"{extra} for pods on nodes that take no new pods")
        else:
            extra, reasons = _count((owner.get("spec") or {}).get("replicas")), ["none runs yet: one per replica"]
        if _surges(owner) and spreads(pod_spec(owner)):
            extra += 1
            reasons.append("a spare: the rollout's new pod cannot share a node with an old one")
        spare = [name for name in names if name not in chosen][:extra]
        return Placement(tuple(sorted([*chosen, *spare])), len(names), ", and ".join(reasons))
    if kind in (JOB, CRONJOB):
        return Placement(tuple(names[: _count(_parallelism(owner))]), len(names), "one per pod the job runs at once")
    return Placement.every(names)


def unschedulable(pod: Obj) -> bool:
    """Whether the scheduler found no node for the pod (``PodScheduled`` false, ``Unschedulable``)."""
    return any(
        c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable"
        for c in (pod.get("status") or {}).get("conditions") or []
    )
