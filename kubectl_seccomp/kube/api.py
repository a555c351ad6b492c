"""The client boundary: every call to the Kubernetes API goes through :class:`KubeApi`.

Objects cross this boundary as plain JSON dicts (what ``kubectl get -o json``
shows), never as the client library's model classes: our code and our tests
read ``obj["spec"]["template"]``, and a fake (tests subclass :class:`KubeApi`)
is a dict store. :class:`ClientApi` is the pass-through to the ``kubernetes``
package; it asks for raw answers (``_preload_content=False``), so no model
deserialisation cost, and turns every library error into a
:class:`~kubectl_seccomp.kube.errors.KubeError` with the verb and resource.
Every call has a time limit (:class:`~kubectl_seccomp.kube.config.Timeouts`,
from ``--request-timeout``); a followed log has a limit on silence instead.

Patches are JSON Patch (RFC 6902) lists: precise (by index, guarded with
``test`` operations) and sent with the same content type by every client
version.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, Callable, Optional, TypeVar

from kubectl_seccomp.errors import Interrupted
from kubectl_seccomp.kube.config import Timeouts
from kubectl_seccomp.kube.errors import translate
from kubectl_seccomp.targets import CRONJOB, DAEMONSET, DEPLOYMENT, JOB, POD, REPLICASET, STATEFULSET, resource

Obj = dict[str, Any]
T = TypeVar("T")


class LogStream:
    """A followed pod log: iterate lines; :meth:`close` ends it from another thread."""

    def __init__(self, lines: Iterator[str], close: Callable[[], None]) -> None:
        self._lines = lines
        self._close = close

    def __iter__(self) -> Iterator[str]:
        return self._lines

    def close(self) -> None:
        self._close()


class KubeApi(ABC):
    """The calls we make. Abstract: a fake that misses one fails when it is built; see :class:`ClientApi`.

    Workload objects of every kind (Deployment, StatefulSet, DaemonSet, Job,
    CronJob, Pod) go through the ``*_object`` calls; list results carry their
    ``kind`` like single reads do.
    """

    @abstractmethod
    def get_object(self, kind: str, namespace: str, name: str) -> Obj: ...

    @abstractmethod
    def list_objects(self, kind: str, namespace: Optional[str], label_selector: str = "") -> list[Obj]: ...

    @abstractmethod
    def patch_object(self, kind: str, namespace: str, name: str, patch: list[Obj], *, dry_run: bool = False) -> Obj:
        """Send a JSON Patch; with ``dry_run`` the API server checks it (``dryRun=All``) and stores nothing."""

    @abstractmethod
    def create_object(self, kind: str, namespace: str, body: Obj) -> Obj: ...

    @abstractmethod
    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        """Delete with background propagation (a Job's pods go with it)."""

    def get_deployment(self, namespace: str, name: str) -> Obj:
        return self.get_object(DEPLOYMENT, namespace, name)

    def list_deployments(self, namespace: Optional[str]) -> list[Obj]:
        return self.list_objects(DEPLOYMENT, namespace)

    def patch_deployment(self, namespace: str, name: str, patch: list[Obj]) -> Obj:
        return self.patch_object(DEPLOYMENT, namespace, name, patch)

    @abstractmethod
    def list_replicasets(self, namespace: str, label_selector: str) -> list[Obj]: ...

    @abstractmethod
    def list_pods(self, namespace: Optional[str], label_selector: str = "", field_selector: str = "") -> list[Obj]: ...

    @abstractmethod
    def get_pod(self, namespace: str, name: str) -> Obj: ...

    @abstractmethod
    def create_pod(self, namespace: str, body: Obj) -> Obj: ...

    @abstractmethod
    def delete_pod(self, namespace: str, name: str, grace_seconds: Optional[int] = None) -> None: ...

    @abstractmethod
    def pod_log(
        self,
        namespace: str,
        name: str,
        *,
        container: Optional[str] = None,
        tail_lines: Optional[int] = None,
        previous: bool = False,
    ) -> str: ...

    @abstractmethod
    def follow_pod_log(self, namespace: str, name: str) -> LogStream: ...

    @abstractmethod
    def list_events(self, namespace: str, field_selector: str) -> list[Obj]: ...

    @abstractmethod
    def list_nodes(self) -> list[Obj]: ...

    @abstractmethod
    def patch_node(self, name: str, merge_patch: Obj) -> Obj:
        """A JSON merge patch of a node (our labels: a ``None`` value removes one)."""

    @abstractmethod
    def node_configz(self, name: str) -> Obj:
        """The kubelet's running configuration (``/api/v1/nodes/NAME/proxy/configz``)."""

    @abstractmethod
    def get_namespace(self, name: str) -> Obj: ...

    @abstractmethod
    def create_namespace(self, body: Obj) -> Obj: ...

    @abstractmethod
    def patch_namespace(self, name: str, patch: list[Obj]) -> Obj: ...

    @abstractmethod
    def delete_namespace(self, name: str) -> None: ...

    @abstractmethod
    def create_configmap(self, namespace: str, body: Obj) -> Obj: ...

    @abstractmethod
    def list_configmaps(self, namespace: str, label_selector: str) -> list[Obj]: ...

    @abstractmethod
    def delete_configmap(self, namespace: str, name: str) -> None: ...

    # The objects the sync DaemonSet needs besides itself (kinds in SUPPORT_KINDS);
    # namespace is ignored for the cluster-scoped ones.
    @abstractmethod
    def get_support_object(self, kind: str, namespace: str, name: str) -> Obj: ...

    @abstractmethod
    def put_support_object(self, kind: str, namespace: str, body: Obj) -> Obj:
        """Create ``body``, or replace the object of that name if it exists."""

    @abstractmethod
    def delete_support_object(self, kind: str, namespace: str, name: str) -> None: ...


# kind -> (client API, resource, snake name in method names, namespaced)
SUPPORT_KINDS = {
    "ConfigMap": ("core", "configmaps", "config_map", True),
    "ServiceAccount": ("core", "serviceaccounts", "service_account", True),
    "ClusterRole": ("rbac", "clusterroles.rbac.authorization.k8s.io", "cluster_role", False),
    "ClusterRoleBinding": ("rbac", "clusterrolebindings.rbac.authorization.k8s.io", "cluster_role_binding", False),
}


# kind -> (API group of the client, the client's name for it in method names)
_CLIENT_NAMES = {
    DEPLOYMENT: ("apps", "deployment"),
    STATEFULSET: ("apps", "stateful_set"),
    DAEMONSET: ("apps", "daemon_set"),
    JOB: ("batch", "job"),
    CRONJOB: ("batch", "cron_job"),
    POD: ("core", "pod"),
    REPLICASET: ("apps", "replica_set"),
}


_CHANGING_VERBS = frozenset({"create", "patch", "delete"})


def _server(api_client: Any) -> str:
    """`` at HOST:PORT`` of the client's API server, or nothing."""
    host = str(getattr(getattr(api_client, "configuration", None), "host", "") or "")
    return f" at {host.split('://', 1)[-1].rstrip('/')}" if host else ""


def _json(response: Any) -> Any:
    data = response.data
    return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)


