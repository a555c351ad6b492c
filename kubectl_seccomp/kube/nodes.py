"""Work on the nodes, done by short-lived pods of ours pinned to each node.

Why pods and not a DaemonSet: a DaemonSet stays on every node while it
exists, needs a rollout of its own and leaves something to clean up when the
CLI dies; short-lived pods pinned with ``nodeName`` start on exactly the
nodes we need, skip the scheduler (so no taint or cordon can keep them away;
tolerations cover eviction), and each is deleted when its job is done.

Each pod gets the smallest host access its job needs:

- ``install``/``remove``/``list`` pods: a hostPath mount of the kubelet's
  seccomp directory only, running the agent zipapp from a ConfigMap.
- ``follow`` pods: ``hostPID`` (to read ``/proc/PID/cgroup`` of the traced
  processes), ``hostNetwork`` (the audit netlink socket exists only in the
  host network namespace) and ``privileged``: CAP_AUDIT_READ and
  CAP_NET_ADMIN alone serve the netlink source, but a node whose kubelet
  runs outside the initial network namespace, or a kernel without the
  multicast group, leaves only ``/dev/kmsg``, a device that only a
  privileged container sees; plus a read-only hostPath of
  ``/var/log/audit`` for the audit.log source. With a log profile to manage
  (``record``), also the seccomp directory: the pod installs the profile
  before it follows and removes it on SIGTERM (:func:`follower_script`),
  which saves two pod start-ups per node and recording.

The agent zipapp and the profiles to install travel in one ConfigMap per run
(``binaryData``), so nothing needs a registry or a custom image: any image
with ``python3`` (``--image``) works. Everything is labelled with
``app.kubernetes.io/managed-by=kubectl-seccomp`` and the run's id, which is
how ``cleanup`` finds leftovers of a killed CLI.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any, Optional

from kubectl_seccomp.kube.api import KubeApi, LogStream, Obj
from kubectl_seccomp.kube.errors import Conflict, KubeError, NodeCommandFailed, NotFound

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

# Kubernetes' node architecture -> our architecture names for a log profile
# (the 64-bit one and its compat ABI, as runtimes' default profiles list them).
NODE_ARCHES = {
    "amd64": ("x86_64", "i386"),
    "arm64": ("aarch64", "arm"),
    "arm": ("arm",),
    "386": ("i386",),
    "ppc64le": ("ppc64le",),
    "s390x": ("s390x",),
    "riscv64": ("riscv64",),
}


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


def _ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def eligible_nodes(api: KubeApi, pod_spec: Obj) -> list[Node]:
    """Nodes a pod of this template can land on: Ready, schedulable, matching nodeSelector.

    Affinity and taints are not evaluated: a superset costs one idle pod per
    extra node, a subset would miss pods.
    """
    selector = pod_spec.get("nodeSelector") or {}
    result = []
    for node in api.list_nodes():
        labels = node["metadata"].get("labels") or {}
        if not _ready(node) or (node.get("spec") or {}).get("unschedulable"):
            continue
        if any(labels.get(key) != value for key, value in selector.items()):
            continue
        arch = ((node.get("status") or {}).get("nodeInfo") or {}).get("architecture") or labels.get(
            "kubernetes.io/arch", "amd64"
        )
        result.append(Node(node["metadata"]["name"], arch))
    return sorted(result, key=lambda n: n.name)


def arch_names(nodes: list[Node]) -> list[str]:
    names: list[str] = []
    for node in nodes:
        names.extend(NODE_ARCHES.get(node.architecture, ()))
    return list(dict.fromkeys(names))


def ensure_namespace(api: KubeApi, name: str, *, timeout: float = 90.0) -> None:
    """Create our namespace (privileged for Pod Security Admission) or fix its labels."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            namespace = api.get_namespace(name)
        except NotFound:
            try:
                api.create_namespace(
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": name, "labels": {**PSA_LABELS, MANAGED_BY: MANAGER}},
                    }
                )
                return
            except Conflict:
                continue
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            if time.monotonic() > deadline:
                raise Conflict(f"namespace {name} is still being deleted", hint="wait a minute and run again")
            time.sleep(1.0)
            continue
        labels = namespace["metadata"].get("labels") or {}
        if labels.get("pod-security.kubernetes.io/enforce") != "privileged":
            ops: list[Obj]
            if "labels" in namespace["metadata"]:
                ops = [
                    {
                        "op": "add",
                        "path": "/metadata/labels/pod-security.kubernetes.io~1enforce",
                        "value": "privileged",
                    }
                ]
            else:
                ops = [
                    {
                        "op": "add",
                        "path": "/metadata/labels",
                        "value": {"pod-security.kubernetes.io/enforce": "privileged"},
                    }
                ]
            api.patch_namespace(name, ops)
        return


