"""Apply, roll back, show and clean up: the cores of ``apply``, ``rollback``,
``status`` and ``cleanup``, and the apply step that ``record`` ends with.

No typer, no printing: progress goes through a :class:`Reporter`, results are
frozen dataclasses, failures are :class:`~kubectl_seccomp.errors.SeccompError`
subclasses. Every change to the cluster made here is undone here if it fails
or is interrupted (see :func:`apply_profiles`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from kubectl_seccomp.errors import ProfileError, SeccompError, UsageError
from kubectl_seccomp.interrupts import shielded, sigterm_as_interrupt
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import owners
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import Forbidden, KubeError, NotFound, RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.kube.workloads import ContainerInfo, Originals, RolloutProgress
from kubectl_seccomp.profile import Profile
from kubectl_seccomp.targets import CRONJOB, DEPLOYMENT, JOB, KINDS, POD, Target, short_name

PROFILE_DIR = "kubectl-seccomp"


class Reporter(Protocol):
    """Where the workflows tell the user what happens (render.py implements it)."""

    def phase(self, message: str) -> None: ...

    def rollout(self, progress: RolloutProgress) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentReporter:
    def phase(self, message: str) -> None:
        pass

    def rollout(self, progress: RolloutProgress) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


def new_run_id() -> str:
    return secrets.token_hex(4)


def applied_path(namespace: str, owner: str, container: str, content: str) -> str:
    """The ``localhostProfile`` of an applied profile, named by its content.

    A changed profile gets a new file name, so the template changes and the
    pods roll onto it (the kubelet reads the file only when a container
    starts: rewriting a file in place would reach no running pod).
    """
    digest = hashlib.sha256(content.encode()).hexdigest()[:10]
    return f"{PROFILE_DIR}/{namespace}/{owner}-{container}-{digest}.json"


def log_path(namespace: str, owner: str, kind: str = DEPLOYMENT) -> str:
    """The ``localhostProfile`` of the log profile used while recording (Deployments keep the short name)."""
    infix = "" if kind == DEPLOYMENT else f"-{short_name(kind)}"
    return f"{PROFILE_DIR}/{namespace}/{owner}{infix}-log.json"


def is_ours(path: Optional[str]) -> bool:
    return bool(path) and str(path).startswith(PROFILE_DIR + "/")


def agent_zipapp() -> bytes:
    from kubectl_seccomp.agent.bundle import build_agent_zipapp

    return build_agent_zipapp()


def lock_value(run_id: str, log_profile: str) -> str:
    import json

    return json.dumps(
        {
            "run": run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "logProfile": log_profile,
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class ApplyOptions:
    namespace: str
    name: str
    profile_path: str
    containers: tuple[str, ...] = ()
    timeout: float = 300.0
    dry_run: bool = False
    node: NodeSettings = field(default_factory=NodeSettings)
    kind: str = DEPLOYMENT


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


def restore_settings(
    api: KubeApi,
    *,
    namespace: str,
    name: str,
    before: Originals,
    run_id: Optional[str],
    drop_original: bool,
    kind: str = DEPLOYMENT,
) -> Obj:
    """Give every container its ``before`` setting back; remove our lock (and the original annotation)."""
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
    if not [op for op in ops if op["op"] != "test"]:
        return owner
    return owners.patch(api, owner, ops)


def wanted_settings(owner: Obj, paths: dict[str, str]) -> dict[tuple[str, bool], Any]:
    """``(container, init) -> Localhost setting`` for the containers in ``paths``."""
    return {
        (info.name, info.init): wl.localhost(paths[info.name]) for info in wl.containers(owner) if info.name in paths
    }


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
) -> ApplyResult:
    """Install ``{container: profile}`` on the nodes, point the containers at them, wait.

    Deployments, StatefulSets and DaemonSets roll; on a failed rollout (or
    Ctrl-C) the containers get their ``before`` settings back and we wait for
    that rollout too, then the error goes up with the evidence of the failed
    pods. A CronJob's ``jobTemplate`` is patched (its next Job uses it). A Job's
    or Pod's template cannot change: the result carries the patched manifest.
    """
    owner = api.get_object(kind, namespace, name)
    eligible = node_ops.eligible_nodes(api, wl.pod_spec(owner))
    if not eligible:
        raise KubeError(f"no Ready, schedulable node can run pods of {wl.describe(owner)}", hint="kubectl get nodes")
    texts = {container: profile.to_json() for container, profile in profiles.items()}
    paths = {c: applied_path(namespace, name, c, text) for c, text in texts.items()}
    previous = {
        (info.seccomp or {}).get("localhostProfile")
        for info in wl.containers(owner)
        if info.name in paths and (info.seccomp or {}).get("type") == "Localhost"
    }
    reporter.phase(f"installing {len(paths)} profile(s) on {len(eligible)} node(s)")
    node_ops.ensure_namespace(api, settings.namespace)
    node_ops.install_profiles(
        api,
        settings,
        run_id=run_id,
        agent=agent or agent_zipapp(),
        nodes=[node.name for node in eligible],
        profiles={paths[c]: texts[c] for c in profiles},
    )
    wanted = wanted_settings(owner, paths)
    node_names = tuple(n.name for n in eligible)
    if kind in (JOB, POD):
        manifest = wl.patched_manifest(owner, wanted)
        return ApplyResult(namespace, name, tuple(paths), paths, node_names, (), False, kind, manifest)
    ops = wl.seccomp_ops(owner, wanted)
    if wl.read_originals(owner) is None:
        ops += wl.annotation_ops(owner, {wl.ORIGINAL_ANNOTATION: before.to_json()})
    if kind == CRONJOB:
        reporter.phase(f"pointing {', '.join(paths)} of cronjob {name}'s jobTemplate at the new profile(s)")
        owners.patch(api, owner, ops)
    else:
        reporter.phase(f"pointing {', '.join(paths)} at the new profile(s) and waiting for the rollout")
        _roll_or_restore(api, owner, ops, before, drop_original_on_failure, timeout, reporter)
    stale = [p for p in previous if p and p not in paths.values()]
    removed = remove_unused(api, settings, run_id, agent, stale, reporter)
    return ApplyResult(namespace, name, tuple(paths), paths, node_names, tuple(ops), False, kind, None, removed)


def _roll_or_restore(
    api: KubeApi,
    owner: Obj,
    ops: list[Obj],
    before: Originals,
    drop_original: bool,
    timeout: float,
    reporter: Reporter,
) -> None:
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
                api, kind=kind, namespace=namespace, name=name, before=before, run_id=None, drop_original=drop_original
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


def profiles_in_use(api: KubeApi, namespace: Optional[str]) -> set[str]:
    """Every ``localhostProfile`` a pod or a pod-template owner refers to (in a namespace, or all).

    A terminating or finished pod does not count: the kubelet reads the file
    only when a container starts, and such a pod starts none any more.
    """
    used: set[str] = set()
    objects = [
        pod
        for pod in api.list_pods(namespace)
        if not pod["metadata"].get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    for kind in KINDS:
        if kind != POD:
            objects.extend(api.list_objects(kind, namespace))
    for obj in objects:
        for info in wl.containers(obj):
            path = (wl.effective_seccomp(obj, info) or {}).get("localhostProfile")
            if path:
                used.add(str(path))
    return used


def remove_unused(
    api: KubeApi,
    settings: NodeSettings,
    run_id: str,
    agent: Optional[bytes],
    candidates: list[str],
    reporter: Reporter,
) -> tuple[str, ...]:
    """Remove from the nodes those of our profile files in ``candidates`` that no pod or template uses."""
    candidates = [c for c in candidates if is_ours(c) and not c.endswith("-log.json")]
    if not candidates:
        return ()
    try:
        namespace = candidates[0].split("/")[1]
        unused = sorted(set(candidates) - profiles_in_use(api, namespace))
        if unused:
            reporter.phase(f"removing {len(unused)} profile file(s) no pod uses any more: {', '.join(unused)}")
            node_ops.remove_profiles(
                api,
                settings,
                run_id=run_id,
                agent=agent or agent_zipapp(),
                nodes=[n.name for n in node_ops.all_nodes(api)],
                paths=unused,
            )
        return tuple(unused)
    except SeccompError as error:
        reporter.warn(f"could not remove the previous profile file(s): {error.message}; `kubectl seccomp cleanup` will")
        return ()


def load_profile(path: str, reporter: Reporter) -> Profile:
    """A profile file, validated, with warnings for what is legal but suspicious."""
    from pathlib import Path

    profile = Profile.load(Path(path))
    if profile.default_action in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG") and not profile.rules:
        reporter.warn(f"{path} allows every syscall (defaultAction {profile.default_action})")
    if not profile.architectures:
        raise ProfileError(
            f"{path}: lists no architectures",
            hint="a profile without architectures does not filter the syscalls of any ABI",
        )
    unknown = profile.unknown_syscalls()
    if unknown:
        reporter.warn(f"{path}: unknown syscall names (typos?): {', '.join(unknown[:10])}")
    return profile


def check_owner(api: KubeApi, owner: Obj) -> None:
    """Refuse owners we cannot (or must not) change: controlled by another object, not rolling, locked."""
    if wl.kind_of(owner) in (POD, JOB):
        owners.refuse_controlled(api, owner)
    if wl.kind_of(owner) in wl.ROLLING_KINDS:
        wl.check_rollable(owner)


def apply(api: KubeApi, options: ApplyOptions, reporter: Reporter) -> ApplyResult:
    """``kubectl seccomp apply``: one validated profile file for the chosen containers."""
    profile = load_profile(options.profile_path, reporter)
    owner = owners.get_owner(api, options.kind, namespace=options.namespace, name=options.name)
    check_owner(api, owner)
    lock = wl.recording_lock(owner)
    if lock is not None:
        raise UsageError(
            f"{wl.describe(owner)} is being recorded (since {lock.get('since', '?')} by {lock.get('host', '?')})",
            hint=f"wait for it, or if that recording was killed: kubectl seccomp rollback {wl.ref(owner)}",
        )
    selected = wl.select_containers(owner, options.containers)
    profiles = {info.name: profile for info in selected}
    if options.dry_run:
        text = profile.to_json()
        paths = {c: applied_path(options.namespace, options.name, c, text) for c in profiles}
        wanted = wanted_settings(owner, paths)
        if options.kind in (JOB, POD):
            manifest = wl.patched_manifest(owner, wanted)
            return ApplyResult(
                options.namespace, options.name, tuple(paths), paths, (), (), True, options.kind, manifest
            )
        ops = wl.seccomp_ops(owner, wanted)
        if wl.read_originals(owner) is None:
            ops += wl.annotation_ops(owner, {wl.ORIGINAL_ANNOTATION: wl.current_originals(owner).to_json()})
        return ApplyResult(options.namespace, options.name, tuple(paths), paths, (), tuple(ops), True, options.kind)
    before = wl.current_originals(owner)
    run_id = new_run_id()
    with sigterm_as_interrupt():
        return _apply_and_clean(api, options, reporter, owner, profiles, before, run_id)


def _apply_and_clean(
    api: KubeApi,
    options: ApplyOptions,
    reporter: Reporter,
    owner: Obj,
    profiles: dict[str, Profile],
    before: Originals,
    run_id: str,
) -> ApplyResult:
    try:
        return apply_profiles(
            api,
            kind=options.kind,
            namespace=options.namespace,
            name=options.name,
            profiles=profiles,
            settings=options.node,
            timeout=options.timeout,
            reporter=reporter,
            run_id=run_id,
            before=before,
            drop_original_on_failure=wl.read_originals(owner) is None,
        )
    finally:
        with shielded(reporter.warn):
            _quiet_delete_run(api, options.node, run_id)


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


def _quiet_delete_run(api: KubeApi, settings: NodeSettings, run_id: str) -> None:
    with contextlib.suppress(KubeError):
        node_ops.delete_run_objects(api, settings, run_id)


def check_deployment(deployment: Obj) -> None:
    wl.check_rollable(deployment)


def resolve_names(api: KubeApi, target: Target, namespace: str) -> list[str]:
    """The names a target stands for: its name, or the owners of its kind matching its selector."""
    if target.name is not None:
        return [target.name]
    assert target.selector is not None
    items = api.list_objects(target.kind, namespace, target.selector)
    names = sorted(item["metadata"]["name"] for item in items if wl.controller_of(item) is None)
    if not names:
        raise NotFound(
            f"no {target.kind.lower()} in namespace {namespace} matches -l {target.selector}",
            hint=f"kubectl get {short_name(target.kind)} -n {namespace} -l {target.selector}",
        )
    return names


# -- rollback -----------------------------------------------------------------


@dataclass(frozen=True)
class RollbackResult:
    namespace: str
    name: str
    restored: dict[str, Any]  # container -> setting restored (None: unset)
    was_recording: bool
    kind: str = DEPLOYMENT


def rollback(
    api: KubeApi, *, namespace: str, name: str, timeout: float, reporter: Reporter, kind: str = DEPLOYMENT
) -> RollbackResult:
    """Back to the settings saved before the plugin first changed the owner."""
    owner = owners.get_owner(api, kind, namespace=namespace, name=name)
    originals = wl.read_originals(owner)
    lock = wl.recording_lock(owner)
    if originals is None or kind in (JOB, POD):
        if lock is not None or originals is not None:
            changes: dict[str, Optional[str]] = {wl.RECORDING_ANNOTATION: None, wl.ORIGINAL_ANNOTATION: None}
            owners.patch(api, owner, wl.annotation_ops(owner, changes))
            return RollbackResult(namespace, name, {}, lock is not None, kind)
        raise NotFound(
            f"{wl.describe(owner)} has no settings saved by kubectl seccomp (annotation {wl.ORIGINAL_ANNOTATION})",
            hint="it was never changed by this plugin, or was rolled back already",
        )
    ops = wl.restore_ops(owner, originals)
    restored = {
        info.name: (originals.init_containers if info.init else originals.containers).get(info.name)
        for info in wl.containers(owner)
        if info.name in (originals.init_containers if info.init else originals.containers)
    }
    reporter.phase(f"restoring the original seccomp settings of {wl.describe(owner)}")
    with shielded(reporter.warn):
        owners.patch(api, owner, ops)
    if kind in wl.ROLLING_KINDS:
        owners.wait_rollout(
            api,
            kind=kind,
            namespace=namespace,
            name=name,
            timeout=timeout,
            on_progress=reporter.rollout,
            fail_fast=False,
        )
    return RollbackResult(namespace, name, restored, lock is not None, kind)


# -- status -------------------------------------------------------------------


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
        }


@dataclass(frozen=True)
class StatusReport:
    """The seccomp posture: one row per container, and what ``unset`` means on each node."""

    rows: tuple[StatusRow, ...]
    seccomp_default: dict[str, Optional[bool]]  # node -> kubelet SeccompDefault (None: could not read)

    def counts(self) -> dict[str, int]:
        counts = {"Localhost": 0, "RuntimeDefault": 0, "Unconfined": 0, "unset": 0}
        for row in self.rows:
            counts[row.profile_type] = counts.get(row.profile_type, 0) + 1
        return counts

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
    if check_nodes and localhost_needed:
        run_id = new_run_id()
        try:
            node_ops.ensure_namespace(api, settings.namespace)
            configmap = node_ops.create_payload(api, settings, run_id, b"")
            found = node_ops.list_profiles(api, settings, run_id=run_id, configmap=configmap, nodes=every_node)
        finally:
            _quiet_delete_run(api, settings, run_id)
        for node, files in found.items():
            for path in files:
                presence.setdefault(path, set()).add(node)
    rows = []
    for obj in objects:
        meta = obj["metadata"]
        key = f"{wl.kind_of(obj)}/{meta['namespace']}/{meta['name']}"
        lock = wl.recording_lock(obj)
        recording = f"since {lock.get('since', '?')}" if lock else "no"
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
                )
            )
    defaults = {node: node_ops.seccomp_default(api, node) for node in every_node} if any(
        row.profile_type == "unset" for row in rows
    ) else {}
    return StatusReport(tuple(rows), defaults)


# -- cleanup ------------------------------------------------------------------


@dataclass(frozen=True)
class CleanupResult:
    objects_deleted: int
    files_removed: dict[str, list[str]]
    namespace_deleted: bool
    still_recording: tuple[str, ...]


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
        deleted = node_ops.delete_run_objects(api, settings)
        deleted += _delete_copy_jobs(api, reporter)
        removed: dict[str, list[str]] = {}
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
                        node_ops.run_on_nodes(
                            api,
                            settings,
                            role="remove",
                            run_id=run_id,
                            configmap=configmap,
                            commands={node: node_ops.shell_command(node_ops.remove_commands(doomed))},
                        )
                        removed[node] = doomed
            finally:
                _quiet_delete_run(api, settings, run_id)
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
    return CleanupResult(deleted, removed, namespace_deleted, tuple(still))


__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "CleanupResult",
    "ContainerInfo",
    "Reporter",
    "RollbackResult",
    "SeccompError",
    "StatusReport",
    "StatusRow",
    "apply",
    "apply_profiles",
    "cleanup",
    "rollback",
    "status",
]
