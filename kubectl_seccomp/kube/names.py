"""Names of cluster objects for shell completion: one list call each, a short timeout, never an error.

``kubectl seccomp record deploy/<TAB>`` asks the cluster which Deployments the namespace holds. A
completion that hangs or prints a traceback is worse than none, so every call here is bounded by
``timeout`` seconds (connect and read) and any failure (no kubeconfig, unreachable API server,
forbidden) gives an empty list.
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_seccomp.kube.config import ConnectionOptions, api_client, kubeconfig_files, merge_kubeconfigs, resolve

#: Seconds a completion may wait for the API server; kubectl's own completion uses 5.
DEFAULT_TIMEOUT = 3.0


def _items(call: Any, timeout: float, *args: Any) -> list[str]:
    response = call(*args, _request_timeout=(timeout, timeout), _preload_content=False)
    data = json.loads(response.data)
    return sorted(str(item["metadata"]["name"]) for item in data.get("items") or [])


#: kind -> (client API class, list call) of the objects a target can name.
_LISTS = {
    "Deployment": ("AppsV1Api", "list_namespaced_deployment"),
    "StatefulSet": ("AppsV1Api", "list_namespaced_stateful_set"),
    "DaemonSet": ("AppsV1Api", "list_namespaced_daemon_set"),
    "Job": ("BatchV1Api", "list_namespaced_job"),
    "CronJob": ("BatchV1Api", "list_namespaced_cron_job"),
    "Pod": ("CoreV1Api", "list_namespaced_pod"),
}


def workload_names(options: ConnectionOptions, kind: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Names of the ``kind`` objects in the namespace ``options`` select (kubectl's rules); [] on any failure."""
    try:
        from kubernetes import client

        api_class, call = _LISTS[kind]
        resolved = resolve(options)
        api = getattr(client, api_class)(api_client(resolved))
        return _items(getattr(api, call), timeout, resolved.namespace)
    except Exception:  # completion must stay silent: no names is the answer to every failure
        return []


def namespace_names(options: ConnectionOptions, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Names of the cluster's namespaces; [] on any failure (a user may not list them)."""
    try:
        from kubernetes import client

        core = client.CoreV1Api(api_client(resolve(options)))
        return _items(core.list_namespace, timeout)
    except Exception:  # see workload_names
        return []


def context_names(options: ConnectionOptions) -> list[str]:
    """Context names of the kubeconfig (no cluster access); [] if it cannot be read."""
    try:
        config = merge_kubeconfigs(kubeconfig_files(options.kubeconfig))
        return sorted(str(entry["name"]) for entry in config.get("contexts") or [])
    except Exception:  # see workload_names
        return []
