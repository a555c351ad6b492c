"""Pod-template owners, pure: where each kind keeps its pod template, the
JSON Patches that change its containers' seccompProfile, and the state kept on
the owner object itself. No API calls (those are in :mod:`.owners`).

A *pod-template owner* is a Deployment, StatefulSet, DaemonSet, Job or CronJob
(its template at ``spec.template``, for a CronJob ``spec.jobTemplate.spec.template``);
a bare Pod is its own template. State lives in two annotations on the owner
(metadata, not the template, so writing them rolls nothing):

- ``kubectl-seccomp.io/original``: the pod- and container-level
  ``seccompProfile`` settings before the plugin first touched the owner.
  Written once, kept across records and applies, removed by ``rollback``.
- ``kubectl-seccomp.io/recording``: a lock while a recording runs (who, since
  when, which log profile). A killed CLI leaves it; ``rollback`` clears it.

Every change is a JSON Patch whose ``test`` operations check the container
names at the indexes we write, so a concurrent edit fails instead of
patching the wrong container.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.kube.errors import Conflict
from kubectl_seccomp.targets import CRONJOB, DAEMONSET, DEPLOYMENT, JOB, POD, STATEFULSET, short_name

Obj = dict[str, Any]

ORIGINAL_ANNOTATION = "kubectl-seccomp.io/original"
RECORDING_ANNOTATION = "kubectl-seccomp.io/recording"
# where the pod template is, as keys from the object's root (a Pod is its own template)
_TEMPLATE_PATH: dict[str, tuple[str, ...]] = {
    DEPLOYMENT: ("spec", "template"),
    STATEFULSET: ("spec", "template"),
    DAEMONSET: ("spec", "template"),
    JOB: ("spec", "template"),
    CRONJOB: ("spec", "jobTemplate", "spec", "template"),
    POD: (),
}
ROLLING_KINDS = frozenset({DEPLOYMENT, STATEFULSET, DAEMONSET})  # a template change rolls the pods
COPY_KINDS = frozenset({JOB, CRONJOB})  # record runs a Job of the template to completion
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
# a container in one of these states never starts by itself
CANNOT_START = BAD_WAITING_REASONS - {"CrashLoopBackOff"}

Seccomp = Optional[dict[str, Any]]


@dataclass(frozen=True)
class ContainerInfo:
    """One container of a pod template and its seccomp setting."""

    name: str
    init: bool
    seccomp: Seccomp
    index: int
    privileged: bool = False  # securityContext.privileged: Kubernetes runs it without any seccomp filter

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


def kind_of(obj: Obj) -> str:
    """The object's kind (objects without one are Deployments, as in the tests' manifests)."""
    return str(obj.get("kind") or DEPLOYMENT)


def describe(obj: Obj) -> str:
    """``statefulset db``: how messages name an object."""
    return f"{kind_of(obj).lower()} {obj['metadata']['name']}"


def ref(obj: Obj) -> str:
    """``sts/db``: how hints name it on a command line."""
    return f"{short_name(kind_of(obj))}/{obj['metadata']['name']}"


def template_pointer(obj: Obj) -> str:
    """JSON Pointer of the pod spec (``/spec/template/spec``; ``/spec`` for a Pod)."""
    return "/" + "/".join((*_TEMPLATE_PATH[kind_of(obj)], "spec"))


def pod_template(obj: Obj) -> Obj:
    """The pod template (metadata + spec); for a Pod the Pod."""
    node: Any = obj
    for key in _TEMPLATE_PATH[kind_of(obj)]:
        node = (node or {}).get(key) or {}
    return dict(node or {})


def pod_spec(owner: Obj) -> Obj:
    return pod_template(owner).get("spec") or {}


def containers(owner: Obj) -> list[ContainerInfo]:
    """Init containers first (they run first), then the app containers."""
    spec = pod_spec(owner)
    result = []
    for key, init in (("initContainers", True), ("containers", False)):
        for index, container in enumerate(spec.get(key) or []):
            context = container.get("securityContext") or {}
            result.append(
                ContainerInfo(
                    container["name"], init, context.get("seccompProfile"), index, context.get("privileged") is True
                )
            )
    return result


def pod_seccomp(owner: Obj) -> Seccomp:
    result: Seccomp = (pod_spec(owner).get("securityContext") or {}).get("seccompProfile")
    return result


def effective_seccomp(owner: Obj, container: ContainerInfo) -> Seccomp:
    """The container's setting, else the pod's (what the kubelet uses)."""
    return container.seccomp if container.seccomp is not None else pod_seccomp(owner)


def select_containers(owner: Obj, names: tuple[str, ...]) -> list[ContainerInfo]:
    """The containers named (default: all, init containers included)."""
    every = containers(owner)
    if not names:
        return every
    by_name = {container.name: container for container in every}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise UsageError(
            f"{describe(owner)} has no container {', '.join(map(repr, unknown))}",
            hint=f"its containers: {', '.join(by_name)}",
        )
    return [by_name[name] for name in dict.fromkeys(names)]


def traceable_containers(owner: Obj, selected: list[ContainerInfo]) -> tuple[list[ContainerInfo], list[str]]:
    """``(traceable, privileged names)`` of ``selected``; a :class:`UsageError` if none is traceable.

    Kubernetes runs a privileged container without a seccomp filter, whatever
    its profile says (containerd and CRI-O skip seccomp for it): the log
    profile would log nothing, and no profile of ours would ever apply to it.
    """
    privileged = [info.name for info in selected if info.privileged]
    traceable = [info for info in selected if not info.privileged]
    if selected and not traceable:
        names = ", ".join(privileged)
        raise UsageError(
            f"{describe(owner)}: every container selected ({names}) is privileged, and Kubernetes runs "
            "privileged containers without seccomp: nothing could be recorded",
            hint="record other containers with -c NAME, or drop privileged: true (capabilities may be enough)",
        )
    return traceable, privileged


def annotations_of(owner: Obj) -> dict[str, str]:
    return dict(owner.get("metadata", {}).get("annotations") or {})


def read_originals(owner: Obj) -> Optional[Originals]:
    text = annotations_of(owner).get(ORIGINAL_ANNOTATION)
    if not text:
        return None
    try:
        return Originals.from_json(text)
    except (ValueError, AttributeError) as error:
        raise Conflict(
            f"annotation {ORIGINAL_ANNOTATION} on {describe(owner)} is not ours or was edited",
            hint=f"fix or remove it: kubectl annotate {ref(owner)} {ORIGINAL_ANNOTATION}-",
        ) from error


def current_originals(owner: Obj) -> Originals:
    """The settings as they are now (to be saved before the first change)."""
    return Originals(
        pod=pod_seccomp(owner),
        containers={c.name: c.seccomp for c in containers(owner) if not c.init},
        init_containers={c.name: c.seccomp for c in containers(owner) if c.init},
    )


def recording_lock(owner: Obj) -> Optional[dict[str, Any]]:
    text = annotations_of(owner).get(RECORDING_ANNOTATION)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"raw": text}


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def annotation_ops(owner: Obj, changes: dict[str, Optional[str]]) -> list[Obj]:
    """JSON Patch operations that set (value) or remove (None) annotations."""
    current = owner.get("metadata", {}).get("annotations")
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


def seccomp_ops(owner: Obj, settings: Mapping[tuple[str, bool], Seccomp]) -> list[Obj]:
    """JSON Patch operations giving each ``(container, init)`` its setting (None: unset)."""
    ops: list[Obj] = []
    spec = pod_spec(owner)
    for info in containers(owner):
        key = (info.name, info.init)
        if key not in settings:
            continue
        wanted = settings[key]
        base = f"{template_pointer(owner)}/{info.list_key}/{info.index}"
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


def restore_ops(owner: Obj, originals: Originals) -> list[Obj]:
    """Put back every saved container setting and drop our annotations."""
    settings: dict[tuple[str, bool], Seccomp] = {}
    for info in containers(owner):
        saved = originals.init_containers if info.init else originals.containers
        if info.name in saved:
            settings[(info.name, info.init)] = saved[info.name]
    return seccomp_ops(owner, settings) + annotation_ops(owner, {ORIGINAL_ANNOTATION: None, RECORDING_ANNOTATION: None})


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


# -- rollouts, read from the owner's status (pure) ------------------------------------


def _int(value: Any, default: int = 0) -> int:
    return int(value if value is not None else default)


def update_strategy(owner: Obj) -> str:
    """``RollingUpdate`` or ``OnDelete`` (a Deployment always rolls by itself)."""
    spec = owner.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    return str(strategy.get("type") or "RollingUpdate")


def partition(owner: Obj) -> int:
    """A StatefulSet's RollingUpdate partition: ordinals below it keep their revision."""
    rolling = ((owner.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return _int(rolling.get("partition"))


def rollout_progress(owner: Obj) -> RolloutProgress:
    """kubectl rollout status's reading of a Deployment's, StatefulSet's or DaemonSet's status."""
    kind = kind_of(owner)
    spec, status = owner.get("spec", {}), owner.get("status", {}) or {}
    if kind == DAEMONSET:
        desired = _int(status.get("desiredNumberScheduled"))
        updated = _int(status.get("updatedNumberScheduled"))
        available = _int(status.get("numberAvailable"))
        total = _int(status.get("currentNumberScheduled"))
    else:
        desired = _int(spec.get("replicas"), 1)
        updated = _int(status.get("updatedReplicas"))
        ready_key = "availableReplicas" if kind == DEPLOYMENT else "readyReplicas"
        available = _int(status.get(ready_key))
        total = _int(status.get("replicas"))
    old = max(total - updated, 0)
    generation = owner["metadata"].get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return RolloutProgress(desired, updated, available, old, "waiting for the controller", False)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return RolloutProgress(desired, updated, available, old, "progress deadline exceeded", False)
    if updated < desired:
        message = f"{updated} of {desired} new {'pods' if kind == DAEMONSET else 'replicas'} updated"
    elif old > 0:
        message = f"{old} old {'pods' if kind == DAEMONSET else 'replicas'} pending termination"
    elif available < updated:
        message = f"{available} of {updated} updated {'pods' if kind == DAEMONSET else 'replicas'} available"
    else:
        return RolloutProgress(desired, updated, available, old, "rolled out", True)
    return RolloutProgress(desired, updated, available, old, message, False)


def is_current_pod(owner: Obj, pod: Obj) -> bool:
    """Whether a StatefulSet's or DaemonSet's pod runs the owner's current template."""
    labels = pod["metadata"].get("labels") or {}
    if kind_of(owner) == STATEFULSET:
        return bool(labels.get("controller-revision-hash") == (owner.get("status") or {}).get("updateRevision"))
    if kind_of(owner) == DAEMONSET:
        return labels.get("pod-template-generation") == str(owner["metadata"].get("generation"))
    return True


def check_rollable(owner: Obj) -> None:
    """Refuse owners whose pods would not roll (or would not all roll) onto a new template."""
    kind, name, spec = kind_of(owner), owner["metadata"]["name"], owner.get("spec") or {}
    if kind == DEPLOYMENT and spec.get("paused"):
        raise UsageError(
            f"deployment {name} is paused: its pods would not roll",
            hint=f"kubectl rollout resume deploy/{name}",
        )
    if kind in (DEPLOYMENT, STATEFULSET) and _int(spec.get("replicas"), 1) == 0:
        raise UsageError(
            f"{describe(owner)} has 0 replicas: nothing would run to record or check",
            hint=f"kubectl scale {ref(owner)} --replicas=1",
        )
    if kind == STATEFULSET and update_strategy(owner) == "RollingUpdate" and partition(owner) > 0:
        raise UsageError(
            f"statefulset {name} has a RollingUpdate partition of {partition(owner)}: pods with a lower "
            "ordinal would keep their old profile",
            hint=f'kubectl patch sts/{name} -p \'{{"spec":{{"updateStrategy":{{"rollingUpdate":'
            f'{{"partition":0}}}}}}}}\'',
        )
    if kind == DAEMONSET and (owner.get("status") or {}).get("desiredNumberScheduled") == 0:
        raise UsageError(
            f"daemonset {name} runs on no node: nothing would run to record or check",
            hint=f"kubectl describe ds/{name}",
        )


# -- Jobs: a runnable copy of a template -------------------------------------------

# labels the Job controller adds to a Job's template and selector; a copy must not carry them
_JOB_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name")


def job_copy(owner: Obj, name: str, labels: dict[str, str], settings: Mapping[tuple[str, bool], Seccomp]) -> Obj:
    """A Job running the pod template of a Job or CronJob, under its own name and selector.

    Like ``kubectl create job --from=cronjob/x``, with the given containers'
    ``seccompProfile`` set; the template's controller labels are dropped so the
    API server generates a fresh selector (no clash with the original Job).
    """
    kind = kind_of(owner)
    job_spec = dict(
        ((owner.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        if kind == CRONJOB
        else owner.get("spec") or {}
    )
    for key in ("selector", "manualSelector", "suspend"):
        job_spec.pop(key, None)
    template = json.loads(json.dumps(pod_template(owner)))
    meta = template.setdefault("metadata", {})
    meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _JOB_LABELS} | labels
    job_spec["template"] = template
    job: Obj = {
        "apiVersion": "batch/v1",
        "kind": JOB,
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": dict(labels),
            "annotations": {"kubectl-seccomp.io/copy-of": ref(owner)},
        },
        "spec": job_spec,
    }
    ops = seccomp_ops(job, settings)
    return _apply_ops(job, ops)


def _apply_ops(doc: Obj, ops: list[Obj]) -> Obj:
    """Our own add/remove/test ops on a local document (for manifests we print or create)."""
    result: Obj = json.loads(json.dumps(doc))
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = result
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        key: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        if op["op"] == "add":
            parent[key] = op["value"]
        elif op["op"] == "remove":
            del parent[key]
    return result


def patched_manifest(owner: Obj, settings: Mapping[tuple[str, bool], Seccomp]) -> Obj:
    """The owner as a manifest to re-create, with the settings applied (for immutable Jobs and Pods)."""
    meta = owner["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _JOB_LABELS}
    manifest: Obj = {
        "apiVersion": owner.get("apiVersion") or ("batch/v1" if kind_of(owner) == JOB else "v1"),
        "kind": kind_of(owner),
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], **({"labels": labels} if labels else {})},
        "spec": json.loads(json.dumps(owner.get("spec") or {})),
    }
    if kind_of(owner) == JOB:
        manifest["spec"].pop("selector", None)
        manifest["spec"].pop("manualSelector", None)
        tmeta = manifest["spec"].get("template", {}).get("metadata") or {}
        if tmeta.get("labels"):
            tmeta["labels"] = {k: v for k, v in tmeta["labels"].items() if k not in _JOB_LABELS}
    if kind_of(owner) == POD:
        manifest["spec"].pop("nodeName", None)
    return _apply_ops(manifest, [op for op in seccomp_ops(manifest, settings) if op["op"] != "test"])


def job_finished(job: Obj) -> Optional[str]:
    """``Complete`` or ``Failed`` once a Job ended, else None."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def controller_of(obj: Obj) -> Optional[dict[str, Any]]:
    """The ownerReference with ``controller: true``, if any."""
    for owner_ref in obj["metadata"].get("ownerReferences") or []:
        if owner_ref.get("controller"):
            return dict(owner_ref)
    return None


def log_profile_of(pod: Obj, prefix: str) -> Optional[str]:
    """The log profile (ours: under ``prefix``, ending ``-log.json``) every container of a Pod runs under."""
    paths = {(effective_seccomp(pod, info) or {}).get("localhostProfile") for info in containers(pod)}
    if len(paths) == 1:
        path = paths.pop()
        if path and path.startswith(prefix) and path.endswith("-log.json"):
            return str(path)
    return None


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


def pod_done(pod: Obj) -> bool:
    """Terminating or finished: the pod starts no container any more (nor holds its node for long)."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) or (pod.get("status") or {}).get("phase") in (
        "Succeeded",
        "Failed",
    )


def containers_created(pod: Obj) -> bool:
    """Every (non-init) container of the pod exists in the runtime: its seccomp filter is loaded."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    wanted = len((pod.get("spec") or {}).get("containers") or []) or 1
    return len(statuses) >= wanted and all(entry.get("containerID") for entry in statuses)


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_summary(pod: Obj) -> str:
    status = pod.get("status") or {}
    waiting = [
        f"{c['name']}: {(c.get('state') or {}).get('waiting', {}).get('reason', 'not ready')}"
        for c in status.get("containerStatuses") or []
        if not c.get("ready")
    ]
    return f"phase {status.get('phase', '?')}" + (f"; {', '.join(waiting)}" if waiting else "")
