"""An in-memory Kubernetes for unit tests: subclasses our client boundary.

It keeps objects as JSON dicts, applies JSON Patch like the API server, and
plays a very quick controller: a template change rolls a Deployment,
StatefulSet or DaemonSet at once (new Ready pods with fresh container IDs;
with the ``OnDelete`` strategy only a deleted pod comes back on the new
template), and a Job runs to completion when it is created. Node pods finish
at once with ``node_output``; follower pods stream the lines of
``follower_lines[node]`` and end when deleted. Label selectors are honoured.
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
from kubectl_seccomp.kube.node_pods import HANDOVER_ANNOTATION
from kubectl_seccomp.targets import DAEMONSET, DEPLOYMENT, JOB, KINDS, POD, REPLICASET, STATEFULSET

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


def matches(labels: dict[str, str], selector: str) -> bool:
    """``a=b,c!=d,e`` selectors (what our code sends) against ``labels``."""
    for part in filter(None, (p.strip() for p in selector.split(","))):
        if "!=" in part:
            key, value = part.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in part:
            key, value = part.split("=", 1)
            if labels.get(key) != value:
                return False
        elif part.startswith("!"):
            if part[1:] in labels:
                return False
        elif part not in labels:
            return False
    return True


class FakeKube(KubeApi):
    def __init__(self, nodes: tuple[str, ...] = ("node-a", "node-b")) -> None:
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {kind: {} for kind in KINDS if kind != POD}
        self.deployments = self.objects[DEPLOYMENT]
        self.replicasets: dict[tuple[str, str], Obj] = {}
        self.objects[REPLICASET] = self.replicasets
        self.seccomp_default: Optional[bool] = False  # None: configz forbidden
        self.on_job: Optional[Callable[[Obj, list[Obj]], None]] = None  # a Job's pods were created
        self.jobs_pull_fail = False  # True: Jobs' pods wait in ImagePullBackOff, never end
        self.pods: dict[tuple[str, str], Obj] = {}
        self.namespaces: dict[str, Obj] = {}
        self.configmaps: dict[tuple[str, str], Obj] = {}
        self.support: dict[tuple[str, str, str], Obj] = {}  # (kind, namespace or "", name) -> object
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
        self.replace_deleted = True  # the ReplicaSet controller re-creates a deleted Deployment pod
        # an agent's answer to a handover request (kubectl_seccomp.agent.handover) on ``node``, or None
        self.handover_answer: Callable[[str, Obj], Optional[Obj]] = lambda node, request: {
            "event": "handed-over",
            "id": request["id"],
            "files": {path: hashlib.sha256(text.encode()).hexdigest() for path, text in request["install"].items()},
        }
        self.handovers: list[tuple[str, Obj]] = []  # (node, request) as the agents read them
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

    def add(self, namespace: str, manifest: Obj) -> Obj:
        """Create a workload of any kind (``manifest["kind"]``) and run its pods."""
        kind = manifest.get("kind", DEPLOYMENT)
        if kind == DEPLOYMENT:
            return self.add_deployment(namespace, manifest)
        if kind == POD:
            pod = copy.deepcopy(manifest)
            pod["metadata"].update(namespace=namespace, uid=f"uid-{pod['metadata']['name']}", resourceVersion="1")
            pod["spec"].setdefault("nodeName", self.nodes[0]["metadata"]["name"])
            pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
            self.pods[(namespace, pod["metadata"]["name"])] = pod
            return pod
        return self.create_object(kind, namespace, manifest)

    def _new(self, kind: str, namespace: str, manifest: Obj) -> Obj:
        obj = copy.deepcopy(manifest)
        obj["kind"] = kind
        meta = obj.setdefault("metadata", {})
        meta.update(
            namespace=namespace, uid=f"uid-{kind}-{meta['name']}", generation=1, resourceVersion=str(next(_counter))
        )
        return obj

    def _pod(self, owner: Obj, name: str, node: str, labels: dict[str, str], *, broken: bool, done: bool) -> Obj:
        spec = copy.deepcopy(owner["spec"]["template"]["spec"])
        spec["nodeName"] = node
        statuses: dict[str, list[Obj]] = {}
        for key, status_key in (("initContainers", "initContainerStatuses"), ("containers", "containerStatuses")):
            statuses[status_key] = [
                {
                    "name": c["name"],
                    "ready": not broken and not done,
                    "restartCount": 0,
                    "containerID": "containerd://" + hashlib.sha256(f"{name}/{c['name']}".encode()).hexdigest(),
                    "state": {"waiting": {"reason": "CreateContainerError", "message": "seccomp says no"}}
                    if broken and key == "containers"
                    else {"terminated": {"exitCode": 0, "reason": "Completed"}}
                    if done
                    else {"running": {}},
                }
                for c in spec.get(key) or []
            ]
        return {
            "metadata": {
                "name": name,
                "namespace": owner["metadata"]["namespace"],
                "uid": f"uid-pod-{name}-{next(_counter)}",
                "labels": labels,
                "ownerReferences": [
                    {
                        "kind": owner["kind"],
                        "name": owner["metadata"]["name"],
                        "uid": owner["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": spec,
            "status": {
                "phase": "Succeeded" if done else "Running",
                "conditions": [{"type": "Ready", "status": "False" if broken or done else "True"}],
                **statuses,
            },
        }

    def _settle(self, owner: Obj, *, replace_all: bool) -> None:
        """A StatefulSet's or DaemonSet's controller: pods on the current template, status to match."""
        kind, meta = owner["kind"], owner["metadata"]
        namespace = meta["namespace"]
        revision = hashlib.sha256(json.dumps(owner["spec"]["template"], sort_keys=True).encode()).hexdigest()[:8]
        broken = self.break_rollout is not None and self.break_rollout(owner)
        if kind == STATEFULSET:
            slots = [
                (f"{meta['name']}-{i}", self.nodes[i % len(self.nodes)]["metadata"]["name"])
                for i in range(owner["spec"].get("replicas", 1))
            ]
            label = {"controller-revision-hash": revision}
        else:
            slots = [(f"{meta['name']}-{n['metadata']['name']}", n["metadata"]["name"]) for n in self.nodes]
            label = {"pod-template-generation": str(meta["generation"])}
        updated = 0
        for name, node in slots:
            existing = self.pods.get((namespace, name))
            if existing is None or replace_all:
                labels = {**owner["spec"]["template"]["metadata"]["labels"], **label}
                self.pods[(namespace, name)] = existing = self._pod(
                    owner, name, node, labels, broken=broken, done=False
                )
            current = all(existing["metadata"]["labels"].get(k) == v for k, v in label.items())
            updated += current
        ready = sum(
            1 for name, _ in slots if self.pods[(namespace, name)]["status"]["conditions"][0]["status"] == "True"
        )
        if kind == STATEFULSET:
            owner["status"] = {
                "observedGeneration": meta["generation"],
                "replicas": len(slots),
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "updateRevision": revision,
            }
        else:
            owner["status"] = {
                "observedGeneration": meta["generation"],
                "desiredNumberScheduled": len(slots),
                "currentNumberScheduled": len(slots),
                "updatedNumberScheduled": updated,
                "numberAvailable": ready,
            }

    def _run_job(self, job: Obj) -> None:
        meta = job["metadata"]
        selector = {"batch.kubernetes.io/controller-uid": meta["uid"]}
        job["spec"]["selector"] = {"matchLabels": selector}
        labels = {
            **(job["spec"]["template"].get("metadata") or {}).get("labels", {}),
            **selector,
            "job-name": meta["name"],
        }
        pods = [
            self._pod(job, f"{meta['name']}-run", self.nodes[0]["metadata"]["name"], labels, broken=False, done=True)
        ]
        for pod in pods:
            if self.jobs_pull_fail:
                pod["status"]["phase"] = "Pending"
                for entry in pod["status"]["containerStatuses"]:
                    entry["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}
            self.pods[(meta["namespace"], pod["metadata"]["name"])] = pod
        if self.on_job is not None:
            self.on_job(job, pods)
        job["status"] = (
            {} if self.jobs_pull_fail else {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        )

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
                "ownerReferences": [
                    {"kind": "Deployment", "name": meta["name"], "uid": meta["uid"], "controller": True}
                ],
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
                        "containerID": "containerd://" + hashlib.sha256(f"{name}/{c['name']}".encode()).hexdigest(),
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
                    "uid": f"uid-pod-{name}-{next(_counter)}",
                    "labels": labels,
                    "ownerName": meta["name"],
                    "ownerReferences": [
                        {"kind": "ReplicaSet", "name": rs_name, "uid": f"uid-{rs_name}", "controller": True}
                    ],
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

    def get_object(self, kind: str, namespace: str, name: str) -> Obj:
        self.calls.append(("get", kind.lower(), namespace, name))
        if kind == POD:
            return {"kind": POD, **self.get_pod(namespace, name)}
        try:
            return copy.deepcopy(self.objects[kind][(namespace, name)])
        except KeyError:
            raise NotFound(f"{kind.lower()}s {name!r} not found") from None

    def list_objects(self, kind: str, namespace: Optional[str], label_selector: str = "") -> list[Obj]:
        if kind == POD:
            return self.list_pods(namespace, label_selector)
        return [
            {"kind": kind, **copy.deepcopy(o)}
            for (ns, _), o in self.objects[kind].items()
            if namespace in (None, ns) and matches(o["metadata"].get("labels") or {}, label_selector)
        ]

    def patch_object(self, kind: str, namespace: str, name: str, patch: list[Obj], *, dry_run: bool = False) -> Obj:
        if dry_run:  # the server checks the patch and stores nothing
            self.calls.append(("patch-dry-run", kind.lower(), namespace, name, json.dumps(patch)))
            if kind == POD:
                return json_patch(copy.deepcopy(self.pods[(namespace, name)]), patch)
            return {"kind": kind, **json_patch(copy.deepcopy(self.objects[kind][(namespace, name)]), patch)}
        self.calls.append(("patch", kind.lower(), namespace, name, json.dumps(patch)))
        if kind == POD:
            pod = self.pods[(namespace, name)] = json_patch(self.pods[(namespace, name)], patch)
            request = (pod["metadata"].get("annotations") or {}).get(HANDOVER_ANNOTATION)
            if request and name in self._streams:  # what the agent's handover process does
                node = pod["spec"]["nodeName"]
                self.handovers.append((node, json.loads(request)))
                answer = self.handover_answer(node, json.loads(request))
                if answer is not None:
                    self._streams[name].put(json.dumps(answer))
            return copy.deepcopy(self.pods[(namespace, name)])
        current = self.objects[kind][(namespace, name)]
        updated = json_patch(current, patch)
        updated["metadata"]["resourceVersion"] = str(next(_counter))
        if kind == JOB and updated["spec"]["template"] != current["spec"]["template"]:
            raise Invalid("spec.template: field is immutable")
        self.objects[kind][(namespace, name)] = updated
        if kind in (DEPLOYMENT, STATEFULSET, DAEMONSET) and updated["spec"]["template"] != current["spec"]["template"]:
            if kind == DEPLOYMENT:
                self._roll(updated)
            else:
                updated["metadata"]["generation"] += 1
                on_delete = (updated["spec"].get("updateStrategy") or {}).get("type") == "OnDelete"
                self._settle(updated, replace_all=not on_delete)
        if self.on_patch is not None:
            self.on_patch(updated)
        return copy.deepcopy(updated)

    def create_object(self, kind: str, namespace: str, body: Obj) -> Obj:
        if kind == POD:
            return self.create_pod(namespace, body)
        self.calls.append(("create", kind.lower(), namespace, body["metadata"]["name"]))
        if (namespace, body["metadata"]["name"]) in self.objects[kind]:
            raise Conflict(f"{kind.lower()}s {body['metadata']['name']!r} already exists")
        obj = self._new(kind, namespace, body)
        self.objects[kind][(namespace, obj["metadata"]["name"])] = obj
        if kind in (STATEFULSET, DAEMONSET):
            self._settle(obj, replace_all=False)
        elif kind == JOB:
            self._run_job(obj)
        return copy.deepcopy(obj)

    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        if kind == POD:
            return self.delete_pod(namespace, name)
        self.calls.append(("delete", kind.lower(), namespace, name))
        obj = self.objects[kind].pop((namespace, name), None)
        if obj is None:
            raise NotFound(f"{kind.lower()}s {name!r} not found")
        uid = obj["metadata"]["uid"]
        owned = [
            key
            for key, pod in self.pods.items()
            if any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences") or [])
        ]
        for key in owned:
            del self.pods[key]
        return None

    def node_configz(self, name: str) -> Obj:
        if self.seccomp_default is None:
            from kubectl_seccomp.kube.errors import Forbidden

            raise Forbidden(f"nodes/proxy {name!r}: forbidden")
        return {"kubeletconfig": {"seccompDefault": self.seccomp_default}}

    def list_replicasets(self, namespace: str, label_selector: str) -> list[Obj]:
        return [copy.deepcopy(r) for (ns, _), r in self.replicasets.items() if ns == namespace]

    def list_pods(self, namespace: Optional[str], label_selector: str = "", field_selector: str = "") -> list[Obj]:
        return [
            copy.deepcopy(p)
            for (ns, _), p in self.pods.items()
            if namespace in (None, ns) and matches(p["metadata"].get("labels") or {}, label_selector)
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
        if pod["metadata"].get("ownerName") and self.replace_deleted:  # the ReplicaSet controller's replacement
            self._replace_deployment_pod(pod)
        for ref in pod["metadata"].get("ownerReferences") or []:
            for kind in (STATEFULSET, DAEMONSET):
                owner = self.objects[kind].get((namespace, ref.get("name", "")))
                if owner is not None and owner["metadata"]["uid"] == ref.get("uid"):
                    self._settle(owner, replace_all=False)  # the controller re-creates it on the new template
        stream = self._streams.pop(name, None)
        if stream is not None:
            stream.put('{"event":"counters","records":10,"attributed":9,"unattributed":1,"lost":0}')
            if pod.get("_removes") and grace_seconds != 0:
                stream.put('{"event":"log-profile-removed"}')
            stream.put(None)

    def _replace_deployment_pod(self, pod: Obj) -> None:
        replacement = copy.deepcopy(pod)
        name = f"{pod['metadata']['name']}-r{next(_counter)}"
        replacement["metadata"].update(name=name, uid=f"uid-pod-{name}")
        for entry in replacement["status"].get("containerStatuses") or []:
            entry["containerID"] = "containerd://" + hashlib.sha256(f"{name}/{entry['name']}".encode()).hexdigest()
        self.pods[(pod["metadata"]["namespace"], name)] = replacement

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

    def patch_node(self, name: str, merge_patch: Obj) -> Obj:
        for node in self.nodes:
            if node["metadata"]["name"] == name:
                labels = node["metadata"].setdefault("labels", {})
                for key, value in ((merge_patch.get("metadata") or {}).get("labels") or {}).items():
                    if value is None:
                        labels.pop(key, None)
                    else:
                        labels[key] = value
                return copy.deepcopy(node)
        raise NotFound(f"nodes {name!r} not found")

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

    def _support_key(self, kind: str, namespace: str, name: str) -> tuple[str, str, str]:
        return (kind, namespace if kind in ("ConfigMap", "ServiceAccount") else "", name)

    def get_support_object(self, kind: str, namespace: str, name: str) -> Obj:
        if kind == "ConfigMap":
            if (namespace, name) not in self.configmaps:
                raise NotFound(f"configmaps {name!r} not found")
            return copy.deepcopy(self.configmaps[(namespace, name)])
        try:
            return copy.deepcopy(self.support[self._support_key(kind, namespace, name)])
        except KeyError:
            raise NotFound(f"{kind} {name!r} not found") from None

    def put_support_object(self, kind: str, namespace: str, body: Obj) -> Obj:
        self.calls.append(("put", kind, body["metadata"]["name"]))
        if kind == "ConfigMap":
            self.configmaps[(namespace, body["metadata"]["name"])] = copy.deepcopy(body)
        else:
            self.support[self._support_key(kind, namespace, body["metadata"]["name"])] = copy.deepcopy(body)
        return copy.deepcopy(body)

    def delete_support_object(self, kind: str, namespace: str, name: str) -> None:
        if kind == "ConfigMap":
            self.delete_configmap(namespace, name)
            return
        if self.support.pop(self._support_key(kind, namespace, name), None) is None:
            raise NotFound(f"{kind} {name!r} not found")


def container_id(pod: str, container: str) -> str:
    return hashlib.sha256(f"{pod}/{container}".encode()).hexdigest()


def web_deployment(
    name: str = "web", replicas: int = 2, extra_containers: tuple[str, ...] = (), init: tuple[str, ...] = ()
) -> Obj:
    containers = [{"name": "web", "image": "python"}] + [{"name": c, "image": "busybox"} for c in extra_containers]
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
