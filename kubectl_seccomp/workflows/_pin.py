"""``record``'s pin: its rollout onto the log profile kept on the nodes chosen for the recording.

Which nodes is :mod:`..kube.placement`'s call. When they are fewer than the
eligible ones, the node guard's mechanism (:mod:`..kube.guard`) keeps the
pods there: the chosen nodes get the log profile's label once their agents
installed the file, and the rollout onto the log profile requires it. The
labels go before the agents remove the file (never a label without its
file); the requirement goes with the settings of before the run, or with the
``apply`` that ends the recording, and a rollback of that ``apply`` does not
put it back. ``--all-nodes`` and ``--no-node-guard`` choose every eligible
node, and nothing is pinned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from kubectl_seccomp.errors import SeccompError
from kubectl_seccomp.kube import guard as node_guard
from kubectl_seccomp.kube import node_labels, owners, placement
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import KubeError, RolloutFailed
from kubectl_seccomp.kube.workloads import kind_of


def place(api: KubeApi, owner: Obj, eligible: list[str], *, narrow: bool) -> placement.Placement:
    """The nodes a recording of ``owner`` uses: those it needs, or (not ``narrow``) every eligible one."""
    if not narrow:
        return placement.Placement.every(eligible)
    pods = owners.owner_pods(api, owner) if kind_of(owner) in placement.BY_PODS else []
    return placement.choose(owner, eligible, pods)


class Pin:
    """The pin of one recording: its labels on the chosen nodes and the requirement in the template."""

    def __init__(self, api: KubeApi, log_profile: str, chosen: placement.Placement) -> None:
        self.api = api
        self.log_profile = log_profile
        self.placement = chosen
        self.labelled: list[str] = []  # nodes carrying the label now

    @property
    def key(self) -> Optional[str]:
        """The log profile's node label, when the rollout is to require it (fewer nodes than eligible)."""
        return node_guard.label_key(self.log_profile) if self.placement.narrowed else None

    def mark(self) -> None:
        """Label the chosen nodes (their agents installed the log profile)."""
        if self.key is None:
            return
        self.labelled = list(self.placement.nodes)  # before the calls: a failure half-way is undone too
        node_labels.mark(self.api, self.labelled, [self.log_profile])

    def unmark(self, warn: Callable[[str], None]) -> None:
        """Remove the labels (before the file goes); a failure is a warning: the recording goes on."""
        nodes, self.labelled = self.labelled, []
        if not nodes:
            return
        try:
            node_labels.unmark(self.api, nodes, [self.log_profile])
        except SeccompError as error:
            warn(f"could not remove the log profile's node label: {error.message}; run `kubectl seccomp cleanup`")

    def owner_ops(self, owner: Obj) -> list[Obj]:
        """The JSON Patch making the owner's template require the label (none when not pinned)."""
        key = self.key
        return [] if key is None else node_guard.affinity_ops(owner, node_guard.keys_with(owner, key))

    def job(self, job: Obj) -> Obj:
        """The copy Job of a Job or CronJob, requiring the label."""
        key = self.key
        return job if key is None else node_guard.guarded_manifest(job, node_guard.keys_with(job, key))

    def guard_without(self, owner: Obj) -> Optional[list[str]]:
        """The guard keys the owner is to require once the pin goes (None: not pinned, leave them)."""
        return None if self.key is None else node_guard.keys_without(owner, self.key)

    def explain(self, error: RolloutFailed, pods: Callable[[], list[Obj]]) -> RolloutFailed:
        """``error`` with a hint at ``--all-nodes`` if a pod waits for a node while the pin holds."""
        if not self.labelled:
            return error
        try:
            waiting = any(placement.unschedulable(pod) for pod in pods())
        except KubeError:  # only to explain a failure: never hide it
            waiting = False
        if not waiting:
            return error
        return RolloutFailed(
            error.message,
            hint=f"the recording's pods may only go to the node(s) chosen for it ({', '.join(self.labelled)}) "
            "and the scheduler found no room there: record again with --all-nodes",
            evidence=error.evidence,
        )
