"""Deployments: read one, change the seccompProfile of chosen containers, keep
what is needed to undo that on the object itself, and wait for rollouts.

State lives in two annotations on the Deployment (not on its pod template, so
writing them rolls nothing):

- ``kubectl-seccomp.io/original``: the pod- and container-level
  ``seccompProfile`` settings before the plugin first touched the Deployment.
  Written once, kept across records and applies, removed by ``rollback``.
- ``kubectl-seccomp.io/recording``: a lock while a recording runs (who, since
  when, which log profile). A killed CLI leaves it; ``rollback`` clears it.

Every change is a JSON Patch whose ``test`` operations check the container
names at the indexes we write, so a concurrent edit fails instead of
patching the wrong container.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import Conflict, Invalid, NotFound, RolloutFailed

ORIGINAL_ANNOTATION = "kubectl-seccomp.io/original"
RECORDING_ANNOTATION = "kubectl-seccomp.io/recording"
KINDS = ("deploy", "deployment", "deployments", "deployment.apps", "deployments.apps")
BAD_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "CreateContainerError",
        "CreateContainerConfigError",
        "RunContainerError",
        "StartError",
        "InvalidImageName",
        "ErrImagePull",
        "ImagePullBackOff",
    }
)

Seccomp = Optional[dict[str, Any]]


@dataclass(frozen=True)
class ContainerInfo:
    """One container of a pod template and its seccomp setting."""

    name: str
    init: bool
    seccomp: Seccomp
    index: int

    @property
    def list_key(self) -> str:
        return "initContainers" if self.init else "containers"


@dataclass(frozen=True)
class Originals:
    """The settings saved in :data:`ORIGINAL_ANNOTATION`."""

    pod: Seccomp
    containers: dict[str, Seccomp]
    init_containers: dict[str, Seccomp]

    def to_json(self) -> str:
        return json.dumps(
            {"pod": self.pod, "containers": self.containers, "initContainers": self.init_containers},
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Originals:
        data = json.loads(text)
        return cls(
            pod=data.get("pod"),
            containers=dict(data.get("containers") or {}),
            init_containers=dict(data.get("initContainers") or {}),
        )


@dataclass(frozen=True)
class RolloutProgress:
    """One look at a rollout, for progress display."""

    desired: int
    updated: int
    available: int
    old: int
    message: str
    done: bool


def parse_target(target: str) -> str:
    """The Deployment name of ``deploy/NAME`` (also ``deployment/``, ``deployment.apps/``)."""
    kind, sep, name = target.partition("/")
    if not sep or not name or "/" in name:
        raise UsageError(
            f"target {target!r} is not KIND/NAME",
            hint="write the Deployment as deploy/NAME (kubectl get deploy lists them)",
        )
    if kind.lower() not in KINDS:
        raise UsageError(
            f"{kind}/{name}: only Deployments can be recorded and patched",
            hint="write the target as deploy/NAME",
        )
    return name


def get_deployment(api: KubeApi, *, namespace: str, name: str) -> Obj:
    try:
        return api.get_deployment(namespace, name)
    except NotFound as error:
        raise NotFound(
            f"deployment {name!r} not found in namespace {namespace}",
            hint=f"kubectl get deploy -n {namespace} lists the Deployments there; -n picks another namespace",
        ) from error


def pod_spec(deployment: Obj) -> Obj:
    return deployment.get("spec", {}).get("template", {}).get("spec", {}) or {}


def containers(deployment: Obj) -> list[ContainerInfo]:
    """Init containers first (they run first), then the app containers."""
    spec = pod_spec(deployment)
    result = []
    for key, init in (("initContainers", True), ("containers", False)):
        for index, container in enumerate(spec.get(key) or []):
            seccomp = (container.get("securityContext") or {}).get("seccompProfile")
            result.append(ContainerInfo(container["name"], init, seccomp, index))
    return result


def pod_seccomp(deployment: Obj) -> Seccomp:
    result: Seccomp = (pod_spec(deployment).get("securityContext") or {}).get("seccompProfile")
    return result


def effective_seccomp(deployment: Obj, container: ContainerInfo) -> Seccomp:
    """The container's setting, else the pod's (what the kubelet uses)."""
    return container.seccomp if container.seccomp is not None else pod_seccomp(deployment)


def select_containers(deployment: Obj, names: tuple[str, ...]) -> list[ContainerInfo]:
    """The containers named (default: all, init containers included)."""
    every = containers(deployment)
    if not names:
        return every
    by_name = {container.name: container for container in every}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise UsageError(
            f"deployment {deployment['metadata']['name']} has no container {', '.join(map(repr, unknown))}",
            hint=f"its containers: {', '.join(by_name)}",
        )
    return [by_name[name] for name in dict.fromkeys(names)]


def annotations_of(deployment: Obj) -> dict[str, str]:
    return dict(deployment.get("metadata", {}).get("annotations") or {})


def read_originals(deployment: Obj) -> Optional[Originals]:
    text = annotations_of(deployment).get(ORIGINAL_ANNOTATION)
    if not text:
        return None
    try:
        return Originals.from_json(text)
    except (ValueError, AttributeError) as error:
        raise Conflict(
            f"annotation {ORIGINAL_ANNOTATION} on deployment {deployment['metadata']['name']} is not ours "
            "or was edited",
            hint=f"fix or remove it: kubectl annotate deploy/{deployment['metadata']['name']} "
            f"{ORIGINAL_ANNOTATION}-",
        ) from error


def current_originals(deployment: Obj) -> Originals:
    """The settings as they are now (to be saved before the first change)."""
    return Originals(
        pod=pod_seccomp(deployment),
        containers={c.name: c.seccomp for c in containers(deployment) if not c.init},
        init_containers={c.name: c.seccomp for c in containers(deployment) if c.init},
    )


def recording_lock(deployment: Obj) -> Optional[dict[str, Any]]:
    text = annotations_of(deployment).get(RECORDING_ANNOTATION)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"raw": text}


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def annotation_ops(deployment: Obj, changes: dict[str, Optional[str]]) -> list[Obj]:
    """JSON Patch operations that set (value) or remove (None) annotations."""
    current = deployment.get("metadata", {}).get("annotations")
    ops: list[Obj] = []
    if current is None:
        values = {key: value for key, value in changes.items() if value is not None}
        if values:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": values})
        return ops
    for key, value in changes.items():
        path = f"/metadata/annotations/{_escape(key)}"
        if value is None:
            if key in current:
                ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "add", "path": path, "value": value})
    return ops


def seccomp_ops(deployment: Obj, settings: Mapping[tuple[str, bool], Seccomp]) -> list[Obj]:
    """JSON Patch operations giving each ``(container, init)`` its setting (None: unset)."""
    ops: list[Obj] = []
    spec = pod_spec(deployment)
    for info in containers(deployment):
        key = (info.name, info.init)
        if key not in settings:
            continue
        wanted = settings[key]
        base = f"/spec/template/spec/{info.list_key}/{info.index}"
        container = (spec.get(info.list_key) or [])[info.index]
        ops.append({"op": "test", "path": f"{base}/name", "value": info.name})
        security = container.get("securityContext")
        if wanted is None:
            if security and set(security) == {"seccompProfile"}:
                # we added the securityContext for the profile: take it away whole
                ops.append({"op": "remove", "path": f"{base}/securityContext"})
            elif security and "seccompProfile" in security:
                ops.append({"op": "remove", "path": f"{base}/securityContext/seccompProfile"})
        elif security is None:
            ops.append({"op": "add", "path": f"{base}/securityContext", "value": {"seccompProfile": wanted}})
        else:
            ops.append({"op": "add", "path": f"{base}/securityContext/seccompProfile", "value": wanted})
    return ops


def localhost(path: str) -> dict[str, Any]:
    return {"type": "Localhost", "localhostProfile": path}


def patch(api: KubeApi, deployment: Obj, ops: list[Obj], *, guard_version: bool = False) -> Obj:
    """Send ``ops``; with ``guard_version`` fail if the object changed since it was read."""
    meta = deployment["metadata"]
    if not ops:
        return deployment
    if guard_version:
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}, *ops]
    try:
        return api.patch_deployment(meta["namespace"], meta["name"], ops)
    except Invalid as error:
        if "test" in error.message or "testing" in error.message.lower():
            raise Conflict(
                f"deployment {meta['name']} changed while we were changing it",
                hint="run the command again",
            ) from error
        raise


def restore_ops(deployment: Obj, originals: Originals) -> list[Obj]:
    """Put back every saved container setting and drop our annotations."""
    settings: dict[tuple[str, bool], Seccomp] = {}
    for info in containers(deployment):
        saved = originals.init_containers if info.init else originals.containers
        if info.name in saved:
            settings[(info.name, info.init)] = saved[info.name]
    return seccomp_ops(deployment, settings) + annotation_ops(
        deployment, {ORIGINAL_ANNOTATION: None, RECORDING_ANNOTATION: None}
    )


def label_selector(selector: Obj) -> str:
    """A ``LabelSelector`` as the query string the API takes."""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def deployment_pods(api: KubeApi, deployment: Obj, *, newest_only: bool = False) -> list[Obj]:
    """Pods of the Deployment (with ``newest_only``: of its current ReplicaSet)."""
    meta = deployment["metadata"]
    selector = label_selector(deployment["spec"].get("selector") or {})
    if newest_only:
        replicaset = newest_replicaset(api, deployment)
        if replicaset is None:
            return []
        pod_hash = replicaset["metadata"].get("labels", {}).get("pod-template-hash")
        if pod_hash:
            selector = (
                f"{selector},pod-template-hash={pod_hash}" if selector else f"pod-template-hash={pod_hash}"
            )
    pods = api.list_pods(meta["namespace"], label_selector=selector)
    return [pod for pod in pods if not pod["metadata"].get("deletionTimestamp") or not newest_only]


def newest_replicaset(api: KubeApi, deployment: Obj) -> Optional[Obj]:
    meta = deployment["metadata"]
    revision = annotations_of(deployment).get("deployment.kubernetes.io/revision")
    selector = label_selector(deployment["spec"].get("selector") or {})
    owned = [
        rs
        for rs in api.list_replicasets(meta["namespace"], selector)
        if any(ref.get("uid") == meta.get("uid") for ref in rs["metadata"].get("ownerReferences") or [])
    ]
    for rs in owned:
        if rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == revision:
            return rs
    return None


def rollout_progress(deployment: Obj) -> RolloutProgress:
    """kubectl rollout status's reading of a Deployment's status."""
    spec, status = deployment.get("spec", {}), deployment.get("status", {}) or {}
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0) or 0)
    available = int(status.get("availableReplicas", 0) or 0)
    total = int(status.get("replicas", 0) or 0)
    old = max(total - updated, 0)
    generation = deployment["metadata"].get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return RolloutProgress(desired, updated, available, old, "waiting for the controller", False)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return RolloutProgress(desired, updated, available, old, "progress deadline exceeded", False)
    if updated < desired:
        message = f"{updated} of {desired} new replicas updated"
    elif old > 0:
        message = f"{old} old replicas pending termination"
    elif available < updated:
        message = f"{available} of {updated} updated replicas available"
    else:
        return RolloutProgress(desired, updated, available, old, "rolled out", True)
    return RolloutProgress(desired, updated, available, old, message, False)


@dataclass(frozen=True)
class PodProblem:
    pod: str
    container: str
    reason: str
    message: str
    restarts: int


def pod_problems(pod: Obj) -> list[PodProblem]:
    """Containers of a pod that are failing (bad waiting reason, or restarted after an error)."""
    problems = []
    status = pod.get("status") or {}
    for entry in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = entry.get("state") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or (entry.get("lastState") or {}).get("terminated") or {}
        restarts = int(entry.get("restartCount", 0) or 0)
        reason = waiting.get("reason")
        if reason in BAD_WAITING_REASONS:
            problems.append(
                PodProblem(
                    pod["metadata"]["name"],
                    entry["name"],
                    reason,
                    waiting.get("message") or terminated.get("message") or "",
                    restarts,
                )
            )
        elif terminated and terminated.get("exitCode", 0) != 0 and restarts > 0:
            problems.append(
                PodProblem(
                    pod["metadata"]["name"],
                    entry["name"],
                    terminated.get("reason") or "Error",
                    terminated.get("message") or f"exit code {terminated.get('exitCode')}",
                    restarts,
                )
            )
    return problems


def evidence(
    api: KubeApi, namespace: str, problems: list[PodProblem], *, log_lines: int = 5
) -> tuple[str, ...]:
    """Events and last log lines of the failing pods, as lines to show."""
    lines: list[str] = []
    for pod_name in dict.fromkeys(problem.pod for problem in problems):
        for problem in (p for p in problems if p.pod == pod_name):
            lines.append(
                f"pod {pod_name} container {problem.container}: {problem.reason} "
                f"(restarts {problem.restarts}) {problem.message}".rstrip()
            )
        try:
            events = api.list_events(namespace, f"involvedObject.name={pod_name}")
        except Exception:  # evidence is best effort: never hide the real failure
            events = []
        for event in sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")[-4:]:
            if event.get("type") == "Warning":
                lines.append(f"  event {event.get('reason')}: {(event.get('message') or '').strip()[:400]}")
        for problem in (p for p in problems if p.pod == pod_name):
            try:
                text = api.pod_log(
                    namespace,
                    pod_name,
                    container=problem.container,
                    tail_lines=log_lines,
                    previous=problem.restarts > 0,
                )
            except Exception:
                text = ""
            for line in text.strip().splitlines()[-log_lines:]:
                lines.append(f"  log {problem.container}: {line[:300]}")
    return tuple(lines)


def wait_rollout(
    api: KubeApi,
    *,
    namespace: str,
    name: str,
    timeout: float,
    on_progress: Optional[Callable[[RolloutProgress], None]] = None,
    poll: float = 1.0,
    fail_fast: bool = True,
) -> Obj:
    """Wait until the Deployment is rolled out; :class:`RolloutFailed` with evidence if not."""
    deadline = time.monotonic() + timeout
    last_message = ""
    while True:
        deployment = api.get_deployment(namespace, name)
        progress = rollout_progress(deployment)
        if on_progress is not None and progress.message != last_message:
            on_progress(progress)
            last_message = progress.message
        if progress.done:
            return deployment
        problems: list[PodProblem] = []
        if fail_fast or time.monotonic() >= deadline or progress.message == "progress deadline exceeded":
            for pod in deployment_pods(api, deployment, newest_only=True):
                problems.extend(pod_problems(pod))
        failed = (
            (fail_fast and problems)
            or time.monotonic() >= deadline
            or progress.message == "progress deadline exceeded"
        )
        if failed:
            if not problems:
                for pod in deployment_pods(api, deployment, newest_only=True):
                    if not _ready(pod):
                        problems.append(
                            PodProblem(pod["metadata"]["name"], "-", "NotReady", _pod_summary(pod), 0)
                        )
            why = problems[0].reason if problems else progress.message
            raise RolloutFailed(
                f"deployment {name}: new pods did not become Ready ({why}; {progress.message})",
                evidence=evidence(api, namespace, problems),
            )
        time.sleep(poll)


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _pod_summary(pod: Obj) -> str:
    status = pod.get("status") or {}
    waiting = [
        f"{c['name']}: {(c.get('state') or {}).get('waiting', {}).get('reason', 'not ready')}"
        for c in status.get("containerStatuses") or []
        if not c.get("ready")
    ]
    return f"phase {status.get('phase', '?')}" + (f"; {', '.join(waiting)}" if waiting else "")
