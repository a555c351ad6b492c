"""Apply, roll back, show and clean up: the cores of ``apply``, ``rollback``,
``status`` and ``cleanup``, and the apply step that ``record`` ends with.

No typer, no printing: progress goes through a :class:`Reporter`, results are
frozen dataclasses, failures are :class:`~kubectl_seccomp.errors.SeccompError`
subclasses. Every change to the cluster made here is undone here if it fails
or is interrupted (see :func:`apply_profiles`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from kubectl_seccomp.errors import ProfileError, SeccompError, UsageError
from kubectl_seccomp.interrupts import shielded, sigterm_as_interrupt
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import Forbidden, KubeError, NotFound, RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.kube.workloads import ContainerInfo, Originals, RolloutProgress
from kubectl_seccomp.profile import Profile

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


def applied_path(namespace: str, deployment: str, container: str) -> str:
    """The ``localhostProfile`` of an applied profile."""
    return f"{PROFILE_DIR}/{namespace}/{deployment}-{container}.json"


def log_path(namespace: str, deployment: str) -> str:
    """The ``localhostProfile`` of the log profile used while recording."""
    return f"{PROFILE_DIR}/{namespace}/{deployment}-log.json"


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


@dataclass(frozen=True)
class ApplyResult:
    namespace: str
    deployment: str
    containers: tuple[str, ...]
    profiles: dict[str, str]  # container -> localhostProfile
    nodes: tuple[str, ...]
    patch: tuple[Obj, ...]
    dry_run: bool


def restore_settings(
    api: KubeApi, *, namespace: str, name: str, before: Originals, run_id: Optional[str], drop_original: bool
) -> Obj:
    """Give every container its ``before`` setting back; remove our lock (and the original annotation)."""
    deployment = api.get_deployment(namespace, name)
    settings: dict[tuple[str, bool], Any] = {}
    for info in wl.containers(deployment):
        saved = before.init_containers if info.init else before.containers
        if info.name in saved and info.seccomp != saved[info.name]:
            settings[(info.name, info.init)] = saved[info.name]
    changes: dict[str, Optional[str]] = {}
    lock = wl.recording_lock(deployment)
    if lock is not None and (run_id is None or lock.get("run") == run_id):
        changes[wl.RECORDING_ANNOTATION] = None
    if drop_original:
        changes[wl.ORIGINAL_ANNOTATION] = None
    ops = wl.seccomp_ops(deployment, settings) + wl.annotation_ops(deployment, changes)
    if not [op for op in ops if op["op"] != "test"]:
        return deployment
    return wl.patch(api, deployment, ops)


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
) -> ApplyResult:
    """Install ``{container: profile}`` on the nodes, point the containers at them, wait.

    On a failed rollout (or Ctrl-C) the containers get their ``before``
    settings back and we wait for that rollout too; then the error goes up,
    with the evidence of the failed pods.
    """
    deployment = api.get_deployment(namespace, name)
    eligible = node_ops.eligible_nodes(api, wl.pod_spec(deployment))
    if not eligible:
        raise KubeError(
            f"no Ready, schedulable node can run pods of deployment {name}", hint="kubectl get nodes"
        )
    paths = {container: applied_path(namespace, name, container) for container in profiles}
    reporter.phase(f"installing {len(paths)} profile(s) on {len(eligible)} node(s)")
    node_ops.ensure_namespace(api, settings.namespace)
    node_ops.install_profiles(
        api,
        settings,
        run_id=run_id,
        agent=agent or agent_zipapp(),
        nodes=[node.name for node in eligible],
        profiles={paths[c]: profile.to_json() for c, profile in profiles.items()},
    )
    wanted = {
        (info.name, info.init): wl.localhost(paths[info.name])
        for info in wl.containers(deployment)
        if info.name in paths
    }
    ops = wl.seccomp_ops(deployment, wanted)
    if wl.read_originals(deployment) is None:
        ops += wl.annotation_ops(deployment, {wl.ORIGINAL_ANNOTATION: before.to_json()})
    reporter.phase(f"pointing {', '.join(paths)} at the new profile(s) and waiting for the rollout")
    try:
        wl.patch(api, deployment, ops)
        wl.wait_rollout(api, namespace=namespace, name=name, timeout=timeout, on_progress=reporter.rollout)
    except (RolloutFailed, KeyboardInterrupt) as error:
        with shielded(reporter.warn):
            reporter.warn("rolling back to the previous settings")
            restore_settings(
                api,
                namespace=namespace,
                name=name,
                before=before,
                run_id=None,
                drop_original=drop_original_on_failure,
            )
            try:
                wl.wait_rollout(
                    api,
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
    return ApplyResult(
        namespace, name, tuple(paths), paths, tuple(n.name for n in eligible), tuple(ops), False
    )


def apply(api: KubeApi, options: ApplyOptions, reporter: Reporter) -> ApplyResult:
    """``kubectl seccomp apply``: one validated profile file for the chosen containers."""
    from pathlib import Path

    profile = Profile.load(Path(options.profile_path))
    if profile.default_action in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG") and not profile.rules:
        reporter.warn(f"{options.profile_path} allows every syscall (defaultAction {profile.default_action})")
    if not profile.architectures:
        raise ProfileError(
            f"{options.profile_path}: lists no architectures",
            hint="a profile without architectures does not filter the syscalls of any ABI",
        )
    unknown = profile.unknown_syscalls()
    if unknown:
        reporter.warn(f"{options.profile_path}: unknown syscall names (typos?): {', '.join(unknown[:10])}")
    deployment = wl.get_deployment(api, namespace=options.namespace, name=options.name)
    check_deployment(deployment)
    lock = wl.recording_lock(deployment)
    if lock is not None:
        raise UsageError(
            f"deployment {options.name} is being recorded (since {lock.get('since', '?')} by "
            f"{lock.get('host', '?')})",
            hint=f"wait for it, or if that recording was killed: kubectl seccomp rollback deploy/{options.name}",
        )
    selected = wl.select_containers(deployment, options.containers)
    profiles = {info.name: profile for info in selected}
    if options.dry_run:
        paths = {c: applied_path(options.namespace, options.name, c) for c in profiles}
        wanted = {(info.name, info.init): wl.localhost(paths[info.name]) for info in selected}
        ops = wl.seccomp_ops(deployment, wanted)
        if wl.read_originals(deployment) is None:
            ops += wl.annotation_ops(
                deployment, {wl.ORIGINAL_ANNOTATION: wl.current_originals(deployment).to_json()}
            )
        return ApplyResult(options.namespace, options.name, tuple(paths), paths, (), tuple(ops), True)
    before = wl.current_originals(deployment)
    run_id = new_run_id()
    with sigterm_as_interrupt():
        return _apply_and_clean(api, options, reporter, deployment, profiles, before, run_id)


def _apply_and_clean(
    api: KubeApi,
    options: ApplyOptions,
    reporter: Reporter,
    deployment: Obj,
    profiles: dict[str, Profile],
    before: Originals,
    run_id: str,
) -> ApplyResult:
    try:
        return apply_profiles(
            api,
            namespace=options.namespace,
            name=options.name,
            profiles=profiles,
            settings=options.node,
            timeout=options.timeout,
            reporter=reporter,
            run_id=run_id,
            before=before,
            drop_original_on_failure=wl.read_originals(deployment) is None,
        )
    finally:
        with shielded(reporter.warn):
            _quiet_delete_run(api, options.node, run_id)


def _quiet_delete_run(api: KubeApi, settings: NodeSettings, run_id: str) -> None:
    with contextlib.suppress(KubeError):
        node_ops.delete_run_objects(api, settings, run_id)


def check_deployment(deployment: Obj) -> None:
    name = deployment["metadata"]["name"]
    if deployment.get("spec", {}).get("paused"):
        raise UsageError(
            f"deployment {name} is paused: its pods would not roll",
            hint=f"kubectl rollout resume deploy/{name}",
        )
    if int(deployment.get("spec", {}).get("replicas", 1)) == 0:
        raise UsageError(
            f"deployment {name} has 0 replicas: nothing would run to record or check",
            hint=f"kubectl scale deploy/{name} --replicas=1",
        )


# -- rollback -----------------------------------------------------------------


@dataclass(frozen=True)
class RollbackResult:
    namespace: str
    deployment: str
    restored: dict[str, Any]  # container -> setting restored (None: unset)
    was_recording: bool


def rollback(
    api: KubeApi, *, namespace: str, name: str, timeout: float, reporter: Reporter
) -> RollbackResult:
    """Back to the settings saved before the plugin first changed the Deployment."""
    deployment = wl.get_deployment(api, namespace=namespace, name=name)
    originals = wl.read_originals(deployment)
    lock = wl.recording_lock(deployment)
    if originals is None:
        if lock is not None:
            wl.patch(api, deployment, wl.annotation_ops(deployment, {wl.RECORDING_ANNOTATION: None}))
            return RollbackResult(namespace, name, {}, True)
        raise NotFound(
            f"deployment {name} has no settings saved by kubectl seccomp (annotation {wl.ORIGINAL_ANNOTATION})",
            hint="it was never changed by this plugin, or was rolled back already",
        )
    ops = wl.restore_ops(deployment, originals)
    restored = {
        info.name: (originals.init_containers if info.init else originals.containers).get(info.name)
        for info in wl.containers(deployment)
        if info.name in (originals.init_containers if info.init else originals.containers)
    }
    reporter.phase(f"restoring the original seccomp settings of deployment {name}")
    with shielded(reporter.warn):
        wl.patch(api, deployment, ops)
    wl.wait_rollout(
        api, namespace=namespace, name=name, timeout=timeout, on_progress=reporter.rollout, fail_fast=False
    )
    return RollbackResult(namespace, name, restored, lock is not None)


# -- status -------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    namespace: str
    deployment: str
    container: str
    init: bool
    profile_type: str
    profile: str
    recording: str
    nodes_present: Optional[int]
    nodes_eligible: Optional[int]
    changed_by_us: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "deployment": self.deployment,
            "container": self.container,
            "init": self.init,
            "type": self.profile_type,
            "profile": self.profile,
            "recording": self.recording,
            "nodesPresent": self.nodes_present,
            "nodesEligible": self.nodes_eligible,
            "managed": self.changed_by_us,
        }


def status(
    api: KubeApi,
    *,
    namespace: Optional[str],
    name: Optional[str],
    settings: NodeSettings,
    check_nodes: bool,
    reporter: Reporter,
) -> list[StatusRow]:
    """One row per container of the Deployment(s)."""
    if name is not None:
        assert namespace is not None
        deployments = [wl.get_deployment(api, namespace=namespace, name=name)]
    else:
        deployments = sorted(
            api.list_deployments(namespace), key=lambda d: (d["metadata"]["namespace"], d["metadata"]["name"])
        )
    presence: dict[str, set[str]] = {}
    eligible_by_deploy: dict[str, list[str]] = {}
    localhost_needed = False
    for deployment in deployments:
        for info in wl.containers(deployment):
            setting = wl.effective_seccomp(deployment, info) or {}
            if setting.get("type") == "Localhost":
                localhost_needed = True
    if check_nodes and localhost_needed:
        all_nodes = node_ops.all_nodes(api)
        run_id = new_run_id()
        try:
            node_ops.ensure_namespace(api, settings.namespace)
            configmap = node_ops.create_payload(api, settings, run_id, b"")
            found = node_ops.list_profiles(
                api, settings, run_id=run_id, configmap=configmap, nodes=[node.name for node in all_nodes]
            )
        finally:
            _quiet_delete_run(api, settings, run_id)
        for node, files in found.items():
            for path in files:
                presence.setdefault(path, set()).add(node)
    rows = []
    for deployment in deployments:
        meta = deployment["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        lock = wl.recording_lock(deployment)
        recording = f"since {lock.get('since', '?')}" if lock else "no"
        for info in wl.containers(deployment):
            setting = wl.effective_seccomp(deployment, info) or {}
            kind = setting.get("type") or "unset"
            profile = setting.get("localhostProfile", "") if kind == "Localhost" else ""
            present = eligible = None
            if check_nodes and kind == "Localhost":
                if key not in eligible_by_deploy:
                    eligible_by_deploy[key] = [
                        n.name for n in node_ops.eligible_nodes(api, wl.pod_spec(deployment))
                    ]
                names = eligible_by_deploy[key]
                eligible = len(names)
                present = len(presence.get(profile, set()) & set(names))
            rows.append(
                StatusRow(
                    meta["namespace"],
                    meta["name"],
                    info.name,
                    info.init,
                    kind,
                    profile,
                    recording,
                    present,
                    eligible,
                    wl.read_originals(deployment) is not None,
                )
            )
    return rows


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
    """Remove our pods, ConfigMaps, log profiles (and with ``profiles`` every file of ours) and namespace."""
    still: list[str] = []
    try:
        for deployment in api.list_deployments(None):
            if wl.recording_lock(deployment) is not None:
                meta = deployment["metadata"]
                still.append(f"{meta['namespace']}/{meta['name']}")
    except Forbidden:
        reporter.warn("cannot list Deployments in all namespaces; not checking for interrupted recordings")
    for item in still:
        reporter.warn(
            f"deployment {item} still carries a recording lock: run `kubectl seccomp rollback "
            f"deploy/{item.split('/', 1)[1]} -n {item.split('/', 1)[0]}` first"
        )
    with shielded(reporter.warn):
        reporter.phase("deleting node pods and ConfigMaps of kubectl seccomp")
        deleted = node_ops.delete_run_objects(api, settings)
        removed: dict[str, list[str]] = {}
        nodes = [node.name for node in node_ops.all_nodes(api)]
        if nodes:
            reporter.phase(f"looking for profile files on {len(nodes)} node(s)")
            run_id = new_run_id()
            node_ops.ensure_namespace(api, settings.namespace)
            try:
                configmap = node_ops.create_payload(api, settings, run_id, agent_zipapp())
                found = node_ops.list_profiles(api, settings, run_id=run_id, configmap=configmap, nodes=nodes)
                for node, files in found.items():
                    doomed = [f for f in files if profiles or f.endswith("-log.json")]
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
    "StatusRow",
    "apply",
    "apply_profiles",
    "cleanup",
    "rollback",
    "status",
]
