"""The node guard, pure: which node label says a profile file is on a node, and
the required node affinity that keeps a workload's pods off nodes without it.

A pod whose container names a ``localhostProfile`` the node lacks fails with
CreateContainerError; a node that joined after ``apply`` lacks every file.
So each file we install gets a label on the nodes that hold it
(:func:`label_key`, value :data:`PRESENT`) and the pod template requires it.
The scheduler then leaves such a pod Pending (``FailedScheduling``: "didn't
match Pod's node affinity/selector") instead of starting it where it fails.

The label is per file (its localhost path, which carries the workload, the
container and a hash of the content), not per content alone: two workloads
with the same profile text have two files, removed at different times.

Required node affinity terms are ORed, the expressions inside a term ANDed.
To add a condition without loosening the template's own affinity, our
expressions go into *every* existing term (a new term would let the pod
schedule wherever the new term alone matches). Removing them is stripping
expressions whose key has our prefix; a term that held only ours (we added
the whole required block) goes with them.

``record`` uses the same mechanism for its log profile while it records
(:mod:`.placement`): the log profile's label on the nodes chosen for the
recording, and its key added to the guard's keys (:func:`keys_with`) for the
rollout onto the log profile; the way back, and the ``apply`` that ends the
recording, require the keys without it (:func:`keys_without`).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any, Optional

from kubectl_seccomp.kube.workloads import pod_spec, template_pointer

Obj = dict[str, Any]

LABEL_PREFIX = "profiles.kubectl-seccomp.io/"
PRESENT = "present"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def label_key(localhost_path: str) -> str:
    """The node label saying ``localhost_path`` is on the node (a 16-hex name: within the 63-char limit)."""
    return LABEL_PREFIX + hashlib.sha256(localhost_path.encode("utf-8")).hexdigest()[:16]


def is_guard_key(key: str) -> bool:
    return key.startswith(LABEL_PREFIX)


def _ours(expression: Obj) -> bool:
    return is_guard_key(str(expression.get("key", "")))


def guard_keys(owner: Obj) -> list[str]:
    """Our label keys the owner's pod template requires now, in order, without repeats."""
    keys: list[str] = []
    required = ((pod_spec(owner).get("affinity") or {}).get("nodeAffinity") or {}).get(REQUIRED) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expression in term.get("matchExpressions") or []:
            if _ours(expression) and expression["key"] not in keys:
                keys.append(str(expression["key"]))
    return keys


def keys_with(owner: Obj, key: str) -> list[str]:
    """The keys the owner requires now, and ``key`` (record's pin on its log profile)."""
    keys = guard_keys(owner)
    return keys if key in keys else [*keys, key]


def keys_without(owner: Obj, key: Optional[str]) -> list[str]:
    """The keys the owner requires now, less ``key`` (the pin goes, the guard of its applied files stays)."""
    return [k for k in guard_keys(owner) if k != key]


def guarded_affinity(affinity: Optional[Obj], keys: list[str]) -> Optional[Obj]:
    """``affinity`` requiring exactly our ``keys`` (none: our requirements removed), the rest unchanged."""
    result: Obj = copy.deepcopy(affinity or {})
    node_affinity: Obj = result.get("nodeAffinity") or {}
    required: Obj = node_affinity.get(REQUIRED) or {}
    terms: list[Obj] = []
    for term in required.get("nodeSelectorTerms") or []:
        kept = [e for e in term.get("matchExpressions") or [] if not _ours(e)]
        stripped = {k: v for k, v in term.items() if k != "matchExpressions"}
        if kept:
            stripped["matchExpressions"] = kept
        if stripped.get("matchExpressions") or stripped.get("matchFields"):
            terms.append(stripped)
    ours = [{"key": key, "operator": "Exists"} for key in keys]
    if ours:
        terms = [{**term, "matchExpressions": [*(term.get("matchExpressions") or []), *ours]} for term in terms] or [
            {"matchExpressions": ours}
        ]
    if terms:
        node_affinity[REQUIRED] = {**required, "nodeSelectorTerms": terms}
    else:
        node_affinity.pop(REQUIRED, None)
    if node_affinity:
        result["nodeAffinity"] = node_affinity
    else:
        result.pop("nodeAffinity", None)
    return result or None


def affinity_ops(owner: Obj, keys: list[str]) -> list[Obj]:
    """The JSON Patch making the owner's pod template require exactly our ``keys`` (tested against a race)."""
    before = pod_spec(owner).get("affinity")
    after = guarded_affinity(before, keys)
    if after == (before or None):
        return []
    pointer = template_pointer(owner) + "/affinity"
    if before is None:
        return [{"op": "add", "path": pointer, "value": after}]
    ops: list[Obj] = [{"op": "test", "path": pointer, "value": before}]
    if after is None:
        return [*ops, {"op": "remove", "path": pointer}]
    return [*ops, {"op": "replace", "path": pointer, "value": after}]


def guarded_manifest(manifest: Obj, keys: list[str]) -> Obj:
    """A copy of a Job's or Pod's manifest whose pod spec requires our ``keys``."""
    result = copy.deepcopy(manifest)
    pod: Obj = result
    for part in template_pointer(result).strip("/").split("/"):
        pod = pod.setdefault(part, {})
    affinity = guarded_affinity(pod.get("affinity"), keys)
    if affinity is None:
        pod.pop("affinity", None)
    else:
        pod["affinity"] = affinity
    return result


def node_has(node: Obj, localhost_path: str) -> bool:
    return ((node.get("metadata") or {}).get("labels") or {}).get(label_key(localhost_path)) == PRESENT


def label_patch(keys: list[str], present: bool) -> Obj:
    """A merge patch setting (or removing) our labels on a node."""
    return {"metadata": {"labels": {key: (PRESENT if present else None) for key in keys}}}
