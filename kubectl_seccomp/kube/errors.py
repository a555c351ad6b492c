"""The errors of the Kubernetes boundary, in our own terms.

Why a family of our own: callers (the record workflow, the commands) must not
know whether the API answer came from the ``kubernetes`` client, urllib3 or a
fake in a test. Each class names what went wrong in words a kubectl user
knows, with a hint, and keeps the library's exception as ``__cause__``.
:func:`translate` is the one place that reads an ``ApiException``.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Iterator
from typing import Any, Optional

from kubectl_seccomp.errors import SeccompError

RBAC_HINT = "ask a cluster admin to bind you the ClusterRole in docs/rbac.md (kubectl auth can-i --list shows yours)"


class KubeError(SeccompError):
    """The Kubernetes API said no, or could not be reached."""

    exit_code = 3


class ConfigError(KubeError):
    """No usable kubeconfig, context or cluster entry."""


class NotFound(KubeError):
    """The object asked for does not exist."""

    exit_code = 4


class Forbidden(KubeError):
    """RBAC or an admission policy refused a request."""

    exit_code = 5


class Unreachable(KubeError):
    """The API server did not answer (down, wrong address, TLS, timeout)."""

    exit_code = 6


class Conflict(KubeError):
    """The object changed under us, or already exists."""

    exit_code = 7


class Invalid(KubeError):
    """The API server rejected what we sent (validation, admission)."""


class RolloutFailed(KubeError):
    """New pods did not become Ready in time; ``evidence`` says what we saw."""

    exit_code = 8

    def __init__(self, message: str, hint: Optional[str] = None, evidence: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint)
        self.evidence = evidence


class NodeCommandFailed(KubeError):
    """A node pod (install, remove, list, follow) failed."""


class PayloadTampered(NodeCommandFailed):
    """A node pod refused its ConfigMap: a key's sha256 is not the one in the pod's spec."""

    exit_code = 9


def _status_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            return body.strip()[:300]
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return str(data["message"])
    return ""


def _where(resource: str, namespace: Optional[str]) -> str:
    return f"{resource} in namespace {namespace}" if namespace else f"{resource} (cluster-wide)"


def from_status(
    status: int,
    reason: str,
    body: Any,
    *,
    verb: str,
    resource: str,
    namespace: Optional[str],
    name: Optional[str],
) -> KubeError:
    """Our error for an HTTP error answer of the API server."""
    message = _status_message(body) or reason or f"HTTP {status}"
    target = f"{resource} {name!r}" if name else resource
    if status == 404:
        where = f" in namespace {namespace}" if namespace else ""
        return NotFound(f"{target} not found{where}", hint=None)
    if status == 403:
        if "pod-security" in message or "violates PodSecurity" in message:
            return Forbidden(
                f"admission refused to {verb} {_where(resource, namespace)}: {message}",
                hint="the namespace must allow privileged pods (pod-security.kubernetes.io/enforce=privileged)",
            )
        return Forbidden(f"forbidden: cannot {verb} {_where(resource, namespace)} ({message})", hint=RBAC_HINT)
    if status == 401:
        return Forbidden(
            f"unauthorized: the API server did not accept your credentials ({message})",
            hint="check your kubeconfig's user entry (token or client certificate may have expired)",
        )
    if status == 409:
        return Conflict(f"conflict on {verb} {target}: {message}", hint="run the command again")
    if status in (400, 422):
        return Invalid(f"the API server rejected {verb} {target}: {message}")
    return KubeError(f"{verb} {target} failed: HTTP {status} {message}")


def translate(
    error: BaseException,
    *,
    verb: str,
    resource: str,
    namespace: Optional[str] = None,
    name: Optional[str] = None,
    waited: tuple[Optional[float], Optional[float]] = (None, None),
) -> KubeError:
    """Turn an exception of the ``kubernetes``/urllib3 stack into a :class:`KubeError`.

    ``waited``: the seconds the call allowed for connecting and for an answer, named when they ran out.
    Callers write ``raise translate(e, ...) from e``.
    """
    status = getattr(error, "status", None)
    if isinstance(status, int) and status > 0:
        return from_status(
            status,
            str(getattr(error, "reason", "") or ""),
            getattr(error, "body", None),
            verb=verb,
            resource=resource,
            namespace=namespace,
            name=name,
        )
    return _unreachable(error, f"{verb} {resource}", waited)


_CHECK_CLUSTER = "check the cluster is up and your kubeconfig/context (kubectl cluster-info)"
_POOL = re.compile(r"host='([^']*)', port=(\d+)")


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: urllib3's ``reason``, chained causes, wrapped exceptions in args."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _unreachable(
    error: BaseException, doing: str, waited: tuple[Optional[float], Optional[float]] = (None, None)
) -> Unreachable:
    """One short line for a failure below HTTP: certificate, refused, unknown host, time-out."""
    pool = getattr(error, "pool", None)
    host, port = getattr(pool, "host", None), getattr(pool, "port", None)
    if host is None:
        found = _POOL.search(str(error))
        host, port = (found.group(1), found.group(2)) if found else (None, None)
    where = f" at {host}:{port}" if host else ""
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or "verification failed"
            return Unreachable(
                f"the Kubernetes API server{where} has a certificate we do not trust ({detail}); could not {doing}",
                hint="check certificate-authority(-data) of the cluster in your kubeconfig",
            )
        if isinstance(cause, ssl.SSLError):
            detail = cause.reason or str(cause)
            return Unreachable(
                f"TLS with the Kubernetes API server{where} failed ({detail}); could not {doing}",
                hint="check the server address and certificate settings in your kubeconfig",
            )
        if isinstance(cause, ConnectionRefusedError):
            return Unreachable(
                f"the Kubernetes API server{where} refused the connection; could not {doing}", hint=_CHECK_CLUSTER
            )
        if isinstance(cause, socket.gaierror):
            return Unreachable(
                f"cannot resolve the Kubernetes API server's name{where} ({cause.strerror}); could not {doing}",
                hint=_CHECK_CLUSTER,
            )
        if isinstance(cause, (TimeoutError, socket.timeout)):
            connecting = any(type(c).__name__ == "ConnectTimeoutError" or "handshake" in str(c) for c in _causes(error))
            seconds = waited[0] if connecting else waited[1]
            within = f"within {seconds:g}s" if seconds else "in time"
            return Unreachable(
                f"the Kubernetes API server{where} did not answer {within}; could not {doing}",
                hint="check the cluster is up (kubectl cluster-info), or allow more with --request-timeout",
            )
        if isinstance(cause, OSError) and cause.strerror:
            return Unreachable(
                f"cannot reach the Kubernetes API server{where} ({cause.strerror}); could not {doing}",
                hint=_CHECK_CLUSTER,
            )
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return Unreachable(f"cannot reach the Kubernetes API server to {doing}: {text[:300]}", hint=_CHECK_CLUSTER)
