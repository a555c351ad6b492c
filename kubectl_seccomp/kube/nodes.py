"""Work on the nodes, done by short-lived pods of ours pinned to each node:
creating them, waiting for them, reading their output (their manifests and
scripts are built in :mod:`.node_pods`).

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
with ``python3`` (``--image``) works. Each pod checks the ConfigMap against
the digests in its own spec before it uses it (:mod:`.payload`); a refusal
is :class:`PayloadTampered`. Everything is labelled with
``app.kubernetes.io/managed-by=kubectl-seccomp`` and the run's id, which is
how ``cleanup`` finds leftovers of a killed CLI.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from typing import Optional

from kubectl_seccomp.kube.api import KubeApi, LogStream, Obj
from kubectl_seccomp.kube.errors import Conflict, KubeError, NodeCommandFailed, NotFound, PayloadTampered
from kubectl_seccomp.kube.node_pods import (
    AGENT_KEY,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    DEFAULT_SECCOMP_ROOT,
    HOST_ROOT,
    INSTALLED,
    LIST_SCRIPT,
    LOG_KEY,
    MANAGED_BY,
    MANAGER,
    PAYLOAD_DIR,
    PSA_LABELS,
    REMOVED,
    ROLE_LABEL,
    RUN_LABEL,
    Node,
    NodeResult,
    NodeSettings,
    _phase,
    _pod_name,
    _waiting_problem,
    arch_names,
    follower_script,
    install_commands,
    node_pod,
    remove_commands,
    shell_command,
)
from kubectl_seccomp.kube.payload import Payload, payload_of, tampered


def _ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def node_ready(api: KubeApi, name: str) -> bool:
    """Whether ``name`` is a Ready, schedulable node (False if it is gone)."""
    for node in api.list_nodes():
        if node["metadata"]["name"] == name:
            return _ready(node) and not (node.get("spec") or {}).get("unschedulable")
    return False


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
) -> Payload:
    """The run's ConfigMap: the agent zipapp and the profile texts (keys f0, f1, ...), with their digests."""
    name = f"kubectl-seccomp-{run_id}"
    binary: dict[str, str] = {AGENT_KEY: base64.b64encode(agent).decode("ascii")}
    payload = payload_of(name, binary, dict(files or {}))
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
    return payload


def tamper_error(settings: NodeSettings, where: str, output: str) -> Optional[PayloadTampered]:
    """The :class:`PayloadTampered` error if a node pod's ``output`` says it refused its ConfigMap."""
    report = tampered(output)
    if report is None:
        return None
    return PayloadTampered(
        f"tampered payload: key {report.key} of ConfigMap {settings.namespace}/{report.configmap} "
        f"has sha256 {report.found[:16]}, not the {report.expected[:16]} we created it with "
        f"({where} refused to use it); nothing was changed",
        hint=f"someone edited ConfigMaps in namespace {settings.namespace}: check who may "
        f"(kubectl auth can-i update configmaps -n {settings.namespace} --list), then run again",
    )


def refuse_tampered(settings: NodeSettings, node: str, output: str) -> None:
    """Raise :class:`PayloadTampered` if a node pod's ``output`` says it refused its ConfigMap."""
    error = tamper_error(settings, f"node {node}", output)
    if error is not None:
        raise error


def run_on_nodes(
    api: KubeApi,
    settings: NodeSettings,
    *,
    role: str,
    run_id: str,
    configmap: Payload,
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
                        refuse_tampered(settings, node, output)
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
                    f"{role} pods did not finish within {settings.pod_timeout:.0f}s on {', '.join(sorted(pending))}",
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


def start_follower(
    api: KubeApi,
    settings: NodeSettings,
    *,
    run_id: str,
    node: str,
    configmap: Payload,
    args: list[str],
    log_profile: Optional[str] = None,
    attempt: int = 1,
) -> str:
    """Start the agent's ``follow`` on ``node``; with ``log_profile`` (its text is the
    payload's ``log.json``) the pod installs it first and removes it when deleted.
    ``attempt`` > 1 names a replacement apart from the pod it replaces (which may
    still be terminating)."""
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
    if attempt > 1:
        body["metadata"]["name"] = _pod_name(f"follow{attempt}", run_id, node)
    api.create_pod(settings.namespace, body)
    return str(body["metadata"]["name"])


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
            raise stopped_early(api, settings, name, f"{problem or phase}")
        if time.monotonic() > deadline:
            raise NodeCommandFailed(
                f"node agent pod {name} did not start within {settings.pod_timeout:.0f}s",
                hint=f"kubectl -n {settings.namespace} describe pod {name}",
            )
        time.sleep(0.3)


def agent_state(api: KubeApi, settings: NodeSettings, name: str) -> str:
    """What became of an agent pod: ``Running``, ``Pending``, ``Terminating``, ``Terminated``,
    ``Succeeded``, ``Failed`` (with the container's waiting reason, if any) or ``gone``."""
    try:
        pod = api.get_pod(settings.namespace, name)
    except NotFound:
        return "gone"
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    problem = _waiting_problem(pod)
    if problem:
        return f"Failed ({problem})"
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if any("terminated" in (entry.get("state") or {}) for entry in statuses):
        return "Terminated"  # the container ended; the pod's phase may not say so yet
    return _phase(pod)


def stopped_early(api: KubeApi, settings: NodeSettings, name: str, why: str = "") -> NodeCommandFailed:
    """The error for an agent pod that ended before it traced, with the last lines it printed
    (:class:`PayloadTampered` if it refused its ConfigMap)."""
    try:
        lines = api.pod_log(settings.namespace, name, tail_lines=5)
    except Exception:  # a pod that never started has no log; the hint still says where to look
        lines = ""
    tampered_payload = tamper_error(settings, f"pod {name}", lines)
    if tampered_payload is not None:
        return tampered_payload
    output = " ".join(lines.split())
    return NodeCommandFailed(
        f"node agent pod {name} stopped before tracing: {why} {output}".strip(),
        hint=f"kubectl -n {settings.namespace} describe pod {name}; "
        "--image must name an image with python3 that the node has or can pull",
    )


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


def list_profiles(
    api: KubeApi, settings: NodeSettings, *, run_id: str, configmap: Payload, nodes: list[str]
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
            raise NodeCommandFailed(f"list on node {result.node}: unexpected output {result.output[:200]!r}") from error
    return found


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
            api.delete_configmap(settings.namespace, configmap.name)


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


__all__ = [
    "AGENT_KEY",
    "DEFAULT_IMAGE",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SECCOMP_ROOT",
    "HOST_ROOT",
    "INSTALLED",
    "LIST_SCRIPT",
    "LOG_KEY",
    "MANAGED_BY",
    "MANAGER",
    "PAYLOAD_DIR",
    "PSA_LABELS",
    "REMOVED",
    "ROLE_LABEL",
    "RUN_LABEL",
    "Node",
    "NodeResult",
    "NodeSettings",
    "Payload",
    "agent_state",
    "all_nodes",
    "arch_names",
    "create_payload",
    "delete_pod_quietly",
    "delete_run_objects",
    "eligible_nodes",
    "ensure_namespace",
    "follow",
    "follower_script",
    "install_commands",
    "install_profiles",
    "list_profiles",
    "node_pod",
    "node_ready",
    "our_configmaps",
    "our_pods",
    "refuse_tampered",
    "remove_commands",
    "remove_profiles",
    "run_on_nodes",
    "seccomp_default",
    "shell_command",
    "start_follower",
    "stopped_early",
    "tamper_error",
    "wait_running",
]
