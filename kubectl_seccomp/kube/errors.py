"""The errors of the Kubernetes boundary, in our own terms.

Why a family of our own: callers (the record workflow, the commands) must not
know whether the API answer came from the ``kubernetes`` client, urllib3 or a
fake in a test. Each class names what went wrong in words a kubectl user
knows, with a hint, and keeps the library's exception as ``__cause__``.
:func:`translate` is the one place that reads an ``ApiException``.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from kubectl_seccomp.errors import SeccompError

RBAC_HINT = (
    "ask a cluster admin to bind you the ClusterRole in docs/rbac.md (kubectl auth can-i --list shows yours)"
)


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
        return Forbidden(
            f"forbidden: cannot {verb} {_where(resource, namespace)} ({message})", hint=RBAC_HINT
        )
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
) -> KubeError:
    """Turn an exception of the ``kubernetes``/urllib3 stack into a :class:`KubeError`.

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
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return Unreachable(
        f"cannot reach the Kubernetes API server to {verb} {resource}: {text[:300]}",
        hint="check the cluster is up and your kubeconfig/context (kubectl cluster-info)",
    )
