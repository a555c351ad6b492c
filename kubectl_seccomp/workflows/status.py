"""The core of ``kubectl seccomp status``: the cluster's seccomp posture.

Every pod-template owner and bare Pod (in a namespace or all), per container
the effective profile type, whether its Localhost file is on the nodes, and
what ``unset`` means on each node (the kubelet's ``SeccompDefault``), and
whether the node guard keeps its pods on nodes with the file (with the pods
it leaves Pending for want of one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from kubectl_seccomp import modes
from kubectl_seccomp.kube import guard as node_guard
from kubectl_seccomp.kube import node_labels, owners
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import Forbidden
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.targets import DEPLOYMENT, KINDS, POD
from kubectl_seccomp.workflows import _orphans
from kubectl_seccomp.workflows._common import Reporter, new_run_id, profiles_in_use, quiet_delete_run


@dataclass(frozen=True)
class StatusRow:
    namespace: str
    kind: str
    name: str
    container: str
    init: bool
    profile_type: str  # Localhost, RuntimeDefault, Unconfined or unset
    profile: str
    recording: str
    nodes_present: Optional[int]
    nodes_eligible: Optional[int]
    changed_by_us: bool
    guarded: bool = False  # the pod template requires the node label of this profile file
    pending_for_profile: int = 0  # the owner's pods the scheduler leaves Pending: no node has the file

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "kind": self.kind,
            "name": self.name,
            "container": self.container,
            "init": self.init,
            "type": self.profile_type,
            "profile": self.profile,
            "recording": self.recording,
            "nodesPresent": self.nodes_present,
            "nodesEligible": self.nodes_eligible,
            "managed": self.changed_by_us,
            "guarded": self.guarded,
            "pendingForProfile": self.pending_for_profile,
        }


@dataclass(frozen=True)
class StatusReport:
    """The seccomp posture: one row per container, and what ``unset`` means on each node."""

    rows: tuple[StatusRow, ...]
    seccomp_default: dict[str, Optional[bool]]  # node -> kubelet SeccompDefault (None: could not read)
    orphan_files: Optional[int] = None  # profile files nothing refers to (None: not looked at)
    orphan_labels: Optional[int] = None  # node-guard labels of no file in use on their node

    def counts(self) -> dict[str, int]:
        counts = {"Localhost": 0, "RuntimeDefault": 0, "Unconfined": 0, "unset": 0}
        for row in self.rows:
            counts[row.profile_type] = counts.get(row.profile_type, 0) + 1
        return counts

    def mode(self, row: StatusRow) -> str:
        """enforce, complain, log, runtime-default, unconfined (see :mod:`kubectl_seccomp.modes`)."""
        values = set(self.seccomp_default.values())
        default = next(iter(values)) if len(values) == 1 else None
        setting = {"type": row.profile_type, "localhostProfile": row.profile} if row.profile_type != "unset" else None
        return modes.mode_of(setting, default)

    def unset_means(self) -> str:
        """What a container without a setting runs under, from the nodes' kubelet configuration."""
        values = set(self.seccomp_default.values())
        if values == {True}:
            return "RuntimeDefault (SeccompDefault is on on every node)"
        if values == {False}:
            return "Unconfined (SeccompDefault is off on every node)"
        if not values or values == {None}:
            return "unknown (cannot read the kubelets' configz: Unconfined unless SeccompDefault is on)"
        parts = [
            f"{node}: {'RuntimeDefault' if on else 'Unconfined' if on is False else 'unknown'}"
            for node, on in sorted(self.seccomp_default.items())
        ]
        return "depends on the node (" + ", ".join(parts) + ")"


def _status_owners(api: KubeApi, namespace: Optional[str], target: Optional[tuple[str, str]]) -> list[Obj]:
    """The owners to show: one, or every pod-template owner and bare Pod not managed by another object."""
    if target is not None:
        kind, name = target
        assert namespace is not None
        return [owners.get_owner(api, kind, namespace=namespace, name=name)]
    found: list[Obj] = []
    for kind in KINDS:
        try:
            items = api.list_pods(namespace) if kind == POD else api.list_objects(kind, namespace)
        except Forbidden:
            continue
        for item in items:
            item.setdefault("kind", kind)
            if wl.controller_of(item) is None:
                found.append(item)
    order = {kind: index for index, kind in enumerate(KINDS)}
    return sorted(found, key=lambda o: (o["metadata"]["namespace"], order[wl.kind_of(o)], o["metadata"]["name"]))


