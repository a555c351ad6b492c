"""The core of ``kubectl seccomp rollback``: the settings saved before the
plugin first changed an owner, put back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from kubectl_seccomp.interrupts import shielded
from kubectl_seccomp.kube import guard as node_guard
from kubectl_seccomp.kube import owners
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi
from kubectl_seccomp.kube.errors import NotFound
from kubectl_seccomp.targets import DEPLOYMENT, JOB, POD
from kubectl_seccomp.workflows._common import Reporter


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
    ops = wl.restore_ops(owner, originals) + node_guard.affinity_ops(owner, [])  # the node guard goes too
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
