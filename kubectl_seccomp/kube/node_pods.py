"""Node pods, pure: their manifests, the shell scripts they run, names and labels.

Which host access each node job gets, and why, is in :mod:`.nodes` (which
creates these pods and reads their output).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Optional

from kubectl_seccomp.kube.payload import CONFIGMAP_DIR, Payload, verified
from kubectl_seccomp.observed import PLATFORM_ARCHES

Obj = dict[str, Any]

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "kubectl-seccomp"
RUN_LABEL = "kubectl-seccomp.io/run"
ROLE_LABEL = "kubectl-seccomp.io/role"
DEFAULT_NAMESPACE = "kubectl-seccomp"
DEFAULT_IMAGE = "docker.io/library/python:3.12-slim"
DEFAULT_SECCOMP_ROOT = "/var/lib/kubelet/seccomp"
PSA_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}
PAYLOAD_DIR = "/opt/kubectl-seccomp"
HOST_ROOT = "/host-seccomp"
AGENT_KEY = "agent.pyz"
# record hands its profiles to its agents through this annotation of their pods, which the
# kubelet keeps in a downward API file (see kubectl_seccomp.agent.handover)
HANDOVER_ANNOTATION = "kubectl-seccomp.io/handover"
HANDOVER_DIR = "/opt/kubectl-seccomp-handover"
HANDOVER_FILE = f"{HANDOVER_DIR}/request"


@dataclass(frozen=True)
class NodeSettings:
    """Where and how node pods run."""

    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_IMAGE
    seccomp_root: str = DEFAULT_SECCOMP_ROOT
    pod_timeout: float = 120.0


@dataclass(frozen=True)
class Node:
    name: str
    architecture: str


@dataclass(frozen=True)
class NodeResult:
    node: str
    output: str


def arch_names(nodes: list[Node]) -> list[str]:
    names: list[str] = []
    for node in nodes:
        names.extend(PLATFORM_ARCHES.get(node.architecture, ()))
    return list(dict.fromkeys(names))


def _pod_name(role: str, run_id: str, node: str) -> str:
    base = f"kubectl-seccomp-{role}-{run_id}-"
    tail = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in node.lower())
    return (base + tail)[:63].rstrip("-")


def node_pod(
    *,
    role: str,
    run_id: str,
    node: str,
    settings: NodeSettings,
    configmap: Payload,
    command: list[str],
    follow: bool = False,
    seccomp_mount: bool = False,
) -> Obj:
    """The pod manifest of one node job (see the module docstring for its host access).

    ``command`` runs only after the payload's keys were checked against the
    digests written into the pod's own command (see :mod:`.payload`), from the
    verified copy in ``PAYLOAD_DIR``.
    """
    volumes: list[Obj] = [
        {"name": "configmap", "configMap": {"name": configmap.name}},
        {"name": "payload", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    mounts: list[Obj] = [
        {"name": "configmap", "mountPath": CONFIGMAP_DIR, "readOnly": True},
        {"name": "payload", "mountPath": PAYLOAD_DIR},
    ]
    security: Obj = {
        "runAsUser": 0,
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "Unconfined"},
    }
    spec: Obj = {
        "nodeName": node,
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 10,
        "tolerations": [{"operator": "Exists"}],
        "volumes": volumes,
    }
    if follow:
        spec["hostPID"] = True
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
        security["privileged"] = True
        del security["allowPrivilegeEscalation"]
        volumes.append({"name": "audit", "hostPath": {"path": "/var/log/audit", "type": "DirectoryOrCreate"}})
        mounts.append({"name": "audit", "mountPath": "/var/log/audit", "readOnly": True})
    if seccomp_mount or not follow:
        volumes.append({"name": "seccomp", "hostPath": {"path": settings.seccomp_root, "type": "DirectoryOrCreate"}})
        mounts.append({"name": "seccomp", "mountPath": HOST_ROOT})
    metadata: Obj = {
        "name": _pod_name(role, run_id, node),
        "labels": {MANAGED_BY: MANAGER, RUN_LABEL: run_id, ROLE_LABEL: role},
    }
    if follow and seccomp_mount:  # a recording's agent: it takes the recorded profiles (handover)
        metadata["annotations"] = {HANDOVER_ANNOTATION: ""}
        field = f"metadata.annotations['{HANDOVER_ANNOTATION}']"
        volumes.append(
            {"name": "handover", "downwardAPI": {"items": [{"path": "request", "fieldRef": {"fieldPath": field}}]}}
        )
        mounts.append({"name": "handover", "mountPath": HANDOVER_DIR, "readOnly": True})
    spec["containers"] = [
        {
            "name": "agent",
            "image": settings.image,
            "imagePullPolicy": "IfNotPresent",
            "command": verified(command, configmap, PAYLOAD_DIR),
            "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}, {"name": "NODE_NAME", "value": node}],
            "securityContext": security,
            "volumeMounts": mounts,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        }
    ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def shell_command(script: str) -> list[str]:
    return ["sh", "-c", script]


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _waiting_problem(pod: Obj) -> Optional[str]:
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (entry.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in (
            "ErrImagePull",
            "ImagePullBackOff",
            "InvalidImageName",
            "CreateContainerError",
            "CreateContainerConfigError",
            "RunContainerError",
        ):
            return f"{waiting.get('reason')}: {waiting.get('message', '')}".strip()
    return None


LOG_KEY = "log.json"


INSTALLED = '{"event":"log-profile-installed"}'


REMOVED = '{"event":"log-profile-removed"}'


def follower_script(args: list[str], log_profile: Optional[str]) -> str:
    """The follower's shell: install the log profile, follow (and take handed-over profiles), and
    on SIGTERM stop and remove it.

    One pod does all of it so that a recording starts and ends without extra
    pod start-ups; the two marker lines tell the CLI what happened to the file.
    """
    agent = f"python3 {PAYLOAD_DIR}/{AGENT_KEY}"
    follow = f"{agent} follow {' '.join(_quote(arg) for arg in args)}"
    if log_profile is None:
        return f"exec {follow}"
    path = _quote(log_profile)
    remove = f"{agent} remove --root {HOST_ROOT} {path} && echo '{REMOVED}'"
    return (
        f"{agent} install --root {HOST_ROOT} {path} < {PAYLOAD_DIR}/{LOG_KEY} || exit 1\n"
        f"echo '{INSTALLED}'\n"
        f"{agent} handover --root {HOST_ROOT} --request {HANDOVER_FILE} &\n"
        "handover=$!\n"
        f"{follow} &\n"
        "child=$!\n"
        "stop() { kill -TERM $child $handover 2>/dev/null; wait $child $handover; "
        f"{remove}; exit 0; }}\n"
        "trap stop TERM INT\n"
        "wait $child\n"
        "kill -TERM $handover 2>/dev/null; wait $handover\n"
        f"{remove}\n"
    )


LIST_SCRIPT = (
    "import json,os,sys\n"
    "root=sys.argv[1]; out=[]\n"
    "for d,_,fs in os.walk(os.path.join(root,'kubectl-seccomp')):\n"
    "    out += [os.path.relpath(os.path.join(d,f),root) for f in fs if f.endswith('.json')]\n"
    "print(json.dumps(sorted(out)))\n"
)


def install_commands(names: dict[str, str]) -> str:
    """A shell script installing each ``{profile path: payload key}``."""
    steps = [
        f"python3 {PAYLOAD_DIR}/{AGENT_KEY} install --root {HOST_ROOT} {_quote(path)} < {PAYLOAD_DIR}/{key}"
        for path, key in names.items()
    ]
    return " && ".join(steps) if steps else "true"


def remove_commands(paths: list[str]) -> str:
    steps = [f"python3 {PAYLOAD_DIR}/{AGENT_KEY} remove --root {HOST_ROOT} {_quote(path)}" for path in paths]
    return " && ".join(steps) if steps else "true"


def _quote(text: str) -> str:
    return shlex.quote(text)
