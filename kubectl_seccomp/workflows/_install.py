"""Install profiles and roll an owner onto them, or back: the step ``apply``
ends with and ``record`` ends with (unless ``--no-apply``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Optional

from kubectl_seccomp.interrupts import shielded
from kubectl_seccomp.kube import guard as node_guard
from kubectl_seccomp.kube import node_labels, owners
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import KubeError, RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.kube.workloads import Originals
from kubectl_seccomp.profile import Profile
from kubectl_seccomp.targets import CRONJOB, DEPLOYMENT, JOB, POD
from kubectl_seccomp.workflows._common import Reporter, agent_zipapp, applied_path, is_ours, remove_unused


@dataclass(frozen=True)
class ApplyResult:
    namespace: str
    name: str
    containers: tuple[str, ...]
    profiles: dict[str, str]  # container -> localhostProfile
    nodes: tuple[str, ...]
    patch: tuple[Obj, ...]
    dry_run: bool
    kind: str = DEPLOYMENT
    manifest: Optional[Obj] = None  # Jobs and Pods: the manifest to re-create, patched
    removed: tuple[str, ...] = ()  # previous profile files no pod refers to any more
    guard: tuple[str, ...] = ()  # the node labels the pod template requires (node guard)
    server_dry_run: bool = False  # the API server checked the patch (dryRun=All) and stored nothing
    sync: Optional[str] = None  # apply --sync: namespace/name of the sync DaemonSet keeping the profiles


def restore_settings(
    api: KubeApi,
    *,
    namespace: str,
    name: str,
    before: Originals,
    run_id: Optional[str],
    drop_original: bool,
    kind: str = DEPLOYMENT,
    guard: Optional[list[str]] = None,
) -> Obj:
    """Give every container its ``before`` setting back; remove our lock (and the original annotation);
    with ``guard``, require exactly those node labels again (the node guard before the change)."""
    owner = api.get_object(kind, namespace, name)
    settings: dict[tuple[str, bool], Any] = {}
    if kind not in (JOB, POD):  # their templates are immutable: we never changed them
        for info in wl.containers(owner):
            saved = before.init_containers if info.init else before.containers
            if info.name in saved and info.seccomp != saved[info.name]:
                settings[(info.name, info.init)] = saved[info.name]
    changes: dict[str, Optional[str]] = {}
    lock = wl.recording_lock(owner)
    if lock is not None and (run_id is None or lock.get("run") == run_id):
        changes[wl.RECORDING_ANNOTATION] = None
    if drop_original:
        changes[wl.ORIGINAL_ANNOTATION] = None
    ops = wl.seccomp_ops(owner, settings) + wl.annotation_ops(owner, changes)
    if guard is not None and kind not in (JOB, POD):
        ops += node_guard.affinity_ops(owner, guard)
    if not [op for op in ops if op["op"] != "test"]:
        return owner
    return owners.patch(api, owner, ops)


def wanted_settings(owner: Obj, paths: dict[str, str]) -> dict[tuple[str, bool], Any]:
    """``(container, init) -> Localhost setting`` for the containers in ``paths``."""
    return {
        (info.name, info.init): wl.localhost(paths[info.name]) for info in wl.containers(owner) if info.name in paths
    }


def owner_patch(
    owner: Obj, wanted: dict[tuple[str, bool], Any], before: Originals, guard: Optional[list[str]] = None
) -> list[Obj]:
    """The JSON Patch pointing containers at profiles (and saving ``before``, the first time);
    with ``guard``, the pod template then requires exactly those node labels."""
    ops = wl.seccomp_ops(owner, wanted)
    if wl.read_originals(owner) is None:
        ops += wl.annotation_ops(owner, {wl.ORIGINAL_ANNOTATION: before.to_json()})
    if guard is not None:
        ops += node_guard.affinity_ops(owner, guard)
    return ops


def guarded_files(owner: Obj, paths: dict[str, str]) -> list[str]:
    """Our applied profile files the owner's containers use once they use ``paths`` (``{container: path}``)."""
    files: list[str] = []
    for info in wl.containers(owner):
        path = paths.get(info.name) or (wl.effective_seccomp(owner, info) or {}).get("localhostProfile")
        if path and is_ours(str(path)) and not str(path).endswith("-log.json") and path not in files:
            files.append(str(path))
    return files


def guard_for(owner: Obj, paths: dict[str, str], enabled: bool) -> list[str]:
    """The node labels the pod template is to require: one per profile file it uses (none when disabled)."""
    return [node_guard.label_key(path) for path in guarded_files(owner, paths)] if enabled else []


def profile_files(namespace: str, name: str, profiles: dict[str, Profile]) -> dict[str, str]:
    """``{localhost path: profile JSON}`` of ``{container: profile}`` as apply installs them."""
    texts = {container: profile.to_json() for container, profile in profiles.items()}
    return {applied_path(namespace, name, container, text): text for container, text in texts.items()}


