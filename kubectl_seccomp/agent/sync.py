"""The ``sync`` verb: the sync DaemonSet's pod, one per node. It installs every
profile of its (verified) payload under the seccomp root, then labels its own
node so that pods guarded by those labels may schedule there, and then waits
for its termination.

The payload's ``index.json`` maps each profile path to the payload key holding
its text and to the node label that says it is there; the CLI computes both
(the agent does not repeat the naming rules). The label goes on only after
every file is written: a label without its file is what the guard prevents.

The label is a merge patch on ``/api/v1/nodes/$NODE_NAME`` with the pod's own
service account token, through the in-cluster address Kubernetes gives every
pod (``KUBERNETES_SERVICE_HOST``/``_PORT``), verified against the cluster CA
it mounts. Stdlib only, like the rest of the agent.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any, Optional

from kubectl_seccomp.agent.profiles import install_profile
from kubectl_seccomp.errors import AgentError

ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PRESENT = "present"


def read_index(path: str) -> dict[str, dict[str, str]]:
    """``{profile path: {"key": payload key, "label": node label}}`` from the index file."""
    try:
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (OSError, ValueError) as error:
        raise AgentError(f"cannot read the sync index {path}: {error}") from error
    if not isinstance(index, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("label"), str)
        for entry in index.values()
    ):
        raise AgentError(f"the sync index {path} is not {{path: {{key, label}}}}")
    return index


def install_all(root: str, payload_dir: str, index: dict[str, dict[str, str]]) -> list[str]:
    """Install each indexed profile from ``payload_dir``; the node labels to set, in index order."""
    labels: list[str] = []
    for path, entry in index.items():
        key = entry["key"]
        if "/" in key or key.startswith("."):
            raise AgentError(f"the sync index names payload key {key!r}")
        try:
            with open(os.path.join(payload_dir, key), "rb") as handle:
                content = handle.read()
        except OSError as error:
            raise AgentError(f"payload key {key} for {path}: {error.strerror}") from error
        install_profile(root, path, content)
        labels.append(entry["label"])
    return labels


def label_node(node: str, labels: list[str], account_dir: str = ACCOUNT_DIR, *, timeout: float = 30.0) -> None:
    """Set ``labels`` to ``present`` on ``node`` through the API server, as this pod's service account."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise AgentError("KUBERNETES_SERVICE_HOST is not set: not running in a pod")
    try:
        with open(os.path.join(account_dir, "token"), encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as error:
        raise AgentError(f"no service account token in {account_dir}: {error.strerror}") from error
    context = ssl.create_default_context(cafile=os.path.join(account_dir, "ca.crt"))
    body = json.dumps({"metadata": {"labels": {label: PRESENT for label in labels}}}).encode()
    address = f"[{host}]" if ":" in host else host
    request = urllib.request.Request(
        f"https://{address}:{port}/api/v1/nodes/{node}",
        data=body,
        method="PATCH",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/merge-patch+json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            response.read()
    except urllib.error.HTTPError as error:
        detail = _status_message(error.read())
        raise AgentError(f"labelling node {node} was refused ({error.code}): {detail}") from error
    except (urllib.error.URLError, OSError) as error:
        raise AgentError(f"cannot reach the API server at {host}:{port}: {error}") from error


def _status_message(body: bytes) -> str:
    """The ``message`` of an API error (a Status object), else the start of the body."""
    text = body.decode("utf-8", "replace")
    try:
        status = json.loads(text)
    except ValueError:
        return text[:300]
    return str(status.get("message") or text[:300]) if isinstance(status, dict) else text[:300]


def run(
    root: str, payload_dir: str, index_path: str, node: str, *, ready_file: Optional[str] = None, stay: bool = True
) -> int:
    """Install, label, report one JSON line (and create ``ready_file``), then (``stay``) wait for SIGTERM."""
    index = read_index(index_path)
    labels = install_all(root, payload_dir, index)
    if labels:
        label_node(node, labels)
    if ready_file:
        with open(ready_file, "w", encoding="utf-8") as handle:
            handle.write(node)
    print(json.dumps({"event": "synced", "node": node, "profiles": list(index), "labels": labels}), flush=True)
    if stay:
        _wait_for_termination()
    return 0


def _wait_for_termination(signals: Optional[list[Any]] = None) -> None:
    for number in signals or [signal.SIGTERM, signal.SIGINT]:
        signal.signal(number, lambda *_: sys.exit(0))
    while True:
        signal.pause()