def _pending_for_profile(api: KubeApi, owner: Obj) -> int:
    """Pods of a guarded owner that the scheduler cannot place for their node affinity (the guard's label)."""
    if wl.kind_of(owner) == POD:
        pods = [owner]
    else:
        try:
            pods = owners.owner_pods(api, owner)
        except Forbidden:
            return 0
    count = 0
    for pod in pods:
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
                and "node affinity" in str(condition.get("message", ""))
            ):
                count += 1
    return count


def status(
    api: KubeApi,
    *,
    namespace: Optional[str],
    name: Optional[str],
    settings: NodeSettings,
    check_nodes: bool,
    reporter: Reporter,
    kind: str = DEPLOYMENT,
) -> StatusReport:
    """One row per container of every owner (or of one), and the nodes' SeccompDefault."""
    objects = _status_owners(api, namespace, (kind, name) if name is not None else None)
    presence: dict[str, set[str]] = {}
    eligible_by_owner: dict[str, list[str]] = {}
    localhost_needed = any(
        (wl.effective_seccomp(obj, info) or {}).get("type") == "Localhost"
        for obj in objects
        for info in wl.containers(obj)
    )
    every_node = [node.name for node in node_ops.all_nodes(api)]
    labelled = any(node_labels.guard_labels(node) for node in api.list_nodes())
    orphans: Optional[_orphans.Orphans] = None
    if check_nodes and (localhost_needed or labelled):
        run_id = new_run_id()
        try:
            node_ops.ensure_namespace(api, settings.namespace)
            configmap = node_ops.create_payload(api, settings, run_id, b"")
            found = node_ops.list_profiles(api, settings, run_id=run_id, configmap=configmap, nodes=every_node)
        finally:
            quiet_delete_run(api, settings, run_id)
        for node, files in found.items():
            for path in files:
                presence.setdefault(path, set()).add(node)
        try:
            orphans = _orphans.find(api, found, profiles_in_use(api, None))
        except Forbidden:  # cannot see every namespace: cannot tell an orphan
            orphans = None
    rows = []
    for obj in objects:
        meta = obj["metadata"]
        key = f"{wl.kind_of(obj)}/{meta['namespace']}/{meta['name']}"
        lock = wl.recording_lock(obj)
        recording = f"since {lock.get('since', '?')}" if lock else "no"
        required = node_guard.guard_keys(obj)
        pending = _pending_for_profile(api, obj) if required else 0
        for info in wl.containers(obj):
            setting = wl.effective_seccomp(obj, info) or {}
            profile_type = setting.get("type") or "unset"
            profile = setting.get("localhostProfile", "") if profile_type == "Localhost" else ""
            present = eligible = None
            if check_nodes and profile_type == "Localhost":
                if key not in eligible_by_owner:
                    if wl.kind_of(obj) == POD and (obj.get("spec") or {}).get("nodeName"):
                        eligible_by_owner[key] = [obj["spec"]["nodeName"]]
                    else:
                        eligible_by_owner[key] = [n.name for n in node_ops.eligible_nodes(api, wl.pod_spec(obj))]
                names = eligible_by_owner[key]
                eligible = len(names)
                present = len(presence.get(profile, set()) & set(names))
            rows.append(
                StatusRow(
                    meta["namespace"],
                    wl.kind_of(obj),
                    meta["name"],
                    info.name,
                    info.init,
                    profile_type,
                    profile,
                    recording,
                    present,
                    eligible,
                    wl.read_originals(obj) is not None,
                    bool(profile) and node_guard.label_key(profile) in required,
                    pending if profile else 0,
                )
            )
    defaults = (
        {node: node_ops.seccomp_default(api, node) for node in every_node}
        if any(row.profile_type == "unset" for row in rows)
        else {}
    )
    if orphans is None:
        return StatusReport(tuple(rows), defaults)
    return StatusReport(tuple(rows), defaults, orphans.file_count(), orphans.label_count())
