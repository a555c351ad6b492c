"""The node agents' side that ``record`` and ``watch`` share: one follower per
node whose log stream a thread reads into a queue, and the map from container
IDs to the pods and containers they belong to.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Optional

from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube.api import KubeApi, LogStream, Obj
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.trace import Target, parse_event


class AgentFollower:
    """One node's agent: its pod, its log stream read by a thread into a shared queue."""

    def __init__(self, node: str, pod: str, parse: Callable[[str], Any] = parse_event) -> None:
        self.node = node
        self.parse = parse
        self.pod = pod
        self.stream: Optional[LogStream] = None
        self.thread: Optional[threading.Thread] = None
        self.done = threading.Event()

    def start(self, api: KubeApi, settings: NodeSettings, events: queue.Queue[tuple[str, Any]]) -> None:
        self.stream = node_ops.follow(api, settings, self.pod)
        stream = self.stream

        def read() -> None:
            try:
                for line in stream:
                    events.put((self.node, self.parse(line)))
            except Exception as error:  # the stream died: report, do not crash the workflow
                events.put((self.node, f"log stream ended: {error}"))
            finally:
                self.done.set()

        self.thread = threading.Thread(target=read, name=f"follow-{self.node}", daemon=True)
        self.thread.start()


def _container_id(status_entry: Obj) -> Optional[str]:
    raw = status_entry.get("containerID") or ""
    return raw.split("://", 1)[-1].lower() if raw else None


def container_targets(pods: list[Obj]) -> dict[str, Target]:
    """container ID -> which pod/container it is, from the pods' statuses."""
    targets: dict[str, Target] = {}
    for pod in pods:
        status = pod.get("status") or {}
        node = (pod.get("spec") or {}).get("nodeName") or "?"
        for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
            for entry in status.get(key) or []:
                cid = _container_id(entry)
                if cid:
                    targets[cid] = Target(pod["metadata"]["name"], entry["name"], init, node)
                last = _container_id(
                    {"containerID": ((entry.get("lastState") or {}).get("terminated") or {}).get("containerID")}
                )
                if last:
                    targets[last] = Target(pod["metadata"]["name"], entry["name"], init, node)
    return targets