def apply_profiles(
    api: KubeApi,
    *,
    namespace: str,
    name: str,
    profiles: dict[str, Profile],
    settings: NodeSettings,
    timeout: float,
    reporter: Reporter,
    run_id: str,
    before: Originals,
    drop_original_on_failure: bool,
    agent: Optional[bytes] = None,
    kind: str = DEPLOYMENT,
    guard: bool = True,
    pin: Optional[str] = None,
    installed: Collection[str] = (),
) -> ApplyResult:
    """Install ``{container: profile}`` on the nodes, point the containers at them, wait.

    Deployments, StatefulSets and DaemonSets roll; on a failed rollout (or
    Ctrl-C) the containers get their ``before`` settings back and we wait for
    that rollout too, then the error goes up with the evidence of the failed
    pods. With ``guard`` (the node guard) the nodes holding the files get their
    labels and the pod template requires them; without it, it requires none.
    ``pin`` is ``record``'s pin on its log profile (a guard key): the patch
    drops it like every guard key, and a rollback does not put it back (its
    labels are gone by then). ``installed`` names nodes that have the files
    already (``record`` handed them to its agents there).
    A CronJob's ``jobTemplate`` is patched (its next Job uses it). A Job's or
    Pod's template cannot change: the result carries the patched manifest.
    """
    owner = api.get_object(kind, namespace, name)
    eligible = node_ops.eligible_nodes(api, wl.pod_spec(owner))
    if not eligible:
        raise KubeError(f"no Ready, schedulable node can run pods of {wl.describe(owner)}", hint="kubectl get nodes")
    paths = {c: applied_path(namespace, name, c, profile.to_json()) for c, profile in profiles.items()}
    previous = {
        (info.seccomp or {}).get("localhostProfile")
        for info in wl.containers(owner)
        if info.name in paths and (info.seccomp or {}).get("type") == "Localhost"
    }
    missing = [node.name for node in eligible if node.name not in installed]
    if missing:
        reporter.phase(f"installing {len(paths)} profile(s) on {len(missing)} node(s)")
        node_ops.ensure_namespace(api, settings.namespace)
        node_ops.install_profiles(
            api,
            settings,
            run_id=run_id,
            agent=agent or agent_zipapp(),
            nodes=missing,
            profiles=profile_files(namespace, name, profiles),
        )
    wanted = wanted_settings(owner, paths)
    node_names = tuple(n.name for n in eligible)
    keys = guard_for(owner, paths, guard)
    if guard:
        node_labels.mark(api, list(node_names), guarded_files(owner, paths))
    if kind in (JOB, POD):
        manifest = node_guard.guarded_manifest(wl.patched_manifest(owner, wanted), keys)
        return ApplyResult(
            namespace, name, tuple(paths), paths, node_names, (), False, kind, manifest, guard=tuple(keys)
        )
    ops = owner_patch(owner, wanted, before, keys)
    if kind == CRONJOB:
        reporter.phase(f"pointing {', '.join(paths)} of cronjob {name}'s jobTemplate at the new profile(s)")
        owners.patch(api, owner, ops)
    else:
        reporter.phase(f"pointing {', '.join(paths)} at the new profile(s) and waiting for the rollout")
        restore_guard = node_guard.keys_without(owner, pin)
        _roll_or_restore(api, owner, ops, before, drop_original_on_failure, timeout, reporter, restore_guard)
    stale = [p for p in previous if p and p not in paths.values()]
    removed = remove_unused(api, settings, run_id, agent, stale, reporter)
    return ApplyResult(
        namespace, name, tuple(paths), paths, node_names, tuple(ops), False, kind, None, removed, tuple(keys)
    )


def _roll_or_restore(
    api: KubeApi,
    owner: Obj,
    ops: list[Obj],
    before: Originals,
    drop_original: bool,
    timeout: float,
    reporter: Reporter,
    guard: list[str],
) -> None:
    """Patch and wait; on a failure or Ctrl-C, back to ``before`` and the node labels ``guard`` requires."""
    kind, meta = wl.kind_of(owner), owner["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        owners.patch(api, owner, ops)
        owners.wait_rollout(
            api, kind=kind, namespace=namespace, name=name, timeout=timeout, on_progress=reporter.rollout
        )
    except (RolloutFailed, KeyboardInterrupt) as error:
        with shielded(reporter.warn):
            reporter.warn("rolling back to the previous settings")
            restore_settings(
                api,
                kind=kind,
                namespace=namespace,
                name=name,
                before=before,
                run_id=None,
                drop_original=drop_original,
                guard=guard,
            )
            try:
                owners.wait_rollout(
                    api,
                    kind=kind,
                    namespace=namespace,
                    name=name,
                    timeout=timeout,
                    on_progress=reporter.rollout,
                    fail_fast=False,
                )
            except RolloutFailed as second:
                reporter.warn(f"the rollback's rollout did not finish either: {second.message}")
        if isinstance(error, RolloutFailed):
            raise RolloutFailed(
                f"{error.message}; rolled back to the previous settings",
                hint="the evidence above shows what failed; record again with the same runtime and "
                "securityContext, exercise more of the app, or edit the profile",
                evidence=error.evidence,
            ) from error
        raise
