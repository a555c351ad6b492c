"""``apply --sync``: keep profiles on every node, also on nodes that join later,
with the sync DaemonSet (what it runs is in :mod:`kubectl_seccomp.kube.sync_pods`);
and its removal, which ``cleanup`` does.

Each ``apply --sync`` adds its profiles to the ones the DaemonSet already
keeps, drops the kept ones no pod or workload in the cluster refers to any
more, writes the ConfigMap, then points the DaemonSet at the new digests (a
change rolls it) and waits until every node's pod is Ready, that is, has
written the files and labelled its node.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_seccomp.kube import owners
from kubectl_seccomp.kube import sync_pods as sp
from kubectl_seccomp.kube.api import KubeApi
from kubectl_seccomp.kube.errors import Forbidden, KubeError, NotFound, RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings, ensure_namespace, tamper_error
from kubectl_seccomp.targets import DAEMONSET
from kubectl_seccomp.workflows._common import Reporter, agent_zipapp, profiles_in_use


@dataclass(frozen=True)
class SyncResult:
    daemonset: str  # namespace/name
    profiles: tuple[str, ...]  # every profile path it keeps on the nodes
    dropped: tuple[str, ...]  # kept before, referred to by nothing any more


def _kept(api: KubeApi, settings: NodeSettings) -> dict[str, str]:
    try:
        return sp.synced_profiles(api.get_support_object("ConfigMap", settings.namespace, sp.SYNC_NAME))
    except NotFound:
        return {}


def sync_profiles(
    api: KubeApi, settings: NodeSettings, profiles: dict[str, str], *, timeout: float, reporter: Reporter
) -> SyncResult:
    """Make the sync DaemonSet keep ``{profile path: text}`` (besides what it keeps and is still used)."""
    ensure_namespace(api, settings.namespace)
    kept = _kept(api, settings)
    dropped: list[str] = []
    stale = [path for path in kept if path not in profiles]
    if stale:
        try:
            used = profiles_in_use(api, None)
            dropped = [path for path in stale if path not in used]
        except Forbidden:
            reporter.warn("cannot list pods and workloads in all namespaces; the sync DaemonSet keeps every profile")
    wanted = {**{p: t for p, t in kept.items() if p not in dropped}, **profiles}
    reporter.phase(f"sync DaemonSet {sp.SYNC_NAME}: keeping {len(wanted)} profile(s) on every node")
    api.put_support_object("ServiceAccount", settings.namespace, sp.service_account(settings.namespace))
    api.put_support_object("ClusterRole", settings.namespace, sp.cluster_role())
    api.put_support_object("ClusterRoleBinding", settings.namespace, sp.cluster_role_binding(settings.namespace))
    body, payload = sp.sync_configmap(settings.namespace, agent_zipapp(), wanted)
    api.put_support_object("ConfigMap", settings.namespace, body)
    manifest = sp.sync_daemonset(settings, payload)
    try:
        api.get_object(DAEMONSET, settings.namespace, sp.SYNC_NAME)
        api.patch_object(
            DAEMONSET, settings.namespace, sp.SYNC_NAME, [{"op": "replace", "path": "/spec", "value": manifest["spec"]}]
        )
    except NotFound:
        api.create_object(DAEMONSET, settings.namespace, manifest)
    try:
        owners.wait_rollout(
            api, kind=DAEMONSET, namespace=settings.namespace, name=sp.SYNC_NAME, timeout=timeout,
            on_progress=reporter.rollout,
        )  # fmt: skip
    except RolloutFailed as error:
        _refuse_tampered(api, settings)
        raise RolloutFailed(
            f"the sync DaemonSet did not become ready on every node: {error.message}",
            hint=f"kubectl -n {settings.namespace} logs ds/{sp.SYNC_NAME}; `kubectl seccomp cleanup` removes it",
            evidence=error.evidence,
        ) from error
    return SyncResult(f"{settings.namespace}/{sp.SYNC_NAME}", tuple(sorted(wanted)), tuple(sorted(dropped)))


def _refuse_tampered(api: KubeApi, settings: NodeSettings) -> None:
    """Raise :class:`PayloadTampered` if a sync pod refused its ConfigMap."""
    pods = api.list_pods(settings.namespace, label_selector=",".join(f"{k}={v}" for k, v in sp.LABELS.items()))
    for pod in pods:
        for previous in (False, True):
            try:
                output = api.pod_log(settings.namespace, pod["metadata"]["name"], previous=previous)
            except KubeError:  # no previous container, or the pod went
                continue
            error = tamper_error(settings, f"the sync pod on node {pod['spec'].get('nodeName')}", output)
            if error is not None:
                raise error


def remove_sync(api: KubeApi, settings: NodeSettings, reporter: Reporter) -> int:
    """Delete the sync DaemonSet and what it needs; how many objects went (files and labels stay).

    A user without the rights of ``apply --sync`` gets a warning per object, not an error:
    ``cleanup`` goes on with what it may do.
    """
    count = 0
    for kind in (DAEMONSET, "ConfigMap", "ServiceAccount", "ClusterRoleBinding", "ClusterRole"):
        try:
            if kind == DAEMONSET:
                api.delete_object(DAEMONSET, settings.namespace, sp.SYNC_NAME)
            else:
                api.delete_support_object(kind, settings.namespace, sp.SYNC_NAME)
            count += 1
        except NotFound:
            pass
        except Forbidden:
            reporter.warn(f"may not delete {kind} {sp.SYNC_NAME} (apply --sync's rights, docs/rbac.md); left as it is")
    return count
