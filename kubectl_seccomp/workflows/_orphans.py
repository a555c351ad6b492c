"""Orphans: applied profile files on the nodes and node-guard labels that no
pod or workload in the cluster refers to any more (its namespace was deleted,
its owner removed or changed by other means). ``status`` counts them;
``cleanup`` (and ``cleanup --orphans`` alone) removes them.

A guard label is an orphan on a node unless that node holds a file in use
with that label: a label without its file would let the scheduler place a pod
where it cannot start, so it goes too.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_seccomp.kube import guard as node_guard
from kubectl_seccomp.kube import node_labels
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube.api import KubeApi
from kubectl_seccomp.kube.nodes import NodeSettings, Payload
from kubectl_seccomp.workflows._common import is_ours


@dataclass(frozen=True)
class Orphans:
    files: dict[str, list[str]]  # node -> applied profile files no pod or workload refers to
    labels: dict[str, list[str]]  # node -> guard label keys of no file in use on that node

    def file_count(self) -> int:
        return sum(len(files) for files in self.files.values())

    def label_count(self) -> int:
        return sum(len(keys) for keys in self.labels.values())


def find(api: KubeApi, found: dict[str, list[str]], in_use: set[str]) -> Orphans:
    """The orphans, from the files ``found`` on each node and the localhost paths ``in_use``."""
    files = {
        node: [f for f in paths if is_ours(f) and not f.endswith("-log.json") and f not in in_use]
        for node, paths in found.items()
    }
    labels: dict[str, list[str]] = {}
    for node in api.list_nodes():
        name = node["metadata"]["name"]
        valid = {node_guard.label_key(f) for f in found.get(name, []) if f in in_use}
        stale = [key for key in node_labels.guard_labels(node) if key not in valid]
        if stale:
            labels[name] = stale
    return Orphans({n: f for n, f in files.items() if f}, labels)


def remove(api: KubeApi, settings: NodeSettings, *, run_id: str, payload: Payload, orphans: Orphans) -> None:
    """Remove the labels first (never a label without its file), then the files."""
    for node, keys in orphans.labels.items():
        node_labels.unmark_keys(api, [node], keys)
    for node, files in orphans.files.items():
        node_labels.unmark(api, [node], files)
    commands = {node: node_ops.shell_command(node_ops.remove_commands(files)) for node, files in orphans.files.items()}
    if commands:
        node_ops.run_on_nodes(api, settings, role="remove", run_id=run_id, configmap=payload, commands=commands)
