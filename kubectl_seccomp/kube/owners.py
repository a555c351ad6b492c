"""Pod-template owners on the API: read one, patch it, find its pods, roll them.

The pure side (templates, patches, progress from a status) is
:mod:`.workloads`. A rollout is started by patching the template; a
Deployment, and a StatefulSet or DaemonSet with the ``RollingUpdate``
strategy, roll by themselves (the controller respects ``maxUnavailable``)
and we wait as ``kubectl rollout status`` does; with ``OnDelete`` we delete
the out-of-date pods ourselves, one at a time, each after the previous
replacement is Ready.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Optional

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import Conflict, Invalid, NotFound, RolloutFailed, Unreachable
from kubectl_seccomp.kube.workloads import (
    PodProblem,
    RolloutProgress,
    annotations_of,
    controller_of,
    describe,
    is_current_pod,
    job_finished,
    kind_of,
    label_selector,
    pod_problems,
    pod_ready,
    pod_summary,
    rollout_progress,
    update_strategy,
)
from kubectl_seccomp.targets import DEPLOYMENT, JOB, POD, STATEFULSET, resource, short_name

Progress = Optional[Callable[[RolloutProgress], None]]


def get_owner(api: KubeApi, kind: str, *, namespace: str, name: str) -> Obj:
    try:
        owner = api.get_object(kind, namespace, name)
    except NotFound as error:
        raise NotFound(
            f"{kind.lower()} {name!r} not found in namespace {namespace}",
            hint=f"kubectl get {short_name(kind)} -n {namespace} lists them; -n picks another namespace",
        ) from error
    owner.setdefault("kind", kind)
    return owner


def get_deployment(api: KubeApi, *, namespace: str, name: str) -> Obj:
    return get_owner(api, DEPLOYMENT, namespace=namespace, name=name)


def refuse_controlled(api: KubeApi, obj: Obj) -> None:
    """A Pod (or ReplicaSet, Job) managed by a controller is changed through its owner: say which."""
    controller = controller_of(obj)
    if controller is None:
        return
    kind, name = controller.get("kind", "?"), controller.get("name", "?")
    namespace = obj["metadata"]["namespace"]
    if kind == "ReplicaSet":  # a Deployment's pod: name the Deployment
        try:
            replicaset = api.list_replicasets(namespace, "")
            parent = next((rs for rs in replicaset if rs["metadata"]["name"] == name), None)
            owner = parent and next(
                (r for r in parent["metadata"].get("ownerReferences") or [] if r.get("controller")), None
            )
            if owner:
                kind, name = owner.get("kind", kind), owner.get("name", name)
        except Exception:  # the hint is best effort; the refusal stands
            pass
    short = kind.lower() if kind not in ("Deployment", "StatefulSet", "DaemonSet", "CronJob") else short_name(kind)
    raise UsageError(
        f"{describe(obj)} is managed by {kind} {name}: a change to it would be undone",
        hint=f"record and apply the owner instead: kubectl seccomp record {short}/{name} -n {namespace}",
    )


def patch(api: KubeApi, owner: Obj, ops: list[Obj], *, guard_version: bool = False, dry_run: bool = False) -> Obj:
    """Send ``ops``; with ``guard_version`` fail if the object changed since it was read; with ``dry_run``
    the API server checks them (admission and validation included) and changes nothing."""
    meta = owner["metadata"]
    if not ops:
        return owner
    if guard_version:
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}, *ops]
    try:
        if dry_run:
            return api.patch_object(kind_of(owner), meta["namespace"], meta["name"], ops, dry_run=True)
        return api.patch_object(kind_of(owner), meta["namespace"], meta["name"], ops)
    except Invalid as error:
        if _patch_did_not_apply(error.message):
            raise Conflict(
                f"{describe(owner)} changed while we were changing it",
                hint="run the command again",
            ) from error
        raise


def _patch_did_not_apply(message: str) -> bool:
    """Whether an Invalid answer means a JSON Patch operation failed on the object as it is now (our
    ``test`` of its resourceVersion or of a container's name): the API server says only "the server
    rejected our request due to an error in our request" then; json-patch libraries say "testing value".
    Any other Invalid (a validation or an admission policy refusing the result) is not a conflict,
    even when its text holds the word "test"."""
    lowered = message.lower()
    return "due to an error in our request" in lowered or "testing value" in lowered


def owner_pods(api: KubeApi, owner: Obj, *, newest_only: bool = False) -> list[Obj]:
    """Pods of the owner (with ``newest_only``: those of its current template, not terminating)."""
    kind, meta = kind_of(owner), owner["metadata"]
    if kind == POD:
        try:
            return [api.get_pod(meta["namespace"], meta["name"])]
        except NotFound:
            return []
    selector = label_selector((owner.get("spec") or {}).get("selector") or {})
    if kind == DEPLOYMENT and newest_only:
        replicaset = newest_replicaset(api, owner)
        if replicaset is None:
            return []
        pod_hash = replicaset["metadata"].get("labels", {}).get("pod-template-hash")
        if pod_hash:
            selector = f"{selector},pod-template-hash={pod_hash}" if selector else f"pod-template-hash={pod_hash}"
    pods = api.list_pods(meta["namespace"], label_selector=selector)
    if kind != DEPLOYMENT and meta.get("uid"):  # a selector may match pods of others
        pods = [p for p in pods if any(r.get("uid") == meta["uid"] for r in p["metadata"].get("ownerReferences") or [])]
    if newest_only:
        pods = [p for p in pods if not p["metadata"].get("deletionTimestamp") and is_current_pod(owner, p)]
    return pods


def deployment_pods(api: KubeApi, deployment: Obj, *, newest_only: bool = False) -> list[Obj]:
    return owner_pods(api, deployment, newest_only=newest_only)


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


def evidence(api: KubeApi, namespace: str, problems: list[PodProblem], *, log_lines: int = 5) -> tuple[str, ...]:
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


def _failure(api: KubeApi, owner: Obj, problems: list[PodProblem], progress: RolloutProgress) -> RolloutFailed:
    meta = owner["metadata"]
    if not problems:
        for pod in owner_pods(api, owner, newest_only=True):
            if not pod_ready(pod):
                problems.append(PodProblem(pod["metadata"]["name"], "-", "NotReady", pod_summary(pod), 0))
    why = problems[0].reason if problems else progress.message
    return RolloutFailed(
        f"{describe(owner)}: new pods did not become Ready ({why}; {progress.message})",
        evidence=evidence(api, meta["namespace"], problems),
    )


def wait_rollout(
    api: KubeApi,
    *,
    namespace: str,
    name: str,
    timeout: float,
    on_progress: Progress = None,
    poll: float = 0.25,
    fail_fast: bool = True,
    kind: str = DEPLOYMENT,
) -> Obj:
    """Roll the owner's pods onto its template and wait until they are Ready.

    :class:`RolloutFailed` with evidence if they are not, within ``timeout``.
    ``poll`` is short because we poll where ``kubectl rollout status`` watches:
    each rollout ends up to ``poll`` seconds after it is done, and ``record``
    waits for three (the log profile, the shutdown's replacements, the result).
    """
    deadline = time.monotonic() + timeout
    last_message = ""
    while True:
        try:
            owner = api.get_object(kind, namespace, name)
            progress = rollout_progress(owner)
            if on_progress is not None and progress.message != last_message:
                on_progress(progress)
                last_message = progress.message
            if progress.done:
                return owner
            problems: list[PodProblem] = []
            expired = time.monotonic() >= deadline
            if fail_fast or expired or progress.message == "progress deadline exceeded":
                for pod in owner_pods(api, owner, newest_only=True):
                    problems.extend(pod_problems(pod))
            if (fail_fast and problems) or expired or progress.message == "progress deadline exceeded":
                raise _failure(api, owner, problems, progress)
            if kind != DEPLOYMENT and update_strategy(owner) == "OnDelete":
                _delete_one_stale_pod(api, owner, progress)
        except Unreachable:
            # The API server restarting (an upgrade, a crash): the rollout goes on without us;
            # like `kubectl rollout status`, ask again until the deadline.
            if time.monotonic() >= deadline:
                raise
        time.sleep(poll)


def _delete_one_stale_pod(api: KubeApi, owner: Obj, progress: RolloutProgress) -> None:
    """OnDelete: when every pod is Ready, delete one out-of-date pod (the highest ordinal first)."""
    if progress.message == "waiting for the controller":
        return
    pods = owner_pods(api, owner)
    if any(p["metadata"].get("deletionTimestamp") or not pod_ready(p) for p in pods):
        return  # one at a time: the last replacement is not Ready yet
    if kind_of(owner) == STATEFULSET and len(pods) < int((owner.get("spec") or {}).get("replicas", 1)):
        return  # the controller is creating the replacement
    stale = sorted((p for p in pods if not is_current_pod(owner, p)), key=ordinal)
    if stale:
        with contextlib.suppress(NotFound):  # gone already: the controller replaces it anyway
            api.delete_pod(owner["metadata"]["namespace"], stale[-1]["metadata"]["name"])


def ordinal(pod: Obj) -> tuple[int, str]:
    name: str = pod["metadata"]["name"]
    suffix = name.rsplit("-", 1)[-1]
    return (int(suffix) if suffix.isdigit() else -1, name)


def wait_job(api: KubeApi, namespace: str, name: str) -> Optional[str]:
    """``Complete``/``Failed`` if the Job ended (None while it runs or if it is gone)."""
    try:
        return job_finished(api.get_object(JOB, namespace, name))
    except NotFound:
        return None


__all__ = [
    "deployment_pods",
    "evidence",
    "get_deployment",
    "get_owner",
    "newest_replicaset",
    "owner_pods",
    "patch",
    "refuse_controlled",
    "resource",
    "wait_job",
    "wait_rollout",
]