def create_payload(
    api: KubeApi, settings: NodeSettings, run_id: str, agent: bytes, files: Optional[dict[str, str]] = None
) -> str:
    """The run's ConfigMap: the agent zipapp and the profile texts (keys f0, f1, ...)."""
    name = f"kubectl-seccomp-{run_id}"
    binary: dict[str, str] = {AGENT_KEY: base64.b64encode(agent).decode("ascii")}
    api.create_configmap(
        settings.namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {MANAGED_BY: MANAGER, RUN_LABEL: run_id}},
            "binaryData": binary,
            "data": dict(files or {}),
        },
    )
    return name


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
    configmap: str,
    command: list[str],
    follow: bool = False,
    seccomp_mount: bool = False,
) -> Obj:
    """The pod manifest of one node job (see the module docstring for its host access)."""
    volumes: list[Obj] = [{"name": "payload", "configMap": {"name": configmap}}]
    mounts: list[Obj] = [{"name": "payload", "mountPath": PAYLOAD_DIR, "readOnly": True}]
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
        volumes.append(
            {"name": "seccomp", "hostPath": {"path": settings.seccomp_root, "type": "DirectoryOrCreate"}}
        )
        mounts.append({"name": "seccomp", "mountPath": HOST_ROOT})
    spec["containers"] = [
        {
            "name": "agent",
            "image": settings.image,
            "imagePullPolicy": "IfNotPresent",
            "command": command,
            "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}, {"name": "NODE_NAME", "value": node}],
            "securityContext": security,
            "volumeMounts": mounts,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": _pod_name(role, run_id, node),
            "labels": {MANAGED_BY: MANAGER, RUN_LABEL: run_id, ROLE_LABEL: role},
        },
        "spec": spec,
    }


def agent_command(*args: str) -> list[str]:
    return ["python3", f"{PAYLOAD_DIR}/{AGENT_KEY}", *args]


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


def run_on_nodes(
    api: KubeApi,
    settings: NodeSettings,
    *,
    role: str,
    run_id: str,
    configmap: str,
    commands: dict[str, list[str]],
) -> list[NodeResult]:
    """Run one command per node (``{node: command}``) in parallel pods; their output, or an error."""
    created: list[tuple[str, str]] = []
    try:
        for node, command in commands.items():
            body = node_pod(
                role=role, run_id=run_id, node=node, settings=settings, configmap=configmap, command=command
            )
            api.create_pod(settings.namespace, body)
            created.append((node, body["metadata"]["name"]))
        results = []
        deadline = time.monotonic() + settings.pod_timeout
        pending = dict(created)
        outputs: dict[str, str] = {}
        while pending:
            for node, name in list(pending.items()):
                pod = api.get_pod(settings.namespace, name)
                phase = _phase(pod)
                problem = _waiting_problem(pod)
                if phase in ("Succeeded", "Failed") or problem:
                    try:
                        output = api.pod_log(settings.namespace, name)
                    except Exception:  # a pod that never started has no log
                        output = ""
                    if phase != "Succeeded":
                        detail = problem or (output.strip().splitlines() or ["no output"])[-1]
                        raise NodeCommandFailed(
                            f"{role} on node {node} failed: {detail}",
                            hint=f"kubectl -n {settings.namespace} describe pod {name}; "
                            "--image must name an image with python3 that the node has or can pull",
                        )
                    outputs[node] = output
                    del pending[node]
            if pending and time.monotonic() > deadline:
                raise NodeCommandFailed(
                    f"{role} pods did not finish within {settings.pod_timeout:.0f}s on "
                    f"{', '.join(sorted(pending))}",
                    hint=f"kubectl -n {settings.namespace} get pods -l {RUN_LABEL}={run_id}",
                )
            if pending:
                time.sleep(0.3)
        for node, _name in created:
            results.append(NodeResult(node, outputs[node]))
        return results
    finally:
        for _node, name in created:
            delete_pod_quietly(api, settings.namespace, name, grace_seconds=0)


