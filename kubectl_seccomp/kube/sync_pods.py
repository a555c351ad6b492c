"""The sync DaemonSet, pure: its ConfigMap, its pod template, and the service
account and ClusterRole its pods label their node with (``apply --sync``).

One DaemonSet, ``kubectl-seccomp-sync`` in the agent namespace, keeps every
profile of one ConfigMap (also ``kubectl-seccomp-sync``) on every node,
including nodes that join later: its pod runs the agent's ``sync`` verb, which
writes the files into the kubelet's seccomp directory and then sets the node
guard's labels (:mod:`.guard`) on its own node, so guarded pods may schedule
there as soon as the file exists, and never before.

The pod is built like the other node pods (:func:`.node_pods.node_pod`: the
same image, the seccomp directory as its only host mount, the same payload
check) with what a DaemonSet needs instead of ``nodeName``: every taint
tolerated, restarts, ``NODE_NAME`` from the downward API, and a service
account whose token may patch nodes and nothing else. Its command carries the
sha256 of each ConfigMap key it expects (and its template the sha256 of them
all, as an annotation), so a ConfigMap changed by anyone but us is refused,
and each ``apply --sync`` that changes the profiles rolls the pods.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from kubectl_seccomp.kube.guard import label_key
from kubectl_seccomp.kube.node_pods import (
    AGENT_KEY,
    HOST_ROOT,
    MANAGED_BY,
    MANAGER,
    PAYLOAD_DIR,
    ROLE_LABEL,
    NodeSettings,
    node_pod,
)
from kubectl_seccomp.kube.payload import Payload, payload_of

Obj = dict[str, Any]

SYNC_NAME = "kubectl-seccomp-sync"
SYNC_ROLE = "sync"
INDEX_KEY = "index.json"
READY_FILE = f"{PAYLOAD_DIR}/.synced"
PAYLOAD_ANNOTATION = "kubectl-seccomp.io/payload-sha256"
LABELS = {MANAGED_BY: MANAGER, ROLE_LABEL: SYNC_ROLE}


def profile_key(path: str) -> str:
    """The ConfigMap key holding the text of the profile file ``path`` (keys cannot hold '/')."""
    return "p-" + hashlib.sha256(path.encode("utf-8")).hexdigest()[:16] + ".json"


def synced_profiles(configmap: Obj) -> dict[str, str]:
    """``{profile path: text}`` an existing sync ConfigMap holds (empty if it is not ours or unreadable)."""
    data = configmap.get("data") or {}
    try:
        index = json.loads(data.get(INDEX_KEY) or "{}")
    except ValueError:
        return {}
    if not isinstance(index, dict):
        return {}
    found: dict[str, str] = {}
    for path, entry in index.items():
        key = entry.get("key") if isinstance(entry, dict) else None
        if isinstance(key, str) and isinstance(data.get(key), str):
            found[str(path)] = data[key]
    return found


def sync_configmap(namespace: str, agent: bytes, profiles: dict[str, str]) -> tuple[Obj, Payload]:
    """The ConfigMap body for ``{profile path: text}`` and the digests the pods will check."""
    index = {path: {"key": profile_key(path), "label": label_key(path)} for path in sorted(profiles)}
    data = {INDEX_KEY: json.dumps(index, sort_keys=True, indent=1)}
    data.update({profile_key(path): text for path, text in profiles.items()})
    binary = {AGENT_KEY: base64.b64encode(agent).decode("ascii")}
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": SYNC_NAME, "namespace": namespace, "labels": dict(LABELS)},
        "binaryData": binary,
        "data": data,
    }
    return body, payload_of(SYNC_NAME, binary, data)


def payload_digest(payload: Payload) -> str:
    """One sha256 over the digests of every key: what the pod template says it expects."""
    return hashlib.sha256(json.dumps(payload.digests).encode("utf-8")).hexdigest()


def sync_daemonset(settings: NodeSettings, payload: Payload) -> Obj:
    """The DaemonSet whose pods install ``payload``'s profiles on every node and label it."""
    command = [
        "python3", f"{PAYLOAD_DIR}/{AGENT_KEY}", "sync", "--root", HOST_ROOT,
        "--payload", PAYLOAD_DIR, "--index", f"{PAYLOAD_DIR}/{INDEX_KEY}", "--ready-file", READY_FILE,
    ]  # fmt: skip
    pod = node_pod(role=SYNC_ROLE, run_id=SYNC_ROLE, node="", settings=settings, configmap=payload, command=command)
    spec: Obj = pod["spec"]
    del spec["nodeName"]  # the DaemonSet controller places one pod per node, also on nodes that join later
    spec["restartPolicy"] = "Always"
    spec["serviceAccountName"] = SYNC_NAME
    spec["automountServiceAccountToken"] = True  # the token that labels the node
    container: Obj = spec["containers"][0]
    container["env"] = [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]
    # Ready once the files are written and the node labelled: the rollout's end means every node holds them
    container["readinessProbe"] = {"exec": {"command": ["test", "-e", READY_FILE]}, "periodSeconds": 2}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": SYNC_NAME, "namespace": settings.namespace, "labels": dict(LABELS)},
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            # a restarting pod leaves files and labels in place: no reason to roll one node at a time
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {
                "metadata": {"labels": dict(LABELS), "annotations": {PAYLOAD_ANNOTATION: payload_digest(payload)}},
                "spec": spec,
            },
        },
    }


def service_account(namespace: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SYNC_NAME, "namespace": namespace, "labels": dict(LABELS)},
        "automountServiceAccountToken": False,  # only the sync pods mount it, and they ask for it
    }


def cluster_role() -> Obj:
    """Patch nodes, nothing else: RBAC cannot name nodes that do not exist yet, nor limit the fields."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": SYNC_NAME, "labels": dict(LABELS)},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]}],
    }


def cluster_role_binding(namespace: str) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": SYNC_NAME, "labels": dict(LABELS)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SYNC_NAME},
        "subjects": [{"kind": "ServiceAccount", "name": SYNC_NAME, "namespace": namespace}],
    }
