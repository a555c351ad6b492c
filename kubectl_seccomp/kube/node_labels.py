"""The node guard's API calls: setting and removing the labels that say which
profile files a node holds (what they mean is in :mod:`.guard`)."""

from __future__ import annotations

import contextlib

from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import NotFound
from kubectl_seccomp.kube.guard import LABEL_PREFIX, PRESENT, label_key, label_patch


def mark(api: KubeApi, nodes: list[str], paths: list[str]) -> None:
    """Label ``nodes`` as holding the profile files ``paths`` (after the files were written)."""
    keys = [label_key(path) for path in paths]
    for node in nodes:
        api.patch_node(node, label_patch(keys, present=True))


def unmark(api: KubeApi, nodes: list[str], paths: list[str]) -> None:
    """Remove the labels of ``paths`` from ``nodes`` (before or after the files go); gone nodes are skipped."""
    unmark_keys(api, nodes, [label_key(path) for path in paths])


def unmark_keys(api: KubeApi, nodes: list[str], keys: list[str]) -> None:
    """Remove the guard labels ``keys`` from ``nodes``; gone nodes are skipped."""
    for node in nodes:
        with contextlib.suppress(NotFound):
            api.patch_node(node, label_patch(keys, present=False))


def guard_labels(node: Obj) -> list[str]:
    """Our guard label keys on ``node``."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return sorted(key for key, value in labels.items() if key.startswith(LABEL_PREFIX) and value == PRESENT)
