"""Which cluster, which user, which namespace: resolved exactly as kubectl does.

Order of precedence (kubectl's): ``--kubeconfig FILE`` alone, else every file
of ``KUBECONFIG`` (``:``-separated, merged: the first file to define a name or
the current context wins), else ``~/.kube/config``. The context is
``--context`` or the merged ``current-context``; the namespace is ``-n``, else
the context's ``namespace``, else ``default``. Relative certificate and key
paths are resolved against the file that names them, as kubectl does.

We merge the files ourselves and hand one dict to the ``kubernetes`` client,
because its own merger does not follow kubectl's rules for every field.

How long we wait for the API server (:class:`Timeouts`) is decided here too,
from ``--request-timeout`` with kubectl's meaning: every call gives up after
that long, ``0`` waits forever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from kubectl_seccomp.kube.errors import ConfigError

_PATH_KEYS = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}


@dataclass(frozen=True)
class ConnectionOptions:
    """What the user typed: kubectl's global flags (``request_timeout`` in seconds, 0: none)."""

    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    namespace: Optional[str] = None
    request_timeout: Optional[float] = None


# Without --request-timeout: kubectl waits forever for an answer, which turns a
# hung API server into a hung command. We give a connection 10 s (kubectl's TLS
# handshake limit) and a call 60 s (the API server's own limit for a call: a
# healthy server has answered or given up by then).
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_CALL_TIMEOUT = 60.0
# A followed log (the node agents write a line every 2 s) is not one call: it
# may run for hours. It only gives up when nothing arrived for this long, so a
# dead server or a lost connection is still noticed.
STREAM_IDLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for the API server; ``None`` waits forever.

    ``connect``: TCP and TLS handshake; ``call``: each read of a call's answer;
    ``stream``: each read of a followed log.
    """

    connect: Optional[float] = DEFAULT_CONNECT_TIMEOUT
    call: Optional[float] = DEFAULT_CALL_TIMEOUT
    stream: Optional[float] = STREAM_IDLE_TIMEOUT
    flag: Optional[float] = None  # --request-timeout as given, for messages

    @classmethod
    def from_request_timeout(cls, seconds: Optional[float]) -> Timeouts:
        """kubectl's ``--request-timeout``: None is our default, 0 no limit, else each call's limit."""
        if seconds is None:
            return cls()
        if seconds == 0:
            return cls(connect=None, call=None, stream=None, flag=0.0)
        return cls(connect=seconds, call=seconds, stream=max(seconds, STREAM_IDLE_TIMEOUT), flag=seconds)

    def for_call(self) -> Optional[tuple[Optional[float], Optional[float]]]:
        """The client's ``_request_timeout`` for one call (a number would be ignored if it is a float)."""
        return None if self.connect is None and self.call is None else (self.connect, self.call)

    def for_stream(self) -> Optional[tuple[Optional[float], Optional[float]]]:
        return None if self.connect is None and self.stream is None else (self.connect, self.stream)


@dataclass(frozen=True)
class ResolvedConfig:
    """The merged kubeconfig and the choices made from it."""

    config: dict[str, Any]
    context: str
    namespace: str
    user: str
    cluster: str
    server: str
    files: tuple[str, ...]
    timeouts: Timeouts = Timeouts()


def kubeconfig_files(explicit: Optional[str], environ: Optional[dict[str, str]] = None) -> tuple[str, ...]:
    """The kubeconfig files to read, in precedence order."""
    env = os.environ if environ is None else environ
    if explicit:
        return (explicit,)
    value = env.get("KUBECONFIG", "")
    if value:
        paths = [path for path in value.split(os.pathsep) if path]
        # kubectl ignores files of KUBECONFIG that do not exist.
        existing = tuple(dict.fromkeys(path for path in paths if Path(path).expanduser().exists()))
        if not existing:
            raise ConfigError(
                f"none of the files in KUBECONFIG exists ({value})",
                hint="point KUBECONFIG or --kubeconfig at your cluster's kubeconfig",
            )
        return existing
    home = env.get("HOME") or str(Path.home())
    return (str(Path(home) / ".kube" / "config"),)


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml

    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ConfigError(
            f"kubeconfig {path} does not exist",
            hint="pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config",
        ) from error
    except OSError as error:
        raise ConfigError(f"cannot read kubeconfig {path}: {error.strerror}") from error
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {str(error).splitlines()[0]}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig (expected a mapping)")
    return data


