"""What the workflows share: the Reporter they talk through, run ids, where
profile files live on the nodes, the recording lock's value, and the checks
and look-ups every command core makes on an owner.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import time
from typing import Optional, Protocol

from kubectl_seccomp.errors import SeccompError, UsageError
from kubectl_seccomp.kube import node_labels, owners
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import KubeError, NotFound
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.kube.workloads import RolloutProgress
from kubectl_seccomp.modes import mode_suffix
from kubectl_seccomp.targets import DEPLOYMENT, KINDS, POD, REPLICASET, Target, short_name

PROFILE_DIR = "kubectl-seccomp"
# How long after an agent named a container ID we did not know its pods are listed again for it.
# The first calls of a container (runc's init) are read before the kubelet reports its ID, and a
# quiet container makes no more; IDs still unknown after this are of containers not ours.
ID_LOOKUP_WINDOW = 30.0


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
    starts: rewriting a file in place would reach no running pod). A profile
    in complain mode ends in ``-complain.json`` (see :mod:`kubectl_seccomp.modes`).
    """
    digest = hashlib.sha256(content.encode()).hexdigest()[:10]
    return f"{PROFILE_DIR}/{namespace}/{owner}-{container}-{digest}{mode_suffix(content)}.json"


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


def profiles_in_use(api: KubeApi, namespace: Optional[str]) -> set[str]:
    """Every ``localhostProfile`` a pod or a pod-template owner refers to (in a namespace, or all).

    A terminating or finished pod does not count: the kubelet reads the file
    only when a container starts, and such a pod starts none any more.
    """
    used: set[str] = set()
    objects = [pod for pod in api.list_pods(namespace) if not wl.pod_done(pod)]
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
            every_node = [n.name for n in node_ops.all_nodes(api)]
            node_labels.unmark(api, every_node, unused)  # the label goes first: no label without its file
            node_ops.remove_profiles(
                api, settings, run_id=run_id, agent=agent or agent_zipapp(), nodes=every_node, paths=unused
            )
        return tuple(unused)
    except SeccompError as error:
        reporter.warn(f"could not remove the previous profile file(s): {error.message}; `kubectl seccomp cleanup` will")
        return ()


def check_owner(api: KubeApi, owner: Obj) -> None:
    """Refuse owners we cannot (or must not) change: managed by another object, or that would not roll."""
    owners.refuse_controlled(api, owner)  # its controller would undo our change
    if wl.kind_of(owner) == REPLICASET:
        raise UsageError(
            f"replicaset {owner['metadata']['name']} has no Deployment: kubectl seccomp changes Deployments, "
            "StatefulSets, DaemonSets, Jobs, CronJobs and Pods",
            hint="manage its pods with a Deployment",
        )
    if wl.kind_of(owner) in wl.ROLLING_KINDS:
        wl.check_rollable(owner)


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


def quiet_delete_run(api: KubeApi, settings: NodeSettings, run_id: str) -> None:
    with contextlib.suppress(KubeError):
        node_ops.delete_run_objects(api, settings, run_id)