def delete_pod_quietly(api: KubeApi, namespace: str, name: str, grace_seconds: Optional[int] = None) -> None:
    with contextlib.suppress(NotFound):
        api.delete_pod(namespace, name, grace_seconds=grace_seconds)


LOG_KEY = "log.json"
INSTALLED = '{"event":"log-profile-installed"}'
REMOVED = '{"event":"log-profile-removed"}'


def follower_script(args: list[str], log_profile: Optional[str]) -> str:
    """The follower's shell: install the log profile, follow, and on SIGTERM stop and remove it.

    One pod does all three so that a recording starts and ends without extra
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
        f"{follow} &\n"
        "child=$!\n"
        f"stop() {{ kill -TERM $child 2>/dev/null; wait $child; {remove}; exit 0; }}\n"
        "trap stop TERM INT\n"
        "wait $child\n"
        f"{remove}\n"
    )


def start_follower(
    api: KubeApi,
    settings: NodeSettings,
    *,
    run_id: str,
    node: str,
    configmap: str,
    args: list[str],
    log_profile: Optional[str] = None,
) -> str:
    """Start the agent's ``follow`` on ``node``; with ``log_profile`` (its text is the
    payload's ``log.json``) the pod installs it first and removes it when deleted."""
    body = node_pod(
        role="follow",
        run_id=run_id,
        node=node,
        settings=settings,
        configmap=configmap,
        command=shell_command(follower_script(args, log_profile)),
        follow=True,
        seccomp_mount=log_profile is not None,
    )
    api.create_pod(settings.namespace, body)
    return str(body["metadata"]["name"])


def delete_pods_gracefully(api: KubeApi, namespace: str, names: list[str]) -> None:
    for name in names:
        delete_pod_quietly(api, namespace, name)


def wait_running(api: KubeApi, settings: NodeSettings, name: str) -> None:
    """Wait until a follower pod's container runs (its log can then be followed)."""
    deadline = time.monotonic() + settings.pod_timeout
    while True:
        pod = api.get_pod(settings.namespace, name)
        phase = _phase(pod)
        problem = _waiting_problem(pod)
        if phase == "Running":
            return
        if phase in ("Succeeded", "Failed") or problem:
            try:
                output = api.pod_log(settings.namespace, name, tail_lines=5).strip()
            except Exception:
                output = ""
            raise NodeCommandFailed(
                f"node agent pod {name} stopped before tracing: {problem or phase} {output}".strip(),
                hint=f"kubectl -n {settings.namespace} describe pod {name}; "
                "--image must name an image with python3 that the node has or can pull",
            )
        if time.monotonic() > deadline:
            raise NodeCommandFailed(
                f"node agent pod {name} did not start within {settings.pod_timeout:.0f}s",
                hint=f"kubectl -n {settings.namespace} describe pod {name}",
            )
        time.sleep(0.3)


def follow(api: KubeApi, settings: NodeSettings, name: str) -> LogStream:
    return api.follow_pod_log(settings.namespace, name)


def our_pods(api: KubeApi, settings: NodeSettings, run_id: Optional[str] = None) -> list[Obj]:
    selector = f"{MANAGED_BY}={MANAGER}" + (f",{RUN_LABEL}={run_id}" if run_id else "")
    try:
        return api.list_pods(settings.namespace, label_selector=selector)
    except NotFound:
        return []


def our_configmaps(api: KubeApi, settings: NodeSettings, run_id: Optional[str] = None) -> list[Obj]:
    selector = f"{MANAGED_BY}={MANAGER}" + (f",{RUN_LABEL}={run_id}" if run_id else "")
    try:
        return api.list_configmaps(settings.namespace, selector)
    except NotFound:
        return []