class ClientApi(KubeApi):
    """:class:`KubeApi` over the ``kubernetes`` package (imported lazily)."""

    def __init__(self, api_client: Any, timeouts: Timeouts = Timeouts()) -> None:
        from kubernetes import client

        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._batch = client.BatchV1Api(api_client)
        self._rbac = client.RbacAuthorizationV1Api(api_client)
        self._timeouts = timeouts
        # Every call: a raw answer, and a limit on the wait (the client waits forever without one).
        self._kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeouts.for_call()}
        self._stream_kw: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeouts.for_stream()}
        self._changes = 0  # calls that may have changed the cluster

    def _call(
        self, verb: str, resource: str, namespace: Optional[str], name: Optional[str], call: Callable[[], T]
    ) -> T:
        try:
            result = call()
        except KeyboardInterrupt:
            # Ctrl-C while waiting for an answer: before anything changed, say
            # so (typer would exit 130 without a word); after a change, the
            # workflow's own undo must run, on KeyboardInterrupt.
            if self._changes or verb in _CHANGING_VERBS:
                raise
            raise Interrupted(
                f"interrupted while waiting for the API server{_server(self._api_client)} to {verb} "
                f"{resource}; nothing was changed"
            ) from None
        except Exception as error:
            if verb in _CHANGING_VERBS:
                self._changes += 1  # it may have taken effect before the answer failed
            if _is_client_error(error):
                raise translate(
                    error,
                    verb=verb,
                    resource=resource,
                    namespace=namespace,
                    name=name,
                    waited=(self._timeouts.connect, self._timeouts.call),
                ) from error
            raise
        if verb in _CHANGING_VERBS:
            self._changes += 1
        return result

    def _object(
        self, verb: str, resource: str, namespace: Optional[str], name: Optional[str], call: Callable[[], Any]
    ) -> Obj:
        """The object one call answers with (``call`` returns the raw, unpreloaded response)."""
        obj: Obj = self._call(verb, resource, namespace, name, lambda: _json(call()))
        return obj

    def _list(self, resource: str, namespace: Optional[str], call: Callable[[], Any]) -> list[Obj]:
        """The items of one list call (``call`` returns the raw, unpreloaded response)."""
        return list(self._object("list", resource, namespace, None, call).get("items") or [])

    def _kind_call(self, kind: str, verb: str) -> tuple[str, Callable[..., Any]]:
        """The client method for ``verb`` on ``kind``: (resource name, bound method)."""
        group, snake = _CLIENT_NAMES[kind]
        api = {"apps": self._apps, "batch": self._batch, "core": self._core}[group]
        method = {
            "get": f"read_namespaced_{snake}",
            "list": f"list_namespaced_{snake}",
            "list-all": f"list_{snake}_for_all_namespaces",
            "patch": f"patch_namespaced_{snake}",
            "create": f"create_namespaced_{snake}",
            "delete": f"delete_namespaced_{snake}",
        }[verb]
        return resource(kind), getattr(api, method)

    def get_object(self, kind: str, namespace: str, name: str) -> Obj:
        what, method = self._kind_call(kind, "get")
        obj = self._object("get", what, namespace, name, lambda: method(name, namespace, **self._kw))
        obj.setdefault("kind", kind)
        return obj

    def list_objects(self, kind: str, namespace: Optional[str], label_selector: str = "") -> list[Obj]:
        kwargs: dict[str, Any] = dict(self._kw)
        if label_selector:
            kwargs["label_selector"] = label_selector
        if namespace is None:
            what, method = self._kind_call(kind, "list-all")
            items = self._list(what, None, lambda: method(**kwargs))
        else:
            what, method = self._kind_call(kind, "list")
            items = self._list(what, namespace, lambda: method(namespace, **kwargs))
        for item in items:
            item.setdefault("kind", kind)  # list items come without it
        return items

    def patch_object(self, kind: str, namespace: str, name: str, patch: list[Obj], *, dry_run: bool = False) -> Obj:
        what, method = self._kind_call(kind, "patch")
        extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        obj = self._object("patch", what, namespace, name, lambda: method(name, namespace, patch, **self._kw, **extra))
        obj.setdefault("kind", kind)
        return obj

    def create_object(self, kind: str, namespace: str, body: Obj) -> Obj:
        what, method = self._kind_call(kind, "create")
        obj = self._object(
            "create",
            what,
            namespace,
            body["metadata"].get("name"),
            lambda: method(namespace, body, **self._kw),
        )
        obj.setdefault("kind", kind)
        return obj

    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        what, method = self._kind_call(kind, "delete")
        self._call(
            "delete",
            what,
            namespace,
            name,
            lambda: method(name, namespace, propagation_policy="Background", **self._kw),
        )

    def list_replicasets(self, namespace: str, label_selector: str) -> list[Obj]:
        return self._list(
            "replicasets.apps",
            namespace,
            lambda: self._apps.list_namespaced_replica_set(namespace, label_selector=label_selector, **self._kw),
        )

    def list_pods(self, namespace: Optional[str], label_selector: str = "", field_selector: str = "") -> list[Obj]:
        kwargs: dict[str, Any] = dict(self._kw)
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        if namespace is None:
            return self._list("pods", None, lambda: self._core.list_pod_for_all_namespaces(**kwargs))
        return self._list("pods", namespace, lambda: self._core.list_namespaced_pod(namespace, **kwargs))

    def get_pod(self, namespace: str, name: str) -> Obj:
        return self._object(
            "get",
            "pods",
            namespace,
            name,
            lambda: self._core.read_namespaced_pod(name, namespace, **self._kw),
        )

    def create_pod(self, namespace: str, body: Obj) -> Obj:
        return self._object(
            "create",
            "pods",
            namespace,
            body["metadata"]["name"],
            lambda: self._core.create_namespaced_pod(namespace, body, **self._kw),
        )

    def delete_pod(self, namespace: str, name: str, grace_seconds: Optional[int] = None) -> None:
        kwargs: dict[str, Any] = dict(self._kw)
        if grace_seconds is not None:
            kwargs["grace_period_seconds"] = grace_seconds
        self._call(
            "delete",
            "pods",
            namespace,
            name,
            lambda: self._core.delete_namespaced_pod(name, namespace, **kwargs),
        )

    def pod_log(
        self,
        namespace: str,
        name: str,
        *,
        container: Optional[str] = None,
        tail_lines: Optional[int] = None,
        previous: bool = False,
    ) -> str:
        kwargs: dict[str, Any] = dict(self._kw)
        if container:
            kwargs["container"] = container
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if previous:
            kwargs["previous"] = True
        response = self._call(
            "get",
            "pods/log",
            namespace,
            name,
            lambda: self._core.read_namespaced_pod_log(name, namespace, **kwargs),
        )
        data = response.data
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)

    def follow_pod_log(self, namespace: str, name: str) -> LogStream:
        response = self._call(
            "get",
            "pods/log",
            namespace,
            name,
            lambda: self._core.read_namespaced_pod_log(name, namespace, follow=True, **self._stream_kw),
        )

        def lines() -> Iterator[str]:
            buffer = b""
            try:
                for chunk in response.stream(4096, decode_content=False):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        yield line.decode("utf-8", "replace")
            except Exception as error:
                if not _is_client_error(error) and not isinstance(error, (OSError, ValueError, AttributeError)):
                    raise
            if buffer:
                yield buffer.decode("utf-8", "replace")

        def close() -> None:
            with contextlib.suppress(Exception):  # closing a dead connection: nothing to report
                response.close()

        return LogStream(lines(), close)

    def list_events(self, namespace: str, field_selector: str) -> list[Obj]:
        return self._list(
            "events",
            namespace,
            lambda: self._core.list_namespaced_event(namespace, field_selector=field_selector, **self._kw),
        )

    def list_nodes(self) -> list[Obj]:
        return self._list("nodes", None, lambda: self._core.list_node(**self._kw))

    def patch_node(self, name: str, merge_patch: Obj) -> Obj:
        return self._object(
            "patch",
            "nodes",
            None,
            name,
            lambda: self._core.patch_node(name, merge_patch, **self._kw),
        )

    def node_configz(self, name: str) -> Obj:
        return self._object(
            "get",
            "nodes/proxy",
            None,
            name,
            lambda: self._core.connect_get_node_proxy_with_path(name, "configz", **self._kw),
        )

    def get_namespace(self, name: str) -> Obj:
        return self._object(
            "get",
            "namespaces",
            None,
            name,
            lambda: self._core.read_namespace(name, **self._kw),
        )

    def create_namespace(self, body: Obj) -> Obj:
        return self._object(
            "create",
            "namespaces",
            None,
            body["metadata"]["name"],
            lambda: self._core.create_namespace(body, **self._kw),
        )

    def patch_namespace(self, name: str, patch: list[Obj]) -> Obj:
        return self._object(
            "patch",
            "namespaces",
            None,
            name,
            lambda: self._core.patch_namespace(name, patch, **self._kw),
        )

    def delete_namespace(self, name: str) -> None:
        self._call(
            "delete",
            "namespaces",
            None,
            name,
            lambda: self._core.delete_namespace(name, **self._kw),
        )

    def create_configmap(self, namespace: str, body: Obj) -> Obj:
        return self._object(
            "create",
            "configmaps",
            namespace,
            body["metadata"]["name"],
            lambda: self._core.create_namespaced_config_map(namespace, body, **self._kw),
        )

    def list_configmaps(self, namespace: str, label_selector: str) -> list[Obj]:
        return self._list(
            "configmaps",
            namespace,
            lambda: self._core.list_namespaced_config_map(namespace, label_selector=label_selector, **self._kw),
        )

    def delete_configmap(self, namespace: str, name: str) -> None:
        self._call(
            "delete",
            "configmaps",
            namespace,
            name,
            lambda: self._core.delete_namespaced_config_map(name, namespace, **self._kw),
        )

    def _support(self, kind: str, verb: str, namespace: str) -> tuple[str, Optional[str], Callable[..., Any]]:
        """(resource, namespace or None, client call taking (name or body[, body])) for ``verb`` on ``kind``."""
        group, what, snake, namespaced = SUPPORT_KINDS[kind]
        api = self._core if group == "core" else self._rbac
        if not namespaced:
            return what, None, getattr(api, f"{verb}_{snake}")
        method = getattr(api, f"{verb}_namespaced_{snake}")
        if verb == "create":  # create_namespaced_x(namespace, body)
            return what, namespace, lambda body, **kw: method(namespace, body, **kw)
        if verb == "replace":  # replace_namespaced_x(name, namespace, body)
            return what, namespace, lambda name, body, **kw: method(name, namespace, body, **kw)
        return what, namespace, lambda name, **kw: method(name, namespace, **kw)  # read, delete

    def get_support_object(self, kind: str, namespace: str, name: str) -> Obj:
        what, ns, method = self._support(kind, "read", namespace)
        return self._object("get", what, ns, name, lambda: method(name, **self._kw))

    def put_support_object(self, kind: str, namespace: str, body: Obj) -> Obj:
        from kubectl_seccomp.kube.errors import Conflict

        name = body["metadata"]["name"]
        what, ns, create = self._support(kind, "create", namespace)
        try:
            return self._object("create", what, ns, name, lambda: create(body, **self._kw))
        except Conflict:
            pass
        _, _, replace = self._support(kind, "replace", namespace)
        return self._object("update", what, ns, name, lambda: replace(name, body, **self._kw))

    def delete_support_object(self, kind: str, namespace: str, name: str) -> None:
        what, ns, method = self._support(kind, "delete", namespace)
        self._call("delete", what, ns, name, lambda: method(name, **self._kw))


def _is_client_error(error: BaseException) -> bool:
    """Errors of the HTTP stack: API answers, connection and TLS failures."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    return isinstance(error, (ApiException, HTTPError, ConnectionError, TimeoutError))


def connect(options: Any) -> tuple[KubeApi, Any]:
    """``(api, resolved_config)`` for :class:`~kubectl_seccomp.kube.config.ConnectionOptions`."""
    from kubectl_seccomp.kube.config import api_client, resolve

    resolved = resolve(options)
    return ClientApi(api_client(resolved), resolved.timeouts), resolved
