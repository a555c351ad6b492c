"""The core of ``kubectl seccomp cleanup``: everything the plugin left behind,
removed (the sync DaemonSet of ``apply --sync`` with its service account and
ClusterRole, node pods, ConfigMaps, copy Jobs, log profiles, unused profile
files and their node-guard labels, our namespace); or, with ``--orphans``, only the
profile files and labels nothing refers to any more.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Optional

from kubectl_seccomp.interrupts import shielded
from kubectl_seccomp.kube import node_labels
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi
from kubectl_seccomp.kube.errors import Forbidden, NotFound
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.targets import JOB, KINDS, POD, short_name
from kubectl_seccomp.workflows import _orphans
from kubectl_seccomp.workflows._common import Reporter, agent_zipapp, new_run_id, profiles_in_use, quiet_delete_run
from kubectl_seccomp.workflows.sync import remove_sync


def _delete_copy_jobs(api: KubeApi, reporter: Reporter) -> int:
    """Delete the Jobs that recordings of Jobs and CronJobs ran (left by a killed CLI)."""
    try:
        jobs = api.list_objects(JOB, None, f"{node_ops.MANAGED_BY}={node_ops.MANAGER}")
    except Forbidden:
        reporter.warn("cannot list Jobs in all namespaces; not looking for recording Jobs left behind")
        return 0
    for job in jobs:
        with contextlib.suppress(NotFound):
            api.delete_object(JOB, job["metadata"]["namespace"], job["metadata"]["name"])
    return len(jobs)


@dataclass(frozen=True)
class CleanupResult:
    objects_deleted: int
    files_removed: dict[str, list[str]]
    namespace_deleted: bool
    still_recording: tuple[str, ...]
    labels_removed: dict[str, list[str]] = field(default_factory=dict)  # node -> node-guard label keys


def cleanup(
    api: KubeApi, *, settings: NodeSettings, profiles: bool, keep_namespace: bool, reporter: Reporter
) -> CleanupResult:
    """Remove our pods, ConfigMaps, log profiles, profile files no pod or workload refers to
    (with ``profiles`` every file of ours) and namespace."""
    still: list[str] = []
    for kind in KINDS:
        if kind == POD:
            continue
        try:
            for owner in api.list_objects(kind, None):
                if wl.recording_lock(owner) is not None:
                    meta = owner["metadata"]
                    still.append(f"{short_name(kind)}/{meta['name']} -n {meta['namespace']}")
        except Forbidden:
            reporter.warn(f"cannot list {kind}s in all namespaces; not checking them for interrupted recordings")
    for item in still:
        reporter.warn(f"{item} still carries a recording lock: run `kubectl seccomp rollback {item}` first")
    with shielded(reporter.warn):
        reporter.phase("deleting node pods and ConfigMaps of kubectl seccomp")
        deleted = remove_sync(api, settings, reporter)  # first: its controller would replace the pods deleted next
        deleted += node_ops.delete_run_objects(api, settings)
        deleted += _delete_copy_jobs(api, reporter)
        removed: dict[str, list[str]] = {}
        labels_removed: dict[str, list[str]] = {}
        nodes = [node.name for node in node_ops.all_nodes(api)]
        if nodes:
            reporter.phase(f"looking for profile files on {len(nodes)} node(s)")
            run_id = new_run_id()
            node_ops.ensure_namespace(api, settings.namespace)
            try:
                configmap = node_ops.create_payload(api, settings, run_id, agent_zipapp())
                found = node_ops.list_profiles(api, settings, run_id=run_id, configmap=configmap, nodes=nodes)
                in_use: Optional[set[str]] = None
                if not profiles:
                    try:
                        in_use = profiles_in_use(api, None)
                    except Forbidden:
                        reporter.warn("cannot list pods and workloads in all namespaces; keeping applied profiles")
                for node, files in found.items():
                    doomed = [
                        f
                        for f in files
                        if profiles or f.endswith("-log.json") or (in_use is not None and f not in in_use)
                    ]
                    if doomed:
                        node_labels.unmark(api, [node], doomed)  # the label goes first: no label without its file
                        node_ops.run_on_nodes(
                            api,
                            settings,
                            role="remove",
                            run_id=run_id,
                            configmap=configmap,
                            commands={node: node_ops.shell_command(node_ops.remove_commands(doomed))},
                        )
                        removed[node] = doomed
                if profiles or in_use is not None:  # labels of no file in use on their node
                    kept = {node: [f for f in files if f not in removed.get(node, [])] for node, files in found.items()}
                    labels_removed = _orphans.find(api, kept, in_use or set()).labels
                    for node, keys in labels_removed.items():
                        node_labels.unmark_keys(api, [node], keys)
            finally:
                quiet_delete_run(api, settings, run_id)
        namespace_deleted = False
        if not keep_namespace:
            reporter.phase(f"deleting namespace {settings.namespace}")
            try:
                api.delete_namespace(settings.namespace)
                namespace_deleted = True
            except NotFound:
                pass
            deadline = time.monotonic() + 60
            while namespace_deleted and time.monotonic() < deadline:
                try:
                    api.get_namespace(settings.namespace)
                except NotFound:
                    break
                time.sleep(1)
    return CleanupResult(deleted, removed, namespace_deleted, tuple(still), labels_removed)


def cleanup_orphans(api: KubeApi, *, settings: NodeSettings, reporter: Reporter) -> CleanupResult:
    """Remove only the profile files and node-guard labels no pod or workload in the cluster refers to."""
    nodes = [node.name for node in node_ops.all_nodes(api)]
    in_use = profiles_in_use(api, None)  # all namespaces: a file of another namespace is not an orphan
    run_id = new_run_id()
    with shielded(reporter.warn):
        reporter.phase(f"looking for orphaned profile files and labels on {len(nodes)} node(s)")
        node_ops.ensure_namespace(api, settings.namespace)
        try:
            payload = node_ops.create_payload(api, settings, run_id, agent_zipapp())
            found = node_ops.list_profiles(api, settings, run_id=run_id, configmap=payload, nodes=nodes)
            orphans = _orphans.find(api, found, in_use)
            if orphans.files or orphans.labels:
                reporter.phase(
                    f"removing {orphans.file_count()} orphaned profile file(s) and "
                    f"{orphans.label_count()} node label(s)"
                )
                _orphans.remove(api, settings, run_id=run_id, payload=payload, orphans=orphans)
        finally:
            quiet_delete_run(api, settings, run_id)
    return CleanupResult(0, orphans.files, False, (), orphans.labels)