def delete_run_objects(api: KubeApi, settings: NodeSettings, run_id: Optional[str] = None) -> int:
    """Delete our pods and ConfigMaps (of one run, or all); how many objects went."""
    count = 0
    for pod in our_pods(api, settings, run_id):
        delete_pod_quietly(api, settings.namespace, pod["metadata"]["name"], grace_seconds=0)
        count += 1
    for configmap in our_configmaps(api, settings, run_id):
        try:
            api.delete_configmap(settings.namespace, configmap["metadata"]["name"])
            count += 1
        except NotFound:
            pass
    return count


LIST_SCRIPT = (
    "import json,os,sys\n"
    "root=sys.argv[1]; out=[]\n"
    "for d,_,fs in os.walk(os.path.join(root,'kubectl-seccomp')):\n"
    "    out += [os.path.relpath(os.path.join(d,f),root) for f in fs if f.endswith('.json')]\n"
    "print(json.dumps(sorted(out)))\n"
)


def list_profiles(
    api: KubeApi, settings: NodeSettings, *, run_id: str, configmap: str, nodes: list[str]
) -> dict[str, list[str]]:
    """The profile files under ``kubectl-seccomp/`` on each node."""
    command = ["python3", "-c", LIST_SCRIPT, HOST_ROOT]
    results = run_on_nodes(
        api,
        settings,
        role="list",
        run_id=run_id,
        configmap=configmap,
        commands={node: command for node in nodes},
    )
    found: dict[str, list[str]] = {}
    for result in results:
        lines = [line for line in result.output.strip().splitlines() if line.startswith("[")]
        try:
            found[result.node] = list(json.loads(lines[-1])) if lines else []
        except ValueError as error:
            raise NodeCommandFailed(
                f"list on node {result.node}: unexpected output {result.output[:200]!r}"
            ) from error
    return found


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
    import shlex

    return shlex.quote(text)


def install_profiles(
    api: KubeApi,
    settings: NodeSettings,
    *,
    run_id: str,
    agent: bytes,
    nodes: list[str],
    profiles: dict[str, str],
) -> None:
    """Put ``{localhost path: profile JSON}`` on every node, atomically per file."""
    keys = {path: f"f{index}.json" for index, path in enumerate(profiles)}
    _run_with_payload(
        api,
        settings,
        role="install",
        configmap_name=f"{run_id}-i",
        run_id=run_id,
        agent=agent,
        files={key: profiles[path] for path, key in keys.items()},
        commands={node: shell_command(install_commands(keys)) for node in nodes},
    )


def remove_profiles(
    api: KubeApi, settings: NodeSettings, *, run_id: str, agent: bytes, nodes: list[str], paths: list[str]
) -> None:
    """Delete the profiles at ``paths`` (localhost paths) from every node."""
    _run_with_payload(
        api,
        settings,
        role="remove",
        configmap_name=f"{run_id}-r",
        run_id=run_id,
        agent=agent,
        files=None,
        commands={node: shell_command(remove_commands(paths)) for node in nodes},
    )


def _run_with_payload(
    api: KubeApi,
    settings: NodeSettings,
    *,
    role: str,
    configmap_name: str,
    run_id: str,
    agent: bytes,
    files: Optional[dict[str, str]],
    commands: dict[str, list[str]],
) -> None:
    """Ship the agent (and ``files``) in a ConfigMap, run ``commands`` on their nodes, delete the ConfigMap."""
    configmap = create_payload(api, settings, configmap_name, agent, files)
    try:
        run_on_nodes(api, settings, role=role, run_id=run_id, configmap=configmap, commands=commands)
    finally:
        with contextlib.suppress(NotFound):
            api.delete_configmap(settings.namespace, configmap)


def all_nodes(api: KubeApi) -> list[Node]:
    """Every Ready node that takes pods (cordoned and NotReady nodes are left out)."""
    return eligible_nodes(api, {})


def seccomp_default(api: KubeApi, node: str) -> Optional[bool]:
    """The kubelet's ``seccompDefault`` on ``node``; None when its configz cannot be read (RBAC, proxy)."""
    try:
        config = api.node_configz(node)
    except KubeError:
        return None
    kubelet = config.get("kubeletconfig") or {}
    return bool(kubelet.get("seccompDefault", False))


def describe_node_pod(pod: Any) -> str:
    return f"{pod['metadata']['name']} on {pod['spec'].get('nodeName', '?')} ({_phase(pod)})"
