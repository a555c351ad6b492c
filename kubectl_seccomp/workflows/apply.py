"""The core of ``kubectl seccomp apply``: one validated profile file for the
chosen containers of an owner, installed, rolled out, rolled back if the pods
fail. No typer, no printing: progress goes through a Reporter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from kubectl_seccomp.errors import ProfileError, UsageError
from kubectl_seccomp.interrupts import shielded, sigterm_as_interrupt
from kubectl_seccomp.kube import owners
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.kube.workloads import Originals
from kubectl_seccomp.profile import Profile
from kubectl_seccomp.targets import DEPLOYMENT, JOB, POD
from kubectl_seccomp.workflows._common import Reporter, applied_path, check_owner, new_run_id, quiet_delete_run
from kubectl_seccomp.workflows._install import ApplyResult, apply_profiles, guard_for, owner_patch, wanted_settings
from kubectl_seccomp.workflows._modes import flag_refusal_explained
from kubectl_seccomp.workflows.sync import sync_profiles


@dataclass(frozen=True)
class ApplyOptions:
    namespace: str
    name: str
    profile_path: str
    containers: tuple[str, ...] = ()
    timeout: float = 300.0
    dry_run: bool = False
    server_dry_run: bool = False  # with dry_run: the API server checks the patch too (dryRun=All)
    node: NodeSettings = field(default_factory=NodeSettings)
    kind: str = DEPLOYMENT
    node_guard: bool = True
    mode: Optional[str] = None  # enforce or complain; None: the file as it is
    log_denials: bool = False  # enforce mode: SECCOMP_FILTER_FLAG_LOG, so denials are audited
    strict: bool = False  # syscall names no architecture has are an error, not a warning
    sync: bool = False  # also keep the profile on nodes that join later (the sync DaemonSet)


def load_profile(path: str, reporter: Reporter, strict: bool = False) -> Profile:
    """A profile file, validated, with warnings for what is legal but suspicious (``strict``: unknown names refused)."""
    from pathlib import Path

    profile = Profile.load(Path(path), strict=strict)
    if profile.default_action in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG") and not profile.rules:
        reporter.warn(f"{path} allows every syscall (defaultAction {profile.default_action})")
    if not profile.architectures:
        raise ProfileError(
            f"{path}: lists no architectures",
            hint="a profile without architectures does not filter the syscalls of any ABI",
        )
    unknown = profile.unknown_names_warning(path)
    if unknown:
        reporter.warn(unknown)
    return profile


def apply(api: KubeApi, options: ApplyOptions, reporter: Reporter) -> ApplyResult:
    """``kubectl seccomp apply``: one validated profile file for the chosen containers."""
    profile = load_profile(options.profile_path, reporter, options.strict)
    if options.mode is not None or options.log_denials:
        profile = profile.in_mode(options.mode or profile.mode, log_denials=options.log_denials)
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
            if options.server_dry_run:
                reporter.warn(f"a {options.kind}'s pod template cannot be patched: nothing to send to the server")
            manifest = wl.patched_manifest(owner, wanted)
            return ApplyResult(
                options.namespace, options.name, tuple(paths), paths, (), (), True, options.kind, manifest
            )
        keys = guard_for(owner, paths, options.node_guard)
        ops = owner_patch(owner, wanted, wl.current_originals(owner), keys)  # what apply_profiles sends
        if options.server_dry_run:  # admission and validation see it; nothing is stored, nothing on the nodes
            owners.patch(api, owner, ops, guard_version=True, dry_run=True)
        return ApplyResult(
            options.namespace, options.name, tuple(paths), paths, (), tuple(ops), True, options.kind,
            server_dry_run=options.server_dry_run,
        )  # fmt: skip
    before = wl.current_originals(owner)
    run_id = new_run_id()
    with sigterm_as_interrupt():
        result = _apply_and_clean(api, options, reporter, owner, profiles, before, run_id)
        if not options.sync:
            return result
        texts = {result.profiles[container]: profile.to_json() for container, profile in profiles.items()}
        synced = sync_profiles(api, options.node, texts, timeout=options.timeout, reporter=reporter)
        return dataclasses.replace(result, sync=synced.daemonset)


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
        with flag_refusal_explained(profiles.values()):
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
                guard=options.node_guard,
            )
    finally:
        with shielded(reporter.warn):
            quiet_delete_run(api, options.node, run_id)