def _absolutize(section: str, entry: dict[str, Any], base: Path) -> dict[str, Any]:
    inner_key = section[:-1]  # clusters -> cluster, users -> user, contexts -> context
    inner = dict(entry.get(inner_key) or {})
    for key in _PATH_KEYS.get(section, ()):
        value = inner.get(key)
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            inner[key] = str(base / value)
    return {**entry, inner_key: inner}


def merge_kubeconfigs(paths: tuple[str, ...]) -> dict[str, Any]:
    """Merge kubeconfig files with kubectl's rule: the first definition wins."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {"clusters": set(), "users": set(), "contexts": set()}
    for path in paths:
        data = _read_yaml(path)
        base = Path(path).expanduser().resolve().parent
        if "current-context" not in merged and data.get("current-context"):
            merged["current-context"] = data["current-context"]
        for section in ("clusters", "users", "contexts"):
            for entry in data.get(section) or []:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    continue
                if entry["name"] in seen[section]:
                    continue
                seen[section].add(entry["name"])
                merged[section].append(_absolutize(section, entry, base))
    return merged


def resolve(options: ConnectionOptions, environ: Optional[dict[str, str]] = None) -> ResolvedConfig:
    """Pick context, cluster, user and namespace like kubectl."""
    files = kubeconfig_files(options.kubeconfig, environ)
    config = merge_kubeconfigs(files)
    context_name = options.context or config.get("current-context")
    if not context_name:
        raise ConfigError(
            "no current context in the kubeconfig",
            hint="pass --context NAME, or run kubectl config use-context NAME",
        )
    contexts = {entry["name"]: entry.get("context") or {} for entry in config["contexts"]}
    if context_name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise ConfigError(f"context {context_name!r} not found in the kubeconfig (known: {known})")
    context = contexts[context_name]
    cluster_name = str(context.get("cluster") or "")
    clusters = {entry["name"]: entry.get("cluster") or {} for entry in config["clusters"]}
    if cluster_name not in clusters:
        raise ConfigError(f"context {context_name!r} names cluster {cluster_name!r}, which the kubeconfig lacks")
    namespace = options.namespace or context.get("namespace") or "default"
    config = {**config, "current-context": context_name}
    return ResolvedConfig(
        config=config,
        timeouts=Timeouts.from_request_timeout(options.request_timeout),
        context=context_name,
        namespace=str(namespace),
        user=str(context.get("user") or ""),
        cluster=cluster_name,
        server=str(clusters[cluster_name].get("server") or ""),
        files=files,
    )


def api_client(resolved: ResolvedConfig) -> Any:
    """A ``kubernetes.client.ApiClient`` for the resolved context."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_kube_config_from_dict(
            resolved.config,
            context=resolved.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except config.ConfigException as error:
        raise ConfigError(f"kubeconfig context {resolved.context!r} is not usable: {error}") from error
    except OSError as error:
        raise ConfigError(f"kubeconfig context {resolved.context!r}: {error}") from error
    if not configuration.verify_ssl:
        # The kubeconfig asks for insecure-skip-tls-verify: the user knows, and
        # urllib3's two-line warning per request (with a site-packages path)
        # would bury our output; kubectl is silent too.
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    configuration.retries = _retries()
    return client.ApiClient(configuration)


def _retries() -> Any:
    """urllib3's retries without retrying a time-out.

    urllib3 retries a failed call up to 3 times by default, a read time-out
    included (for GETs): a server that never answers would cost 4 times the
    time the user allowed. A connection dropped or refused is still retried.
    """
    from urllib3.exceptions import MaxRetryError, NewConnectionError, TimeoutError
    from urllib3.util.retry import Retry

    class NoTimeoutRetry(Retry):
        def increment(  # type: ignore[override]
            self,
            method: Optional[str] = None,
            url: Optional[str] = None,
            response: Any = None,
            error: Optional[Exception] = None,
            _pool: Any = None,
            _stacktrace: Any = None,
        ) -> Retry:
            # NewConnectionError is a ConnectTimeoutError to urllib3, but is a refusal: retried.
            if isinstance(error, TimeoutError) and not isinstance(error, NewConnectionError):
                raise MaxRetryError(_pool, url or "", error) from error
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return NoTimeoutRetry(3)
