"""An in-memory Kubernetes for unit tests: subclasses our client boundary.

It keeps objects as JSON dicts, applies JSON Patch like the API server, and
plays a very quick controller: a template change rolls the Deployment at once
(new ReplicaSet, new Ready pods with fresh container IDs). Node pods finish
at once with ``node_output``; follower pods stream the lines of
``follower_lines[node]`` and end when deleted.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import queue
from collections.abc import Iterator
from typing import Any, Callable, Optional

from kubectl_seccomp.kube.api import KubeApi, LogStream, Obj
from kubectl_seccomp.kube.errors import Conflict, Invalid, NotFound

_counter = itertools.count(1)


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def json_patch(document: Any, ops: list[Obj]) -> Any:
    """RFC 6902 add/remove/replace/test, enough for our patches."""
    doc = copy.deepcopy(document)
    for op in ops:
        parts = [_unescape(p) for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        key: Any = int(last) if isinstance(parent, list) and last != "-" else last
        if op["op"] == "test":
            actual = parent[key] if (isinstance(parent, list) or key in parent) else None
            if actual != op["value"]:
                raise Invalid(f"the server rejected our request: testing value at {op['path']} failed")
        elif op["op"] in ("add", "replace"):
            parent[key] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            if isinstance(parent, list) or key not in parent:
                raise Invalid(f"remove: {op['path']} does not exist")
            del parent[key]
    return doc


class FakeKube(KubeApi):
    def __init__(self, nodes: tuple[str, ...] = ("node-a", "node-b")) -> None:
        self.deployments: dict[tuple[str, str], Obj] = {}
        self.replicasets: dict[tuple[str, str], Obj] = {}
        self.pods: dict[tuple[str, str], Obj] = {}
        self.namespaces: dict[str, Obj] = {}
        self.configmaps: dict[tuple[str, str], Obj] = {}
        self.events: list[Obj] = []
        self.nodes = [
            {
                "metadata": {"name": n, "labels": {"kubernetes.io/arch": "amd64"}},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "nodeInfo": {"architecture": "amd64"},
                },
                "spec": {},
            }
            for n in nodes
        ]
        self.calls: list[tuple[str, ...]] = []
        self.node_commands: list[tuple[str, list[str]]] = []
        self.follower_lines: dict[str, list[str]] = {}
        self.node_output: Callable[[Obj], tuple[str, str]] = lambda pod: ("Succeeded", "[]")
        self.break_rollout: Optional[Callable[[Obj], bool]] = None  # True: the new pods crash
        self.on_patch: Optional[Callable[[Obj], None]] = None
        self.on_delete_pod: Optional[Callable[[Obj], None]] = None  # called with the pod before it goes
        self._streams: dict[str, queue.Queue[Optional[str]]] = {}

    # -- helpers for tests -------------------------------------------------------

    def add_deployment(self, namespace: str, manifest: Obj) -> Obj:
        deployment = copy.deepcopy(manifest)
        meta = deployment.setdefault("metadata", {})
        meta.update(
            {
                "namespace": namespace,
                "uid": f"uid-{meta['name']}",
                "generation": 1,
                "resourceVersion": str(next(_counter)),
            }
        )
        deployment["spec"].setdefault("replicas", 1)
        self.deployments[(namespace, meta["name"])] = deployment
        self._roll(deployment)
        return deployment

    def emit(self, node: str, line: str) -> None:
        """Send one agent line from the follower pod running on ``node``."""
        for (_ns, name), pod in self.pods.items():
            if name in self._streams and pod["spec"]["nodeName"] == node:
                self._streams[name].put(line)

    def template_pods(self, namespace: str, name: str) -> list[Obj]:
        deployment = self.deployments[(namespace, name)]
        labels = deployment["spec"]["selector"]["matchLabels"]
        return [
            p
            for (ns, _), p in self.pods.items()
            if ns == namespace and all(p["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
        ]

    def _roll(self, deployment: Obj) -> None:
        meta = deployment["metadata"]
        namespace = meta["namespace"]
        template = deployment["spec"]["template"]
        pod_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:8]
        revision = int(meta.get("annotations", {}).get("deployment.kubernetes.io/revision", "0")) + 1
        meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
        labels = {**template["metadata"]["labels"], "pod-template-hash": pod_hash}
        rs_name = f"{meta['name']}-{pod_hash}"
        self.replicasets[(namespace, rs_name)] = {
            "metadata": {
                "name": rs_name,
                "namespace": namespace,
                "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                "ownerReferences": [{"uid": meta["uid"]}],
            },
        }
        for key in [k for k, p in self.pods.items() if p["metadata"].get("ownerName") == meta["name"]]:
            del self.pods[key]
        broken = self.break_rollout is not None and self.break_rollout(deployment)
        replicas = deployment["spec"]["replicas"]
        spec = template["spec"]
        for index in range(replicas):
            name = f"{rs_name}-{index}"
            statuses = {}
            for key, status_key in (
                ("initContainers", "initContainerStatuses"),
                ("containers", "containerStatuses"),
            ):
                statuses[status_key] = [
                    {
                        "name": c["name"],
                        "ready": not broken,
                        "restartCount": 0,
                        "containerID": "containerd://"
                        + hashlib.sha256(f"{name}/{c['name']}".encode()).hexdigest(),
                        "state": {"waiting": {"reason": "CreateContainerError", "message": "seccomp says no"}}
                        if broken and key == "containers"
                        else {"running": {}},
                    }
                    for c in spec.get(key) or []
                ]
            self.pods[(namespace, name)] = {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": labels,
                    "ownerName": meta["name"],
                },
                "spec": {"nodeName": self.nodes[index % len(self.nodes)]["metadata"]["name"]},
                "status": {
                    "phase": "Running",
                    "podIP": f"10.0.0.{index + 1}",
                    "conditions": [{"type": "Ready", "status": "False" if broken else "True"}],
                    **statuses,
                },
            }
            if broken:
                self.events.append(
                    {
                        "involvedObject": {"name": name},
                        "type": "Warning",
                        "reason": "Failed",
                        "message": "Error: seccomp says no",
                        "lastTimestamp": "t",
                    }
                )
        meta["generation"] = meta.get("generation", 0) + 1
        deployment["status"] = {
            "observedGeneration": meta["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": 0 if broken else replicas,
        }

    # -- the boundary ------------------------------------------------------------

    def get_deployment(self, namespace: str, name: str) -> Obj:
        self.calls.append(("get", "deployment", namespace, name))
        try:
            return copy.deepcopy(self.deployments[(namespace, name)])
        except KeyError:
            raise NotFound(f"deployments.apps {name!r} not found") from None

    def list_deployments(self, namespace: Optional[str]) -> list[Obj]:
        return [copy.deepcopy(d) for (ns, _), d in self.deployments.items() if namespace in (None, ns)]

    def patch_deployment(self, namespace: str, name: str, patch: list[Obj]) -> Obj:
        self.calls.append(("patch", "deployment", namespace, name, json.dumps(patch)))
        current = self.deployments[(namespace, name)]
        updated = json_patch(current, patch)
        updated["metadata"]["resourceVersion"] = str(next(_counter))
        self.deployments[(namespace, name)] = updated
        if updated["spec"]["template"] != current["spec"]["template"]:
            self._roll(updated)
        if self.on_patch is not None:
            self.on_patch(updated)
        return copy.deepcopy(updated)

    def list_replicasets(self, namespace: str, label_selector: str) -> list[Obj]:
        return [copy.deepcopy(r) for (ns, _), r in self.replicasets.items() if ns == namespace]

    def list_pods(
        self, namespace: Optional[str], label_selector: str = "", field_selector: str = ""
    ) -> list[Obj]:
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if "=" in part)
        return [
            copy.deepcopy(p)
            for (ns, _), p in self.pods.items()
            if namespace in (None, ns)
            and all(p["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]

    def get_pod(self, namespace: str, name: str) -> Obj:
        try:
            return copy.deepcopy(self.pods[(namespace, name)])
        except KeyError:
            raise NotFound(f"pods {name!r} not found") from None

    def create_pod(self, namespace: str, body: Obj) -> Obj:
        if namespace not in self.namespaces:
            raise NotFound(f"namespaces {namespace!r} not found")
        pod = copy.deepcopy(body)
        pod["metadata"]["namespace"] = namespace
        node = pod["spec"]["nodeName"]
        command = pod["spec"]["containers"][0]["command"]
        self.node_commands.append((node, command))
        if "follow" in " ".join(command):
            pod["status"] = {"phase": "Running"}
            stream: queue.Queue[Optional[str]] = queue.Queue()
            script = " ".join(command)
            if "log-profile-installed" in script:
                stream.put('{"event":"log-profile-installed"}')
            pod["_removes"] = "log-profile-removed" in script
            for line in self.follower_lines.get(node, []):
                stream.put(line)
            self._streams[pod["metadata"]["name"]] = stream
        else:
            phase, output = self.node_output(pod)
            pod["status"] = {"phase": phase}
            pod["_log"] = output
        self.pods[(namespace, pod["metadata"]["name"])] = pod
        return copy.deepcopy(pod)

    def delete_pod(self, namespace: str, name: str, grace_seconds: Optional[int] = None) -> None:
        if (namespace, name) not in self.pods:
            raise NotFound(f"pods {name!r} not found")
        if self.on_delete_pod is not None:
            self.on_delete_pod(self.pods[(namespace, name)])
        pod = self.pods.pop((namespace, name))
        stream = self._streams.pop(name, None)
        if stream is not None:
            stream.put('{"event":"counters","records":10,"attributed":9,"unattributed":1,"lost":0}')
            if pod.get("_removes") and grace_seconds != 0:
                stream.put('{"event":"log-profile-removed"}')
            stream.put(None)

    def pod_log(
        self,
        namespace: str,
        name: str,
        *,
        container: Optional[str] = None,
        tail_lines: Optional[int] = None,
        previous: bool = False,
    ) -> str:
        pod = self.get_pod(namespace, name)
        return str(pod.get("_log", "some log line\n"))

    def follow_pod_log(self, namespace: str, name: str) -> LogStream:
        stream = self._streams[name]

        def lines() -> Iterator[str]:
            while True:
                line = stream.get()
                if line is None:
                    return
                yield line

        return LogStream(lines(), lambda: stream.put(None))

    def list_events(self, namespace: str, field_selector: str) -> list[Obj]:
        name = field_selector.split("=", 1)[1]
        return [e for e in self.events if e["involvedObject"]["name"] == name]

    def list_nodes(self) -> list[Obj]:
        return copy.deepcopy(self.nodes)

    def get_namespace(self, name: str) -> Obj:
        try:
            return copy.deepcopy(self.namespaces[name])
        except KeyError:
            raise NotFound(f"namespaces {name!r} not found") from None

    def create_namespace(self, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        if name in self.namespaces:
            raise Conflict(f"namespaces {name!r} already exists")
        self.namespaces[name] = copy.deepcopy(body)
        return copy.deepcopy(body)

    def patch_namespace(self, name: str, patch: list[Obj]) -> Obj:
        self.namespaces[name] = json_patch(self.namespaces[name], patch)
        return copy.deepcopy(self.namespaces[name])

    def delete_namespace(self, name: str) -> None:
        if name not in self.namespaces:
            raise NotFound(f"namespaces {name!r} not found")
        del self.namespaces[name]
        for key in [k for k in self.pods if k[0] == name]:
            del self.pods[key]

    def create_configmap(self, namespace: str, body: Obj) -> Obj:
        if namespace not in self.namespaces:
            raise NotFound(f"namespaces {namespace!r} not found")
        self.configmaps[(namespace, body["metadata"]["name"])] = copy.deepcopy(body)
        return copy.deepcopy(body)

    def list_configmaps(self, namespace: str, label_selector: str) -> list[Obj]:
        return [copy.deepcopy(c) for (ns, _), c in self.configmaps.items() if ns == namespace]

    def delete_configmap(self, namespace: str, name: str) -> None:
        if (namespace, name) not in self.configmaps:
            raise NotFound(f"configmaps {name!r} not found")
        del self.configmaps[(namespace, name)]


def container_id(pod: str, container: str) -> str:
    return hashlib.sha256(f"{pod}/{container}".encode()).hexdigest()


def web_deployment(
    name: str = "web", replicas: int = 2, extra_containers: tuple[str, ...] = (), init: tuple[str, ...] = ()
) -> Obj:
    containers = [{"name": "web", "image": "python"}] + [
        {"name": c, "image": "busybox"} for c in extra_containers
    ]
    spec: Obj = {"containers": containers}
    if init:
        spec["initContainers"] = [{"name": c, "image": "busybox"} for c in init]
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }
